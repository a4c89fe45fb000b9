// Launcher of the swarm step on the device (DESIGN §2): the same pso_update and swarm_draw
// of kernels/attn_math.hpp that cpu_move() calls, so both move particles identically.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "attn_math.hpp"

namespace attnswarm {

// x, v, pbest: particles x dims, row-major; d_neighbour[p]: index of p's neighbourhood best.
void launch_swarm_move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, int particles, int dims,
                       const int* d_neighbour, const double* d_pbest, double* d_x, double* d_v, cudaStream_t s);

}  // namespace attnswarm
