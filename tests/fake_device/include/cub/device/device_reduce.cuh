// cub::DeviceReduce::ArgMin as the fake-device tests see it (CUB 3's form: value and index
// written separately), queued on the stream: the first least value; index -1 and the largest
// double when no value is below it, which the driver handles. Its storage, input and outputs
// must lie in device memory.
#pragma once

#include <cstdint>
#include <limits>

#include <cuda_runtime.h>

#include "../../../control.hpp"

namespace cub {

struct DeviceReduce {
  static cudaError_t ArgMin(void* d_temp, std::size_t& temp_bytes, const double* in, double* value,
                            std::int64_t* index, std::int64_t n, cudaStream_t stream = nullptr) {
    if (d_temp == nullptr) {
      // not 0: the driver allocates it, and a null storage pointer is a size query
      temp_bytes = attnswarm::fake_device::k_argmin_temp_bytes;
      return cudaSuccess;
    }
    // its storage, input and outputs in device memory, or a GPU faults on them
    if (temp_bytes < attnswarm::fake_device::k_argmin_temp_bytes || !fake_device_holds(d_temp, temp_bytes) ||
        n < 0 || (n > 0 && !fake_device_holds(in, static_cast<std::size_t>(n) * sizeof(double))) ||
        !fake_device_holds(value, sizeof(double)) || !fake_device_holds(index, sizeof(std::int64_t)))
      return cudaErrorInvalidValue;
    fake_device_enqueue(stream, [=] {
      double best = std::numeric_limits<double>::max();
      std::int64_t at = -1;
      for (std::int64_t i = 0; i < n; ++i)
        if (in[i] < best) {
          best = in[i];
          at = i;
        }
      *value = best;
      *index = at;
    });
    return cudaSuccess;
  }
};

}  // namespace cub
