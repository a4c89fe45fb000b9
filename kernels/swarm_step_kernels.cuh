// The swarm's move and record kernels, device code only: kernels/swarm_kernels.cu launches
// them, and tests/cuda_emulator.hpp runs the same source on the CPU.
// Work split: one block per particle, its threads striding over the dims = S x M
// coordinates of that particle; every coordinate draws its own Philox numbers from
// (seed, t, p, d), so no thread waits on another.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attn_math.hpp"

// detail in the CUDA build; the tests' CPU emulator names its own, so that its copies of the
// kernels never meet the CUDA library's launch stubs at link time.
#ifndef ATTN_KERNELS_NS
#define ATTN_KERNELS_NS detail
#endif

namespace attnswarm::ATTN_KERNELS_NS {

constexpr int k_swarm_threads = 128;

__global__ void swarm_move_kernel(std::uint64_t seed, std::uint32_t t, pso_coeffs c, int particles, int dims, bool ring,
                                  const double* pbest_f, const std::int64_t* best_index, const double* pbest, double* x,
                                  double* v) {
  const int p = blockIdx.x;
  const int nb = ring ? ring_best(pbest_f, particles, p) : static_cast<int>(*best_index);
  const double* nbest = pbest + static_cast<std::size_t>(nb) * dims;
  for (int d = threadIdx.x; d < dims; d += blockDim.x) {
    const std::size_t k = static_cast<std::size_t>(p) * dims + d;
    double xk = x[k], vk = v[k];
    pso_update(xk, vk, pbest[k], nbest[d], swarm_draw(seed, t, static_cast<std::uint32_t>(p), static_cast<std::uint32_t>(d)), c);
    x[k] = xk;
    v[k] = vk;
  }
}

__global__ void swarm_record_kernel(int dims, const double* f, const double* x, double* pbest, double* pbest_f) {
  const int p = blockIdx.x;
  // Every thread decides before thread 0 overwrites pbest_f[p].
  const bool improved = f[p] < pbest_f[p];
  __syncthreads();
  if (!improved) return;
  for (int d = threadIdx.x; d < dims; d += blockDim.x) {
    const std::size_t k = static_cast<std::size_t>(p) * dims + d;
    pbest[k] = x[k];
  }
  if (threadIdx.x == 0) pbest_f[p] = f[p];
}

}  // namespace attnswarm::ATTN_KERNELS_NS
