// Evaluation kernels of the CUDA backend.
// Work split: the row kernels (shape_rows, report, dual_pass) give one thread to one user and
// walk users grid-stride, `blocks` blocks of k_row_threads threads; per-task sums are
// accumulated per block in shared memory (float64) and written as one partial per block, which
// the host adds in block order (no global atomics). The elementwise kernels (inverse_density,
// scale_accumulate) give one thread to one element. The two matrix products of the batched
// evaluation are cuBLAS SGEMMs issued by the host driver between these kernels.
#include "attn_math.hpp"
#include "cuda_check.cuh"
#include "eval_kernels.cuh"

namespace attnswarm {

namespace {

__device__ double max_log_weight(const float* f, const float* a, int m, double inv_tau, double beta) {
  double top = -HUGE_VAL;
  for (int j = 0; j < m; ++j) top = fmax(top, shape_log_weight(f[j], a[j], inv_tau, beta));
  return top;
}

__global__ void shape_rows_kernel(const float* f, const float* a, const std::int64_t* order, const double* mass,
                                  std::int64_t n, int m, double inv_tau, double beta, float* h, float* r) {
  for (std::int64_t k = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t i = order[k];
    const float* fi = f + i * m;
    const float* ai = a + i * m;
    const double top = max_log_weight(fi, ai, m, inv_tau, beta);
    float* hk = h + k * 2 * m;
    for (int j = 0; j < m; ++j) {
      const double g = top == -HUGE_VAL ? 0.0 : shape_weight(shape_log_weight(fi[j], ai[j], inv_tau, beta), top, 0.0);
      hk[j] = static_cast<float>(g);
      hk[m + j] = static_cast<float>(static_cast<double>(ai[j]) * g);
    }
    r[k] = static_cast<float>(mass[i]);
  }
}

__global__ void inverse_density_kernel(float* den, const float* r, int rows, int particles) {
  const std::int64_t total = static_cast<std::int64_t>(rows) * particles;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float d = den[e];
    den[e] = d > 0.0f ? r[e / particles] / d : 0.0f;
  }
}

__global__ void scale_accumulate_kernel(const float* t, const double* e, int particles, int m, double* acc) {
  const int total = particles * 2 * m;
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < total; c += gridDim.x * blockDim.x) {
    const int q = c / (2 * m), col = c % (2 * m);
    acc[c] += e[q * m + col % m] * static_cast<double>(t[c]);
  }
}

__global__ void report_kernel(const float* f, const float* a, const double* mass, const std::int32_t* segment,
                              std::int64_t n, int m, double inv_tau, double beta, const double* expw, int topk,
                              std::int32_t* topk_task, float* topk_share, double* lv, std::int64_t* idle_out) {
  extern __shared__ double sums[];  // L (m) then V (m)
  __shared__ unsigned long long idle;
  for (int j = threadIdx.x; j < 2 * m; j += blockDim.x) sums[j] = 0.0;
  if (threadIdx.x == 0) idle = 0;
  __syncthreads();
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float* fi = f + i * m;
    const float* ai = a + i * m;
    const double* ew = expw + static_cast<std::int64_t>(segment[i]) * m;
    const double top = max_log_weight(fi, ai, m, inv_tau, beta);
    double total = 0.0;
    if (top != -HUGE_VAL)
      for (int j = 0; j < m; ++j) total += shape_weight(shape_log_weight(fi[j], ai[j], inv_tau, beta), top, 0.0) * ew[j];
    int filled = 0;
    int best_task[k_max_topk];
    double best_share[k_max_topk];
    if (total > 0.0) {
      const double scale = mass[i] / total;
      for (int j = 0; j < m; ++j) {
        const double b = shape_weight(shape_log_weight(fi[j], ai[j], inv_tau, beta), top, 0.0) * ew[j] * scale;
        if (b == 0.0) continue;
        atomicAdd(&sums[j], b);
        atomicAdd(&sums[m + j], static_cast<double>(ai[j]) * b);
        // insertion into the sorted top-k; ties keep the lower task first
        if (topk > 0 && (filled < topk || b > best_share[filled - 1])) {
          int at = filled < topk ? filled++ : topk - 1;
          while (at > 0 && best_share[at - 1] < b) {
            best_share[at] = best_share[at - 1];
            best_task[at] = best_task[at - 1];
            --at;
          }
          best_share[at] = b;
          best_task[at] = j;
        }
      }
    } else {
      atomicAdd(&idle, 1ull);
    }
    for (int q = 0; q < topk; ++q) {
      topk_task[i * topk + q] = q < filled ? best_task[q] : -1;
      topk_share[i * topk + q] = q < filled ? static_cast<float>(best_share[q]) : 0.0f;
    }
  }
  __syncthreads();
  for (int j = threadIdx.x; j < 2 * m; j += blockDim.x) lv[blockIdx.x * 2 * static_cast<std::int64_t>(m) + j] = sums[j];
  if (threadIdx.x == 0) idle_out[blockIdx.x] = static_cast<std::int64_t>(idle);
}

__global__ void dual_pass_kernel(const float* f, const float* a, const double* mass, std::int64_t n, int m,
                                 const double* lambda, double gamma, double* partials) {
  extern __shared__ double sums[];  // exact, smooth, soft load (m)
  for (int j = threadIdx.x; j < m + 2; j += blockDim.x) sums[j] = 0.0;
  __syncthreads();
  const double inv_gamma = 1.0 / gamma;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const double r = mass[i];
    if (!(r > 0.0)) continue;
    const float* fi = f + i * m;
    const float* ai = a + i * m;
    // dual_row of attn_math.hpp, in three passes so that no per-user array is needed
    double top = 0.0;
    for (int j = 0; j < m; ++j)
      if (fi[j] > 0.0f && static_cast<double>(ai[j]) - lambda[j] > top) top = static_cast<double>(ai[j]) - lambda[j];
    const double z0 = -top * inv_gamma;
    double total = z0 > -50.0 ? exp(z0) : 0.0;
    for (int j = 0; j < m; ++j) {
      const double z = (static_cast<double>(ai[j]) - lambda[j] - top) * inv_gamma;
      if (fi[j] > 0.0f && z > -50.0) total += exp(z);
    }
    atomicAdd(&sums[0], r * top);
    atomicAdd(&sums[1], r * (top + gamma * log(total)));
    for (int j = 0; j < m; ++j) {
      const double z = (static_cast<double>(ai[j]) - lambda[j] - top) * inv_gamma;
      if (fi[j] > 0.0f && z > -50.0) atomicAdd(&sums[2 + j], r * exp(z) / total);
    }
  }
  __syncthreads();
  for (int j = threadIdx.x; j < m + 2; j += blockDim.x) partials[blockIdx.x * static_cast<std::int64_t>(m + 2) + j] = sums[j];
}

int elementwise_blocks(std::int64_t total) {
  return static_cast<int>(std::min<std::int64_t>((total + 255) / 256, 65535));
}

}  // namespace

void launch_shape_rows(const float* d_f, const float* d_a, const std::int64_t* d_order, const double* d_mass,
                       std::int64_t n, int m, double inv_tau, double beta, float* d_h, float* d_r, cudaStream_t s) {
  if (n == 0) return;
  const int blocks = static_cast<int>(std::min<std::int64_t>((n + k_row_threads - 1) / k_row_threads, 65535));
  shape_rows_kernel<<<blocks, k_row_threads, 0, s>>>(d_f, d_a, d_order, d_mass, n, m, inv_tau, beta, d_h, d_r);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void launch_inverse_density(float* d_den, const float* d_r, int rows, int particles, cudaStream_t s) {
  const std::int64_t total = static_cast<std::int64_t>(rows) * particles;
  if (total == 0) return;
  inverse_density_kernel<<<elementwise_blocks(total), 256, 0, s>>>(d_den, d_r, rows, particles);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void launch_scale_accumulate(const float* d_t, const double* d_e, int particles, int m, double* d_acc, cudaStream_t s) {
  const std::int64_t total = static_cast<std::int64_t>(particles) * 2 * m;
  if (total == 0) return;
  scale_accumulate_kernel<<<elementwise_blocks(total), 256, 0, s>>>(d_t, d_e, particles, m, d_acc);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void launch_report(const float* d_f, const float* d_a, const double* d_mass, const std::int32_t* d_segment,
                   std::int64_t n, int m, double inv_tau, double beta, const double* d_expw, int topk,
                   std::int32_t* d_topk_task, float* d_topk_share, double* d_lv, std::int64_t* d_idle, int blocks,
                   cudaStream_t s) {
  if (m > k_max_shared_tasks) throw std::invalid_argument("report kernel: more tasks than the shared accumulators hold");
  if (topk > k_max_topk) throw std::invalid_argument("report kernel: top-k larger than 64");
  report_kernel<<<blocks, k_row_threads, 2 * m * sizeof(double), s>>>(d_f, d_a, d_mass, d_segment, n, m, inv_tau, beta,
                                                                       d_expw, topk, d_topk_task, d_topk_share, d_lv,
                                                                       d_idle);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void launch_dual_pass(const float* d_f, const float* d_a, const double* d_mass, std::int64_t n, int m,
                      const double* d_lambda, double gamma, double* d_partials, int blocks, cudaStream_t s) {
  if (m > k_max_shared_tasks) throw std::invalid_argument("dual kernel: more tasks than the shared accumulators hold");
  dual_pass_kernel<<<blocks, k_row_threads, (m + 2) * sizeof(double), s>>>(d_f, d_a, d_mass, n, m, d_lambda, gamma,
                                                                           d_partials);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace attnswarm
