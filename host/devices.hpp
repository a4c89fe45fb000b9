// What CUDA can see, in host-only types. In a build without CUDA the answers say plainly
// that CUDA was not compiled in.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace attnswarm {

struct device_info {
  int index = 0;
  std::string name;
  std::size_t memory_bytes = 0;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
  // The FP32 ceiling: SMs x FP32 lanes per SM x 2 (an FMA) x the boost clock; 0 when the
  // lanes per SM of this compute capability are not known here.
  double fp32_peak_gflops = 0.0;
  // The dense TF32 tensor-core ceiling the same way (FLOP = 2 per FMA), 0 when not known here.
  double tf32_tensor_peak_gflops = 0.0;
};

struct device_inventory {
  bool cuda_compiled = false;
  std::vector<device_info> devices;
  std::string note;  // why there are no devices, when there are none
};

// Makes CUDA runtime calls only when called (never at static initialisation).
device_inventory probe_devices();

// Runs the shared-math kernel (Philox, swarm update, model formulas) on a device and checks
// it against the same functions on the host. Returns an empty string when they agree
// bit for bit, else what differed (or why it could not run, e.g. no code for the device).
std::string run_device_selftest(int device);

// Device-to-device copy bandwidth of `bytes` bytes on a device, in GB/s counting the bytes
// read and written (the ceiling a memory-bound kernel is measured against). Median of a few
// copies. Throws unavailable_error in a build without CUDA.
double measure_copy_bandwidth(int device, std::size_t bytes);

}  // namespace attnswarm
