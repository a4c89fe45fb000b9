// The shared-math self-test kernel: the same formulas as the CPU reference, on the device.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace attnswarm {

// One row per test case i < n: counter (t, p, d) = (i, 3i + 1, 7i + 2) under `seed`.
// Outputs (device pointers, n each): the two uniforms, the updated position and velocity of
// a fixed update, and the shape weight and capacity factor of fixed inputs.
struct math_selftest_outputs {
  double* u1;
  double* u2;
  double* x;
  double* v;
  double* weight;
  double* factor;
};

void launch_math_selftest(std::uint64_t seed, int n, const math_selftest_outputs& d_out, cudaStream_t stream);

// The same computation on the host, for comparison.
void math_selftest_host(std::uint64_t seed, int i, double out[6]);

}  // namespace attnswarm
