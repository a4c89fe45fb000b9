// Device inventory of a build without CUDA (ATTNSWARM_CUDA=OFF or no nvcc at configure time).
#include "devices.hpp"

#include "errors.hpp"

namespace attnswarm {

device_inventory probe_devices() {
  device_inventory inv;
  inv.note = "CUDA was not compiled in (configured without nvcc or with -DATTNSWARM_CUDA=OFF)";
  return inv;
}

std::string run_device_selftest(int) {
  throw unavailable_error("CUDA was not compiled in: no device self-test in this build");
}

double measure_copy_bandwidth(int, std::size_t) {
  throw unavailable_error("CUDA was not compiled in: no device copy to measure");
}

}  // namespace attnswarm
