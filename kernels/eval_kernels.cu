// Launchers of the evaluation kernels (kernels/row_kernels.cuh): block shapes, shared memory
// and the instantiation that fits the number of tasks; and the sum of the row kernels' block
// partials: one block of k_sum_threads per column, thread t adding rows t, t + k_sum_threads,
// ... in order, then cub::BlockReduce over the threads (CUB's fixed tree, so the sums are the
// same in every run and no atomic is used).
#include <cub/block/block_reduce.cuh>

#include <algorithm>
#include <stdexcept>
#include <type_traits>

#include "cuda_check.cuh"
#include "eval_kernels.cuh"
#include "row_kernels.cuh"

namespace attnswarm {

namespace {

using namespace detail;
using namespace ATTN_KERNELS_NS;  // the kernels: detail, or the emulator's namespace

int elementwise_blocks(std::int64_t total) {
  return static_cast<int>(std::min<std::int64_t>((total + 255) / 256, 65535));
}

// Blocks of `warps` warps for one warp per user, at most `most`.
int row_blocks(std::int64_t rows, int warps, int most) {
  return static_cast<int>(std::min<std::int64_t>((rows + warps - 1) / warps, most));
}

// The row kernels with two per-task accumulators (report: L and V; dual pass: the soft load
// and value): the instantiation that fits m (kernel_of(slots) names it), as many warps per
// block as their shared slabs leave room for, and one warp per user.
template <typename KernelOf, typename... Args>
void launch_two_accumulator_rows(std::int64_t rows, int m, int blocks, cudaStream_t s, KernelOf kernel_of,
                                 Args... args) {
  with_lane_slots(m, [&](auto slots) {
    constexpr int R = decltype(slots)::value;
    const auto kernel = kernel_of(slots);
    const int per_warp = slab_rows<R>(2), warps = row_warps(m, per_warp);
    const std::size_t shared = row_shared_bytes(warps, per_warp, m);
    allow_dynamic_shared(kernel, shared);
    ATTN_LAUNCH(kernel, row_blocks(rows, warps, blocks), warps * 32, shared, s)(args...);
  });
  ATTN_CUDA_CHECK(cudaGetLastError());
}

constexpr int k_sum_threads = 256;

template <typename T>
__global__ void sum_partials_kernel(const T* partials, int rows, int width, T* out) {
  using block_sum = cub::BlockReduce<T, k_sum_threads>;
  __shared__ typename block_sum::TempStorage temp;
  const int c = blockIdx.x;
  T sum = 0;
  for (int b = threadIdx.x; b < rows; b += k_sum_threads) sum += partials[static_cast<std::size_t>(b) * width + c];
  const T total = block_sum(temp).Sum(sum);
  if (threadIdx.x == 0) out[c] = total;
}

template <typename T>
void sum_partials(const T* d_partials, int rows, int width, T* d_out, cudaStream_t s) {
  if (width <= 0) return;
  ATTN_LAUNCH(sum_partials_kernel<T>, width, k_sum_threads, 0, s)(d_partials, rows, width, d_out);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_shape_rows(const float* d_f, const float* d_a, const double* d_mass, std::int64_t rows, int m,
                       double inv_tau, double beta, double mass_scale, double value_scale, float* d_h, float* d_r,
                       cudaStream_t s) {
  if (rows == 0) return;
  ATTN_LAUNCH(shape_rows_kernel, row_blocks(rows, k_row_warps, 65535), k_row_warps * 32, 0, s)(
      d_f, d_a, d_mass, rows, m, inv_tau, beta, mass_scale, value_scale, d_h, d_r);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void launch_policy_exp(const double* d_w, int particles, int segments, int m, double* d_e64, float* d_e32,
                       cudaStream_t s) {
  const std::int64_t total = static_cast<std::int64_t>(segments) * particles * m;
  if (total == 0) return;
  ATTN_LAUNCH(policy_exp_kernel, elementwise_blocks(total), 256, 0, s)(d_w, particles, segments, m, d_e64, d_e32);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void launch_inverse_density(float* d_den, const float* d_r, std::int64_t rows, int particles, cudaStream_t s) {
  const std::int64_t total = rows * particles;
  if (total == 0) return;
  ATTN_LAUNCH(inverse_density_kernel, elementwise_blocks(total), 256, 0, s)(d_den, d_r, rows, particles);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void launch_chunk_reduce_scale(const float* d_t, int chunks, const double* d_e, int particles, int m, double* d_acc,
                               cudaStream_t s) {
  const std::int64_t total = static_cast<std::int64_t>(particles) * 2 * m;
  if (total == 0 || chunks == 0) return;
  ATTN_LAUNCH(chunk_reduce_scale_kernel, elementwise_blocks(total), 256, 0, s)(d_t, chunks, d_e, particles, m, d_acc);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void launch_report(const float* d_f, const float* d_a, const double* d_mass, std::int64_t rows, int m, double inv_tau,
                   double beta, const double* d_expw, int topk, std::int32_t* d_topk_task, float* d_topk_share,
                   double* d_lv, std::int64_t* d_idle, int blocks, cudaStream_t s) {
  if (rows == 0) return;
  if (m > k_max_shared_tasks) throw std::invalid_argument("report kernel: more tasks than the shared accumulators hold");
  if (topk > k_max_topk) throw std::invalid_argument("report kernel: top-k larger than 64");
  launch_two_accumulator_rows(
      rows, m, blocks, s, [](auto slots) { return report_kernel<decltype(slots)::value>; }, d_f, d_a, d_mass, rows, m,
      inv_tau, beta, d_expw, topk, d_topk_task, d_topk_share, d_lv, d_idle);
}

void launch_dual_pass(const float* d_f, const float* d_a, const double* d_mass, std::int64_t rows, int m,
                      const double* d_lambda, double gamma, double* d_partials, int blocks, cudaStream_t s) {
  if (rows == 0) return;
  if (m > k_max_shared_tasks) throw std::invalid_argument("dual kernel: more tasks than the shared accumulators hold");
  launch_two_accumulator_rows(
      rows, m, blocks, s, [](auto slots) { return dual_pass_kernel<decltype(slots)::value>; }, d_f, d_a, d_mass, rows,
      m, d_lambda, gamma, d_partials);
}

void launch_sum_partials(const double* d_partials, int rows, int width, double* d_out, cudaStream_t s) {
  sum_partials(d_partials, rows, width, d_out, s);
}

void launch_sum_partials(const std::int64_t* d_partials, int rows, int width, std::int64_t* d_out, cudaStream_t s) {
  sum_partials(d_partials, rows, width, d_out, s);
}

}  // namespace attnswarm
