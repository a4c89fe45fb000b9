// Launchers of the evaluation kernels of the CUDA backend (DESIGN §3). Every kernel works on
// one batch of users that the host driver has laid out in segment order (so a batch belongs
// to one segment): d_f, d_a (rows x M, float32), d_mass (rows, float64) point at the batch's
// first user. Raw device pointers carry d_; every launcher checks its launch. The
// per-element math is kernels/attn_math.hpp, the same functions the CPU reference calls.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace attnswarm {

// Largest M the report and dual kernels take: one warp's shared slab (3 x M doubles) must
// fit in the 96 KiB a row kernel's block may take.
constexpr int k_max_shared_tasks = 2048;
// Largest top-k the report kernel writes per user (the driver stages k_report_rows x k).
constexpr int k_max_topk = 64;

// H = [G0 | value_scale * A o G0] (rows x 2M) and r = mass_scale * mass as float32, for one
// shape; the scales are float32_scale()'s powers of two (kernels/attn_math.hpp).
void launch_shape_rows(const float* d_f, const float* d_a, const double* d_mass, std::int64_t rows, int m,
                       double inv_tau, double beta, double mass_scale, double value_scale, float* d_h, float* d_r,
                       cudaStream_t s);

// E of P policies (d_w: P x S x M, as the swarm holds them) for every segment, segment-major:
// d_e64[s][q][j] = exp(W_q[s, j]) and d_e32 the same in float32.
void launch_policy_exp(const double* d_w, int particles, int segments, int m, double* d_e64, float* d_e32,
                       cudaStream_t s);

// In place on Den (rows x P, row-major): R = r / Den, 0 where Den <= 0 (idle users).
void launch_inverse_density(float* d_den, const float* d_r, std::int64_t rows, int particles, cudaStream_t s);

// acc[q][c] += e[q][c mod M] * sum_k t[k][q][c] for q < P, c < 2M, the chunk partials t
// (chunks x P x 2M, float32) added in float64 in chunk order: the E_p scaling of DESIGN §3.
void launch_chunk_reduce_scale(const float* d_t, int chunks, const double* d_e, int particles, int m, double* d_acc,
                               cudaStream_t s);

// One policy exactly over one batch: block b adds its L (M) then V (M) to d_lv + b * 2M and
// its idle users to d_idle[b] (the caller zeroes them once per report, so the sums run over
// every batch in a fixed order). d_expw: exp(W) of the batch's segment (M). With topk > 0,
// also each user's top-k tasks and shares at d_topk_* + row * topk.
void launch_report(const float* d_f, const float* d_a, const double* d_mass, std::int64_t rows, int m, double inv_tau,
                   double beta, const double* d_expw, int topk, std::int32_t* d_topk_task, float* d_topk_share,
                   double* d_lv, std::int64_t* d_idle, int blocks, cudaStream_t s);

// One pass of the bound over one batch: block b adds [sum r*exact, sum r*smooth, soft_load
// (M), soft_value (M)] to d_partials + b * (2M + 2) (zeroed by the caller once per pass).
void launch_dual_pass(const float* d_f, const float* d_a, const double* d_mass, std::int64_t rows, int m,
                      const double* d_lambda, double gamma, double* d_partials, int blocks, cudaStream_t s);

// d_out[c] = sum over b < rows of d_partials[b * width + c], for c < width: the row kernels'
// block partials (d_lv, d_idle, d_partials above) added on the device with CUB's block
// reduction, one block per column, in a fixed order (the same sums in every run).
void launch_sum_partials(const double* d_partials, int rows, int width, double* d_out, cudaStream_t s);
void launch_sum_partials(const std::int64_t* d_partials, int rows, int width, std::int64_t* d_out, cudaStream_t s);

}  // namespace attnswarm
