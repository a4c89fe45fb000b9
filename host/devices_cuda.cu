// Device inventory and the shared-math self-test of a CUDA build. Bit-exact agreement is
// required for everything but exp/log. Device memory is held by RAII buffers; every
// runtime call is checked.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../kernels/cuda_check.cuh"
#include "../kernels/device_buffer.cuh"
#include "../kernels/math_selftest.cuh"
#include "devices.hpp"

namespace attnswarm {

namespace {

// FP32 lanes per SM, from the CUDA C++ Programming Guide's arithmetic-throughput table.
int fp32_lanes_per_sm(int major, int minor) {
  if (major == 8 && minor == 0) return 64;  // A100
  if (major >= 8) return 128;               // sm_86, sm_89, sm_90 (H100/H200), sm_100
  if (major == 7) return 64;
  return 0;
}

// Dense TF32 tensor-core FMAs per SM per clock, from NVIDIA's A100 and H100 architecture
// whitepapers (156 and 494.7 dense TF32 TFLOP/s at their boost clocks); a ceiling that
// sm_90's wgmma reaches, the mma.sync that wmma compiles to less.
int tf32_fmas_per_sm(int major, int minor) {
  if (major == 8 && minor == 0) return 512;
  if (major == 9 && minor == 0) return 1024;
  return 0;
}

}  // namespace

device_inventory probe_devices() {
  device_inventory inv;
  inv.cuda_compiled = true;
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    inv.note = std::string("no usable CUDA device: ") + cudaGetErrorName(rc) + " (" + cudaGetErrorString(rc) + ")";
    cudaGetLastError();  // clear the sticky error for later calls
    return inv;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    ATTN_CUDA_CHECK(cudaGetDeviceProperties(&prop, d));
    int clock_khz = 0;
    ATTN_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, d));
    device_info info{d, prop.name, prop.totalGlobalMem, prop.major, prop.minor, prop.multiProcessorCount, 0.0};
    info.fp32_peak_gflops = 2.0 * prop.multiProcessorCount * fp32_lanes_per_sm(prop.major, prop.minor) * clock_khz * 1e-6;
    info.tf32_tensor_peak_gflops =
        2.0 * prop.multiProcessorCount * tf32_fmas_per_sm(prop.major, prop.minor) * clock_khz * 1e-6;
    inv.devices.push_back(info);
  }
  if (count == 0) inv.note = "no CUDA device found";
  return inv;
}

namespace {

std::string selftest(int device) {
  constexpr int n = 1000;  // not a multiple of the block size on purpose
  constexpr std::uint64_t seed = 0x243f6a8885a308d3ull;
  ATTN_CUDA_CHECK(cudaSetDevice(device));
  std::vector<detail::device_buffer<double>> bufs;
  for (int k = 0; k < 6; ++k) bufs.emplace_back(n);
  // Poison the outputs so an element the kernel did not write shows up as a mismatch.
  for (auto& b : bufs) b.poison(nullptr);
  const math_selftest_outputs out{bufs[0].get(), bufs[1].get(), bufs[2].get(),
                                  bufs[3].get(), bufs[4].get(), bufs[5].get()};
  launch_math_selftest(seed, n, out, nullptr);
  ATTN_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> got(6 * static_cast<std::size_t>(n));
  for (int k = 0; k < 6; ++k)
    bufs[k].download(got.data() + k * n, n, nullptr);
  ATTN_CUDA_CHECK(cudaDeviceSynchronize());
  static const char* names[6] = {"u1", "u2", "x", "v", "shape_weight", "capacity_factor"};
  for (int i = 0; i < n; ++i) {
    double want[6];
    math_selftest_host(seed, i, want);
    for (int k = 0; k < 6; ++k) {
      const double g = got[k * n + i];
      // exp/log of the device library may differ from glibc's by an ulp; the rest is exact.
      const bool same = k == 4 ? std::fabs(g - want[k]) <= 1e-14 * std::fabs(want[k])
                               : std::memcmp(&want[k], &g, sizeof(double)) == 0;
      if (!same)
        return std::string("case ") + std::to_string(i) + ": " + names[k] + " host " + std::to_string(want[k]) +
               " device " + std::to_string(g);
    }
  }
  return {};
}

}  // namespace

std::string run_device_selftest(int device) {
  try {
    return selftest(device);
  } catch (const std::exception& e) {  // e.g. no kernel image for this device's architecture
    cudaGetLastError();
    return std::string("could not run: ") + e.what();
  }
}

double measure_copy_bandwidth(int device, std::size_t bytes) {
  ATTN_CUDA_CHECK(cudaSetDevice(device));
  detail::device_buffer<unsigned char> src(bytes), dst(bytes);
  src.zero(nullptr);
  const detail::cuda_event start(cudaEventDefault), stop(cudaEventDefault);
  std::vector<float> ms;
  for (int rep = 0; rep < 7; ++rep) {
    start.record(nullptr);
    ATTN_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, nullptr));
    stop.record(nullptr);
    stop.sync();
    float t = 0.0f;
    ATTN_CUDA_CHECK(cudaEventElapsedTime(&t, start.get(), stop.get()));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return 2.0 * static_cast<double>(bytes) / (ms[ms.size() / 2] * 1e-3) / 1e9;
}

}  // namespace attnswarm
