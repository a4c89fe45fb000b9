// Launchers of the evaluation kernels of the CUDA backend (DESIGN §3). Raw device pointers
// carry d_; every launcher checks its launch. The per-element math is kernels/attn_math.hpp,
// the same functions the CPU reference calls.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace attnswarm {

// Threads per block of the row kernels (one thread per user).
constexpr int k_row_threads = 128;
// Largest M the shared-memory accumulators of the report and dual kernels hold.
constexpr int k_max_shared_tasks = 2048;
// Largest top-k the report kernel keeps per user (in registers / local memory).
constexpr int k_max_topk = 64;

// H = [G0 | A o G0] (rows in segment order, n x 2M) and r in the same order, for one shape.
void launch_shape_rows(const float* d_f, const float* d_a, const std::int64_t* d_order, const double* d_mass,
                       std::int64_t n, int m, double inv_tau, double beta, float* d_h, float* d_r, cudaStream_t s);

// In place on Den (rows x P, row-major): R = r / Den, 0 where Den <= 0 (idle users).
void launch_inverse_density(float* d_den, const float* d_r, int rows, int particles, cudaStream_t s);

// acc[q][c] += e[q][c mod M] * t[q][c] for q < P, c < 2M: the E_p scaling of DESIGN §3,
// accumulated in float64.
void launch_scale_accumulate(const float* d_t, const double* d_e, int particles, int m, double* d_acc, cudaStream_t s);

// One policy exactly: block b writes its partial L (M) then V (M) at d_lv + b * 2M and its
// idle users at d_idle[b]; with topk > 0 also each user's top-k tasks and shares.
void launch_report(const float* d_f, const float* d_a, const double* d_mass, const std::int32_t* d_segment,
                   std::int64_t n, int m, double inv_tau, double beta, const double* d_expw, int topk,
                   std::int32_t* d_topk_task, float* d_topk_share, double* d_lv, std::int64_t* d_idle, int blocks,
                   cudaStream_t s);

// One pass of the bound: block b writes [sum r*exact, sum r*smooth, soft_load (M)] at
// d_partials + b * (M + 2).
void launch_dual_pass(const float* d_f, const float* d_a, const double* d_mass, std::int64_t n, int m,
                      const double* d_lambda, double gamma, double* d_partials, int blocks, cudaStream_t s);

}  // namespace attnswarm
