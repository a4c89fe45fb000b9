// The fused batched evaluation on tensor cores, device code only: kernels/fused_eval.cu
// launches it (after <mma.h>), and tests/cuda_emulator.hpp runs the same source on the CPU
// with its own nvcuda::wmma (so no CUDA header here).
// The same sums as kernels/fused_eval_kernel.cuh (Den = G0 E^T and R = r / Den of a tile of
// users only in shared memory; per chunk t = R^T H), as two warp matrix products per tile,
// each in 3xTF32: a float32 x is split into hi = tf32(x) and lo = tf32(x - hi), and the
// product of a and b is taken as a_lo b_hi + a_hi b_lo + a_hi b_hi, which keeps about 22 of
// float32's 24 bits (one TF32 product alone keeps 11, too few for the CPU reference's
// trajectory) at three tensor-core products instead of float32 FMAs.
// Work split: grid (groups of 64 particles) x (chunks of k_chunk_rows users), 8 warps (the
// groups on x, as in the FP32 kernel, so that a chunk's H is read from DRAM once). A block
// walks its chunk in tiles of 32 users. Per tile: H is staged in shared memory as
// [G0 | A o G0] with each half padded with zero columns to M8 = M rounded up to 8 (the K of a
// TF32 product); step A: warp w computes the 16 x 16 densities of users 16 (w / 4) .. and
// particles 16 (w % 4) .. (K = M8), stores them over the R tile and turns them into R in
// place; step B: warp w adds R^T H for particles 16 (w % 4) .. and the column blocks
// w / 4, w / 4 + 2, ... of H (K = 32 users) into its CB accumulator fragments. At the end of
// its chunk each warp writes its fragments through a 16 x 16 staging tile (a fragment's
// element order is the hardware's), only the real columns, in the layout of the other paths.
#pragma once

#include <cstddef>
#include <cstdint>

#include "batch_layout.hpp"

#ifndef ATTN_KERNELS_NS
#define ATTN_KERNELS_NS detail
#endif

namespace attnswarm::ATTN_KERNELS_NS {

namespace wmma = nvcuda::wmma;

constexpr int k_tc_tile_users = 32;
constexpr int k_tc_warps = 8;
constexpr int k_tc_threads = 32 * k_tc_warps;
constexpr int k_tc_group = 64;  // particles per block: 4 fragments of 16
// Floats past each row of a shared tile: ldm stays a multiple of 4 floats and every
// fragment's first element 32-byte aligned (rows are taken 8 at a time), as wmma requires.
constexpr int k_tc_pad = 4;
constexpr int k_tc_q_ld = k_tc_group + k_tc_pad;  // E (task-major) and R tiles: 64 particles + pad

__host__ __device__ constexpr int tc_padded_tasks(int m) { return (m + 7) / 8 * 8; }

// Accumulator fragments per warp: the M8 / 8 column blocks of 16 shared by two warps.
inline int tc_column_fragments(int m) {
  const int per_warp = (tc_padded_tasks(m) / 8 + 1) / 2;
  return per_warp <= 1 ? 1 : per_warp <= 2 ? 2 : per_warp <= 4 ? 4 : 8;
}

inline std::size_t tc_shared_bytes(int m) {
  const std::size_t m8 = static_cast<std::size_t>(tc_padded_tasks(m)), h_ld = 2 * m8 + k_tc_pad;
  return sizeof(float) * (k_tc_tile_users * h_ld + m8 * k_tc_q_ld + k_tc_tile_users * k_tc_q_ld + k_tc_tile_users);
}

using tc_a_row = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using tc_a_col = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using tc_b_row = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using tc_acc = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

// hi = tf32(x), lo = tf32(x - hi), element by element (x - hi is exact in float32).
template <typename Fragment>
__device__ void split_tf32(Fragment& hi, Fragment& lo) {
#pragma unroll
  for (int i = 0; i < hi.num_elements; ++i) {
    const float x = hi.x[i];
    const float big = wmma::__float_to_tf32(x);
    hi.x[i] = big;
    lo.x[i] = wmma::__float_to_tf32(x - big);
  }
}

// acc += a b in 3xTF32, the small products first.
template <typename FragmentA>
__device__ void mma_3xtf32(tc_acc& acc, const FragmentA& a_hi, const FragmentA& a_lo, const tc_b_row& b_hi,
                           const tc_b_row& b_lo) {
  wmma::mma_sync(acc, a_lo, b_hi, acc);
  wmma::mma_sync(acc, a_hi, b_lo, acc);
  wmma::mma_sync(acc, a_hi, b_hi, acc);
}

template <int CB>
__global__ void __launch_bounds__(k_tc_threads)
    tensor_eval_kernel(const float* h, const float* r, std::int64_t rows, const float* e, int particles, int m,
                       float* t) {
  // wmma loads and stores need 32-byte aligned pointers: the base is declared so, rather than
  // trusting how the runtime happens to place dynamic shared memory
  extern __shared__ __align__(128) float4 smem4[];
  const int m8 = tc_padded_tasks(m), width = 2 * m8, h_ld = width + k_tc_pad, cols = 2 * m;
  const int column_blocks = width / 16;
  float* h_s = reinterpret_cast<float*>(smem4);
  float* e_s = h_s + k_tc_tile_users * h_ld;
  float* r_s = e_s + m8 * k_tc_q_ld;
  float* mass_s = r_s + k_tc_tile_users * k_tc_q_ld;

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int q0 = blockIdx.x * k_tc_group;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * k_chunk_rows;
  const std::int64_t last = rows < first + k_chunk_rows ? rows : first + k_chunk_rows;

  // e_s[j][qq] = E of particle q0 + qq for task j; 0 past the last task or particle
  for (int k = tid; k < m8 * k_tc_q_ld; k += k_tc_threads) {
    const int j = k / k_tc_q_ld, qq = k % k_tc_q_ld, q = q0 + qq;
    e_s[k] = j < m && qq < k_tc_group && q < particles ? e[static_cast<std::int64_t>(q) * m + j] : 0.0f;
  }
  const int qb = warp % 4, cb0 = warp / 4;  // step B: particles 16 qb .., column blocks cb0 + 2c
  const int ua = 16 * (warp / 4);           // step A: users ua .., particles 16 qb ..
  tc_acc acc[CB];
#pragma unroll
  for (int c = 0; c < CB; ++c) wmma::fill_fragment(acc[c], 0.0f);

  for (std::int64_t tile = first; tile < last; tile += k_tc_tile_users) {
    const int users = static_cast<int>(last - tile < k_tc_tile_users ? last - tile : k_tc_tile_users);
    __syncthreads();  // the previous tile is consumed (and e_s is written before the first)
    // a warp per row of the tile, its lanes along the columns (coalesced, and no division)
    for (int u = warp; u < k_tc_tile_users; u += k_tc_warps) {
      const float* src = h + (tile + u) * cols;
      for (int c = lane; c < width; c += 32) {
        const int j = c < m8 ? c : c - m8;
        h_s[u * h_ld + c] = u < users && j < m ? src[c < m8 ? j : m + j] : 0.0f;
      }
    }
    if (tid < k_tc_tile_users) mass_s[tid] = tid < users ? r[tile + tid] : 0.0f;
    __syncthreads();

    {  // step A: Den = G0 E^T for 16 users x 16 particles, then R = r / Den in place
      tc_acc den;
      wmma::fill_fragment(den, 0.0f);
      for (int j0 = 0; j0 < m8; j0 += 8) {
        tc_a_row a_hi, a_lo;
        tc_b_row b_hi, b_lo;
        wmma::load_matrix_sync(a_hi, h_s + ua * h_ld + j0, h_ld);
        wmma::load_matrix_sync(b_hi, e_s + j0 * k_tc_q_ld + 16 * qb, k_tc_q_ld);
        split_tf32(a_hi, a_lo);
        split_tf32(b_hi, b_lo);
        mma_3xtf32(den, a_hi, a_lo, b_hi, b_lo);
      }
      float* d_s = r_s + ua * k_tc_q_ld + 16 * qb;
      wmma::store_matrix_sync(d_s, den, k_tc_q_ld, wmma::mem_row_major);
      __syncwarp();
      for (int k = lane; k < 256; k += 32) {
        float& d = d_s[(k / 16) * k_tc_q_ld + k % 16];
        d = d > 0.0f ? mass_s[ua + k / 16] / d : 0.0f;
      }
    }
    __syncthreads();

    // step B: acc += R^T H over the tile's users, 8 at a time (rows past `users` are zero)
    for (int u0 = 0; u0 < users; u0 += 8) {
      tc_a_col a_hi, a_lo;  // R^T: element (q, u) is r_s[u][q]
      wmma::load_matrix_sync(a_hi, r_s + u0 * k_tc_q_ld + 16 * qb, k_tc_q_ld);
      split_tf32(a_hi, a_lo);
#pragma unroll
      for (int c = 0; c < CB; ++c) {
        const int cb = cb0 + 2 * c;
        if (cb < column_blocks) {  // warp-uniform; a guard, not a break, keeps acc[] in registers
          tc_b_row b_hi, b_lo;
          wmma::load_matrix_sync(b_hi, h_s + u0 * h_ld + 16 * cb, h_ld);
          split_tf32(b_hi, b_lo);
          mma_3xtf32(acc[c], a_hi, a_lo, b_hi, b_lo);
        }
      }
    }
  }

  __syncthreads();  // the R tile is free: each warp stages its fragments in its 256 floats of it
  float* stage = r_s + warp * 256;
  float* out = t + static_cast<std::int64_t>(blockIdx.y) * particles * cols;
#pragma unroll
  for (int c = 0; c < CB; ++c) {
    const int cb = cb0 + 2 * c;
    if (cb < column_blocks) {
      wmma::store_matrix_sync(stage, acc[c], 16, wmma::mem_row_major);
      __syncwarp();
      for (int k = lane; k < 256; k += 32) {
        const int q = q0 + 16 * qb + k / 16, col = 16 * cb + k % 16;
        const int j = col < m8 ? col : col - m8;
        if (q < particles && j < m) out[static_cast<std::int64_t>(q) * cols + (col < m8 ? j : m + j)] = stage[k];
      }
      __syncwarp();
    }
  }
}

}  // namespace attnswarm::ATTN_KERNELS_NS
