// Launcher of the fused batched evaluation (DESIGN §3: the fast path that never writes the
// users x P densities to device memory).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "batch_layout.hpp"

namespace attnswarm {

// Largest M the fused kernel takes (its tile of H holds 2M <= 256 columns); above it the
// driver uses the cuBLAS path.
constexpr int k_fused_max_tasks = 128;

// For the batch's users (rows of H = [G0 | A o G0], rows x 2M, and r) and P policies
// e = exp(W) of the batch's segment (P x M, float32): per chunk k of k_chunk_rows users,
//   t[k][q][c] = sum_{i in chunk k} R_iq H_ic,   R_iq = r_i / sum_j G0_ij e_qj (0 if the sum is 0),
// the same partials the cuBLAS path writes (chunks x P x 2M, float32).
void launch_fused_eval(const float* d_h, const float* d_r, std::int64_t rows, const float* d_e, int particles, int m,
                       float* d_t, cudaStream_t s);

// The same partials on tensor cores, each product in 3xTF32 (about 22 bits of float32's 24):
// the fused path's arithmetic on the tensor cores' throughput. M up to k_fused_max_tasks.
void launch_tensor_eval(const float* d_h, const float* d_r, std::int64_t rows, const float* d_e, int particles, int m,
                        float* d_t, cudaStream_t s);

}  // namespace attnswarm
