// Work split: one block per particle, its threads striding over the dims = S x M coordinates
// of that particle; every coordinate draws its own Philox numbers from (seed, t, p, d).
#include "cuda_check.cuh"
#include "swarm_kernels.cuh"

namespace attnswarm {

namespace {

constexpr int k_move_threads = 128;

__global__ void swarm_move_kernel(std::uint64_t seed, std::uint32_t t, pso_coeffs c, int dims,
                                  const int* neighbour, const double* pbest, double* x, double* v) {
  const int p = blockIdx.x;
  const double* nbest = pbest + static_cast<std::size_t>(neighbour[p]) * dims;
  for (int d = threadIdx.x; d < dims; d += blockDim.x) {
    const std::size_t k = static_cast<std::size_t>(p) * dims + d;
    double xk = x[k], vk = v[k];
    pso_update(xk, vk, pbest[k], nbest[d], swarm_draw(seed, t, static_cast<std::uint32_t>(p), static_cast<std::uint32_t>(d)), c);
    x[k] = xk;
    v[k] = vk;
  }
}

}  // namespace

void launch_swarm_move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, int particles, int dims,
                       const int* d_neighbour, const double* d_pbest, double* d_x, double* d_v, cudaStream_t s) {
  if (particles <= 0 || dims <= 0) return;
  swarm_move_kernel<<<particles, k_move_threads, 0, s>>>(seed, t, c, dims, d_neighbour, d_pbest, d_x, d_v);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace attnswarm
