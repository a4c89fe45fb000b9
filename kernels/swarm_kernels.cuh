// Launchers of the swarm's device kernels (DESIGN §2): the same pso_update, swarm_draw and
// ring_best of kernels/attn_math.hpp that the CPU reference calls, so both move particles
// identically. Raw device pointers carry d_; every launcher checks its launch.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "attn_math.hpp"

namespace attnswarm {

// x, v, pbest: particles x dims, row-major; pbest_f: particles. Each particle moves toward
// its personal best and its neighbourhood best: *d_best_index (the best of swarm) when ring
// is false, else ring_best() over p-1, p, p+1.
void launch_swarm_move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, int particles, int dims, bool ring,
                       const double* d_pbest_f, const std::int64_t* d_best_index, const double* d_pbest, double* d_x,
                       double* d_v, cudaStream_t s);

// Personal bests: where f[p] < pbest_f[p], copies particle p's position into pbest and f[p]
// into pbest_f.
void launch_swarm_record(int particles, int dims, const double* d_f, const double* d_x, double* d_pbest,
                         double* d_pbest_f, cudaStream_t s);

// Best of swarm with cub::DeviceReduce::ArgMin (the lowest index on ties, as on the host),
// with caller-owned temporary storage: best_of_swarm_temp_bytes() says how much.
std::size_t best_of_swarm_temp_bytes(int particles);
void launch_best_of_swarm(void* d_temp, std::size_t temp_bytes, const double* d_pbest_f, int particles,
                          double* d_best_value, std::int64_t* d_best_index, cudaStream_t s);

}  // namespace attnswarm
