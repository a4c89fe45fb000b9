// cub::BlockReduce as the fake-device tests see it: Sum() over the block, valid in thread 0
// as CUB's is. The threads' values are added in thread order (CUB's own tree order is its
// business; what the driver relies on is a fixed order, which this has too).
#pragma once

#include <cstring>

#include <cuda_runtime.h>

namespace cub {

template <typename T, int Threads>
class BlockReduce {
 public:
  struct TempStorage {};
  explicit BlockReduce(TempStorage&) {}
  T Sum(T value) {
    static_assert(sizeof(T) <= 8, "fake cub: values of at most 8 bytes");
    auto& state = *attnswarm::emulated::emulator::current;
    std::memcpy(state.block_values[threadIdx.x].data(), &value, sizeof(T));
    __syncthreads();
    T total = T(0);
    if (threadIdx.x == 0)
      for (unsigned t = 0; t < blockDim.x; ++t) {
        T v;
        std::memcpy(&v, state.block_values[t].data(), sizeof(T));
        total += v;
      }
    __syncthreads();  // every value read before the block goes on
    return total;
  }
};

}  // namespace cub
