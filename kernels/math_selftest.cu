// Work split: one thread per test case, 128 threads per block, as many blocks as needed.
// The point of this kernel is that kernels/attn_math.hpp compiles and runs under nvcc and
// agrees bit for bit with the host build.
#include "attn_math.hpp"
#include "cuda_check.cuh"
#include "math_selftest.cuh"

namespace attnswarm {

namespace detail {

__host__ __device__ void math_selftest_case(std::uint64_t seed, int i, double out[6]) {
  const auto t = static_cast<std::uint32_t>(i);
  const swarm_uniforms u = swarm_draw(seed, t, 3u * t + 1u, 7u * t + 2u);
  double x = -3.5 + 0.01 * i, v = 0.5 - 0.003 * i;
  const pso_coeffs c{0.7298, 1.49618, 1.49618, 2.0, -4.0, 4.0};
  pso_update(x, v, 1.0 - 0.02 * i, -2.0 + 0.05 * i, u, c);
  const double lw = shape_log_weight(0.25 + u.u1, u.u2, 1.0 / (0.25 + 0.25 * (i % 4)), 0.5 * (i % 5));
  out[0] = u.u1;
  out[1] = u.u2;
  out[2] = x;
  out[3] = v;
  out[4] = shape_weight(lw, 1.0, 0.5 - u.u1);
  out[5] = capacity_factor(1.0 + u.u2, 2.0 * u.u1);
}

}  // namespace detail

__global__ void math_selftest_kernel(std::uint64_t seed, int n, math_selftest_outputs out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double r[6];
  detail::math_selftest_case(seed, i, r);
  out.u1[i] = r[0];
  out.u2[i] = r[1];
  out.x[i] = r[2];
  out.v[i] = r[3];
  out.weight[i] = r[4];
  out.factor[i] = r[5];
}

void launch_math_selftest(std::uint64_t seed, int n, const math_selftest_outputs& d_out, cudaStream_t stream) {
  if (n <= 0) return;
  constexpr int threads = 128;
  ATTN_LAUNCH(math_selftest_kernel, (n + threads - 1) / threads, threads, 0, stream)(seed, n, d_out);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void math_selftest_host(std::uint64_t seed, int i, double out[6]) { detail::math_selftest_case(seed, i, out); }

}  // namespace attnswarm
