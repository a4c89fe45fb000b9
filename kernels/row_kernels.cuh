// The CUDA backend's row kernels and the elementwise kernels of the cuBLAS path, device code
// only: kernels/eval_kernels.cu launches them, and tests/cuda_emulator.hpp runs the same
// source on the CPU (so this header uses no CUDA header and no static __shared__ array).
// Each works on one batch of users in segment order.
// Work split: the row kernels (shape_rows, report, dual_pass) give one warp to one user at a
// time, its lanes over the user's tasks (j = lane, lane + 32, ...), so every load and store of
// a row is coalesced; the warps of `blocks` blocks walk the batch grid-stride. A row's
// maximum and sum are warp shuffles (xor butterflies: every lane holds the same result). The
// user's row and the per-task sums (report: L and V; dual pass: the soft load and value) are
// owned lane by lane, in registers up to 128 tasks (lane_values<R>) and in a per-warp slab of
// shared memory past that, so nothing is atomic; at the end a block adds its warps in
// order into its own partial in global memory (one writer per partial, batches in order),
// and launch_sum_partials (kernels/eval_kernels.cu, CUB) adds the partials in a fixed order:
// the same sums in every run. The
// elementwise kernels (policy_exp, inverse_density, chunk_reduce_scale) give one thread to one
// element.
// The matrix products of the cuBLAS path are issued by the host driver between them; the
// fused path is kernels/fused_eval.cu.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "attn_math.hpp"

// detail in the CUDA build; the tests' CPU emulator names its own, so that its copies of the
// kernels never meet the CUDA library's launch stubs at link time.
#ifndef ATTN_KERNELS_NS
#define ATTN_KERNELS_NS detail
#endif

namespace attnswarm::ATTN_KERNELS_NS {

constexpr unsigned k_full_warp = 0xffffffffu;
// Warps per block of the row kernels, fewer when a warp's shared slab is large (many tasks).
constexpr int k_row_warps = 8;
// After the warps' slabs, 2 doubles per warp for the block's reduction of per-warp scalars.
constexpr int k_row_tail_doubles = 2 * k_row_warps;

__device__ double warp_max(double v) {
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(k_full_warp, v, o));
  return v;
}

__device__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(k_full_warp, v, o);
  return v;
}

// The largest v over the warp and its task j, the lowest task on ties (as the CPU's sort).
__device__ void warp_argmax(double& v, int& j) {
  for (int o = 16; o > 0; o >>= 1) {
    const double ov = __shfl_xor_sync(k_full_warp, v, o);
    const int oj = __shfl_xor_sync(k_full_warp, j, o);
    if (ov > v || (ov == v && oj < j)) {
      v = ov;
      j = oj;
    }
  }
}

// The warp's user of this step and the step between users; every lane of a warp agrees, so
// the shuffles inside the loops see the whole warp.
__device__ std::int64_t first_user() {
  return static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
}
__device__ std::int64_t user_stride() { return static_cast<std::int64_t>(gridDim.x) * (blockDim.x / 32); }

__global__ void shape_rows_kernel(const float* f, const float* a, const double* mass, std::int64_t rows, int m,
                                  double inv_tau, double beta, double mass_scale, double value_scale, float* h,
                                  float* r) {
  const int lane = threadIdx.x % 32;
  for (std::int64_t i = first_user(); i < rows; i += user_stride()) {
    const float* fi = f + i * m;
    const float* ai = a + i * m;
    double top = -HUGE_VAL;
    for (int j = lane; j < m; j += 32) top = fmax(top, shape_key(fi[j], ai[j], inv_tau, beta));
    top = warp_max(top);
    float* hi = h + i * 2 * m;
    for (int j = lane; j < m; j += 32) {
      const double g = shape_from_key(shape_key(fi[j], ai[j], inv_tau, beta), top, inv_tau, beta);
      hi[j] = static_cast<float>(g);
      hi[m + j] = static_cast<float>(static_cast<double>(ai[j]) * value_scale * g);
    }
    if (lane == 0) r[i] = static_cast<float>(mass[i] * mass_scale);
  }
}

__global__ void inverse_density_kernel(float* den, const float* r, std::int64_t rows, int particles) {
  const std::int64_t total = rows * particles;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float d = den[e];
    den[e] = d > 0.0f ? r[e / particles] / d : 0.0f;
  }
}

__global__ void chunk_reduce_scale_kernel(const float* t, int chunks, const double* e, int particles, int m,
                                          double* acc) {
  const int total = particles * 2 * m;
  const std::int64_t stride = total;
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < total; c += gridDim.x * blockDim.x) {
    double sum = 0.0;
    for (int k = 0; k < chunks; ++k) sum += static_cast<double>(t[k * stride + c]);
    const int q = c / (2 * m), col = c % (2 * m);
    acc[c] += e[q * m + col % m] * sum;
  }
}

// E of a group of P policies for every segment, from the policies themselves (P x S x M,
// row-major as the swarm holds them): e64[s][q][j] = exp(W_q[s, j]) and e32 its float32,
// laid out segment-major so that a batch of segment s reads its P x M block.
__global__ void policy_exp_kernel(const double* w, int particles, int segments, int m, double* e64, float* e32) {
  const std::int64_t total = static_cast<std::int64_t>(segments) * particles * m;
  for (std::int64_t k = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; k < total;
       k += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t s = k / (static_cast<std::int64_t>(particles) * m), q = (k / m) % particles, j = k % m;
    const double e = exp(w[(q * segments + s) * m + j]);
    e64[k] = e;
    e32[k] = static_cast<float>(e);
  }
}

// One value per task of a row, spread over a warp: lane owns tasks j = lane + 32k. With
// R > 0 (M <= 32 R) the lane's values are R registers; with R = 0 (any M) they live in the
// warp's slab of shared memory. Loops run k < slots(m), fully unrolled for R > 0, and touch
// [k] only where j < M: past it the slab holds the next row.
template <int R>
struct lane_values {
  double reg[R > 0 ? R : 1] = {};
  double* slab;  // R = 0: the warp's M values
  int lane;
  __device__ lane_values(double* warp_slab, int l) : slab(warp_slab), lane(l) {}
  __device__ static int slots(int m) { return R > 0 ? R : (m + 31) / 32; }
  __device__ double& operator[](int k) {
    if constexpr (R > 0) {
      return reg[k];
    } else {
      return slab[lane + 32 * k];
    }
  }
  // Into the warp's slab, for the block's reduction over warps (a no-op when already there).
  __device__ void store(double* warp_slab, int m) {
    if constexpr (R > 0) {
#pragma unroll
      for (int k = 0; k < R; ++k)
        if (lane + 32 * k < m) warp_slab[lane + 32 * k] = reg[k];
    }
  }
};

// Doubles per warp in shared memory: `accumulators` rows of M, plus the current user's row
// when it does not fit in registers.
template <int R>
__host__ __device__ constexpr int slab_rows(int accumulators) {
  return accumulators + (R > 0 ? 0 : 1);
}

template <int R>
__global__ void report_kernel(const float* f, const float* a, const double* mass, std::int64_t n, int m, double inv_tau,
                              double beta, const double* ew, int topk, std::int32_t* topk_task, float* topk_share,
                              double* lv, std::int64_t* idle_out) {
  constexpr int rows_per_warp = slab_rows<R>(2);
  extern __shared__ double smem[];  // per warp: L (m), V (m)[, the current user's row (m)]; the tail
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  std::int64_t* warp_idle = reinterpret_cast<std::int64_t*>(smem + static_cast<std::size_t>(warps) * rows_per_warp * m);
  double* slab = smem + static_cast<std::size_t>(warp) * rows_per_warp * m;
  lane_values<R> load(slab, lane), value(slab + m, lane), row(slab + 2 * m, lane);
  const int slots = lane_values<R>::slots(m);
#pragma unroll
  for (int k = 0; k < slots; ++k)
    if (lane + 32 * k < m) load[k] = value[k] = 0.0;
  std::int64_t idle = 0;
  for (std::int64_t i = first_user(); i < n; i += user_stride()) {
    const float* fi = f + i * m;
    const float* ai = a + i * m;
    std::int32_t* task_out = topk_task + i * topk;
    float* share_out = topk_share + i * topk;
    // B_ij = r_i G_ij / sum_k G_ik with G = G0 o exp(W), as the CPU reference rounds it
    double top = -HUGE_VAL;
#pragma unroll
    for (int k = 0; k < slots; ++k) {
      const int j = lane + 32 * k;
      if (j < m) {
        row[k] = shape_key(fi[j], ai[j], inv_tau, beta);
        top = fmax(top, row[k]);
      }
    }
    top = warp_max(top);
    double total = 0.0;
#pragma unroll
    for (int k = 0; k < slots; ++k) {
      const int j = lane + 32 * k;
      if (j < m) {
        row[k] = shape_from_key(row[k], top, inv_tau, beta) * ew[j];
        total += row[k];
      }
    }
    total = warp_sum(total);
    int filled = 0;
    if (total > 0.0) {
      const double scale = mass[i] / total;
#pragma unroll
      for (int k = 0; k < slots; ++k) {
        const int j = lane + 32 * k;
        if (j < m) {
          const double b = row[k] * scale;
          row[k] = b;
          load[k] += b;
          value[k] += static_cast<double>(ai[j]) * b;
        }
      }
      // top-k: one warp argmax per place over the shares not yet taken (taken: set to -1)
      for (; filled < topk; ++filled) {
        double best = 0.0;  // only shares > 0 qualify
        int task = INT_MAX;
#pragma unroll
        for (int k = 0; k < slots; ++k)
          if (lane + 32 * k < m && row[k] > best) {
            best = row[k];
            task = lane + 32 * k;
          }
        warp_argmax(best, task);
        if (!(best > 0.0)) break;
        if (lane == 0) {
          task_out[filled] = task;
          share_out[filled] = static_cast<float>(best);
        }
#pragma unroll
        for (int k = 0; k < slots; ++k)
          if (lane + 32 * k == task) row[k] = -1.0;
      }
    } else {
      ++idle;
    }
    for (int q = filled + lane; q < topk; q += 32) {
      task_out[q] = -1;
      share_out[q] = 0.0f;
    }
  }
  load.store(slab, m);
  value.store(slab + m, m);
  if (lane == 0) warp_idle[warp] = idle;
  __syncthreads();
  double* out = lv + blockIdx.x * 2 * static_cast<std::int64_t>(m);
  for (int c = threadIdx.x; c < 2 * m; c += blockDim.x) {
    double sum = 0.0;
    for (int w = 0; w < warps; ++w) sum += smem[static_cast<std::size_t>(w) * rows_per_warp * m + c];
    out[c] += sum;
  }
  if (threadIdx.x == 0) {
    std::int64_t sum = 0;
    for (int w = 0; w < warps; ++w) sum += warp_idle[w];
    idle_out[blockIdx.x] += sum;
  }
}

template <int R>
__global__ void dual_pass_kernel(const float* f, const float* a, const double* mass, std::int64_t n, int m,
                                 const double* lambda, double gamma, double* partials) {
  constexpr int rows_per_warp = slab_rows<R>(2);
  // per warp: soft load (m), soft value (m)[, the current user's shares (m)]; the tail
  extern __shared__ double smem[];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  double* warp_terms = smem + static_cast<std::size_t>(warps) * rows_per_warp * m;  // exact, smooth
  double* slab = smem + static_cast<std::size_t>(warp) * rows_per_warp * m;
  lane_values<R> soft(slab, lane), value(slab + m, lane), row(slab + 2 * m, lane);
  const int slots = lane_values<R>::slots(m);
#pragma unroll
  for (int k = 0; k < slots; ++k)
    if (lane + 32 * k < m) {
      soft[k] = 0.0;
      value[k] = 0.0;
    }
  double exact = 0.0, smooth = 0.0;
  const double inv_gamma = 1.0 / gamma;
  for (std::int64_t i = first_user(); i < n; i += user_stride()) {
    const double r = mass[i];
    if (!(r > 0.0)) continue;
    const float* fi = f + i * m;
    const float* ai = a + i * m;
    // dual_row of attn_math.hpp with the row spread over the lanes
    double top = 0.0;
#pragma unroll
    for (int k = 0; k < slots; ++k) {
      const int j = lane + 32 * k;
      if (j < m && fi[j] > 0.0f && static_cast<double>(ai[j]) - lambda[j] > top)
        top = static_cast<double>(ai[j]) - lambda[j];
    }
    top = warp_max(top);
    double sum = 0.0;
#pragma unroll
    for (int k = 0; k < slots; ++k) {
      const int j = lane + 32 * k;
      if (j < m) {
        const double z = (static_cast<double>(ai[j]) - lambda[j] - top) * inv_gamma;
        row[k] = fi[j] > 0.0f && z > -50.0 ? exp(z) : 0.0;
        sum += row[k];
      }
    }
    const double z0 = -top * inv_gamma;
    const double total = (z0 > -50.0 ? exp(z0) : 0.0) + warp_sum(sum);
#pragma unroll
    for (int k = 0; k < slots; ++k) {
      const int j = lane + 32 * k;
      if (j < m) {
        const double x = r * (row[k] / total);
        soft[k] += x;
        value[k] += static_cast<double>(ai[j]) * x;
      }
    }
    exact += r * top;
    smooth += r * (top + gamma * log(total));
  }
  soft.store(slab, m);
  value.store(slab + m, m);
  if (lane == 0) {
    warp_terms[2 * warp] = exact;
    warp_terms[2 * warp + 1] = smooth;
  }
  __syncthreads();
  double* out = partials + blockIdx.x * static_cast<std::int64_t>(2 * m + 2);
  if (threadIdx.x == 0) {
    double e = 0.0, sm = 0.0;
    for (int w = 0; w < warps; ++w) {
      e += warp_terms[2 * w];
      sm += warp_terms[2 * w + 1];
    }
    out[0] += e;
    out[1] += sm;
  }
  for (int c = threadIdx.x; c < 2 * m; c += blockDim.x) {
    double total = 0.0;
    for (int w = 0; w < warps; ++w) total += smem[static_cast<std::size_t>(w) * rows_per_warp * m + c];
    out[2 + c] += total;
  }
}

// ---- the launch's shape, on the host (kernels/eval_kernels.cu and the emulator tests alike)

// Shared memory a row kernel's block may take (past 48 KiB by opt-in; an H100/H200 SM has 228).
constexpr std::size_t k_row_shared_bytes = 96 * 1024;

// Warps per block when each warp keeps `doubles_per_task` x M doubles in shared memory.
inline int row_warps(int m, int doubles_per_task) {
  const std::size_t per_warp = static_cast<std::size_t>(doubles_per_task) * m * sizeof(double);
  const std::size_t room = k_row_shared_bytes - k_row_tail_doubles * sizeof(double);
  return static_cast<int>(std::clamp<std::size_t>(room / std::max<std::size_t>(per_warp, 1), 1, k_row_warps));
}

inline std::size_t row_shared_bytes(int warps, int per_warp, int m) {
  return (static_cast<std::size_t>(warps) * per_warp * m + k_row_tail_doubles) * sizeof(double);
}

// The row kernels' instantiations: R registers per lane and row up to 128 tasks, else the
// shared slab. Calls launch(kernel-template tag) with the R that fits m.
template <typename Launch>
void with_lane_slots(int m, Launch&& launch) {
  if (m <= 32)
    launch(std::integral_constant<int, 1>{});
  else if (m <= 64)
    launch(std::integral_constant<int, 2>{});
  else if (m <= 128)
    launch(std::integral_constant<int, 4>{});
  else
    launch(std::integral_constant<int, 0>{});
}

}  // namespace attnswarm::ATTN_KERNELS_NS
