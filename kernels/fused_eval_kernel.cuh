// The fused batched-evaluation kernel, device code only: kernels/fused_eval.cu launches it,
// and tests/cuda_emulator.hpp runs the same source on the CPU (so no CUDA header here).
// Fused batched evaluation (DESIGN §3): the densities Den = G0 E^T and R = r / Den of a tile
// of users live only in shared memory, so the users x P intermediate of the cuBLAS path is
// never written to device memory.
// Work split: grid (groups of 64 particles) x (chunks of k_chunk_rows users), 8 warps of
// 32 threads (the groups on x, the fastest index, so that the blocks that share a chunk are
// scheduled together and its H comes from DRAM once, then from L2); warp w owns particles 8w .. 8w+7 of the group. A block walks its chunk in tiles
// of 32 users. Per tile: the tile of H is staged in shared memory (coalesced, rows padded to
// an odd stride so both access patterns below are free of bank conflicts); step A: thread
// (user = lane, the warp's 8 particles) computes eight densities (E of the group is stored
// task-major, so a task's 8 exponents are two broadcast float4) and writes its 8 R values to
// shared memory as two float4; step B: thread (the warp's 8 particles, columns lane + 32k)
// reads the user's 8 R values as two broadcast float4 and adds R_uq H_uc into 32 * NSLAB
// float32 registers: 8 FMAs per shared load of H. At the end of its chunk the block writes
// its group x 2M partial, the same layout the cuBLAS path writes.
// Float32 throughout (explicit fmaf: the build passes --fmad=false for the shared math).
#pragma once

#include <cstddef>
#include <cstdint>

#include "batch_layout.hpp"

// detail in the CUDA build; the tests' CPU emulator names its own, so that its copies of the
// kernels never meet the CUDA library's launch stubs at link time.
#ifndef ATTN_KERNELS_NS
#define ATTN_KERNELS_NS detail
#endif

namespace attnswarm::ATTN_KERNELS_NS {


constexpr int k_tile_users = 32;
constexpr int k_fused_warps = 8;
constexpr int k_warp_particles = 8;  // two float4 of E and of R
constexpr int k_group_particles = k_fused_warps * k_warp_particles;
constexpr int k_fused_threads = 32 * k_fused_warps;
constexpr int k_slab_columns = 128;  // columns per register slab: 4 per lane x 32 lanes
// Floats per user in the R tile: the group's 64 particles padded to 68, so that each lane's
// float4 stores (step A) are 16-byte aligned and a quarter warp's stores hit distinct banks.
constexpr int k_r_stride = k_group_particles + 4;

template <int NSLAB>
__host__ __device__ constexpr int padded_stride() {
  return NSLAB * k_slab_columns + 1;
}

template <int NSLAB>
std::size_t fused_shared_bytes(int m) {
  return sizeof(float) * (static_cast<std::size_t>(k_tile_users) * padded_stride<NSLAB>() +  // H tile
                          static_cast<std::size_t>(k_group_particles) * m +                  // E of the group
                          static_cast<std::size_t>(k_tile_users) * k_r_stride +               // R tile
                          k_tile_users);                                                      // r of the tile
}

template <int NSLAB>
__global__ void __launch_bounds__(k_fused_threads)
    fused_eval_kernel(const float* h, const float* r, std::int64_t rows, const float* e, int particles, int m, float* t) {
  constexpr int width = NSLAB * k_slab_columns, stride = padded_stride<NSLAB>(), columns = 4 * NSLAB;
  // float4: every region below starts 16-byte aligned. The 128 bytes are the tensor kernel's
  // need (the two kernels share this declaration in one translation unit).
  extern __shared__ __align__(128) float4 smem4[];
  float* h_s = reinterpret_cast<float*>(smem4);
  float* e_s = h_s + k_tile_users * stride;
  float* r_s = e_s + k_group_particles * m;
  float* mass_s = r_s + k_tile_users * k_r_stride;

  const int cols = 2 * m;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  // q0: the group's first particle; qw: the warp's first within the group
  const int q0 = blockIdx.x * k_group_particles, qw = k_warp_particles * warp;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * k_chunk_rows;
  const std::int64_t last = rows < first + k_chunk_rows ? rows : first + k_chunk_rows;

  // e_s[j][qq] = E of particle q0 + qq for task j (task-major; 0 past the last particle)
  for (int k = tid; k < k_group_particles * m; k += k_fused_threads) {
    const int j = k / k_group_particles, q = q0 + k % k_group_particles;
    e_s[k] = q < particles ? e[static_cast<std::int64_t>(q) * m + j] : 0.0f;
  }
  float acc[k_warp_particles][columns];
#pragma unroll
  for (int a = 0; a < k_warp_particles; ++a)
#pragma unroll
    for (int b = 0; b < columns; ++b) acc[a][b] = 0.0f;

  for (std::int64_t tile = first; tile < last; tile += k_tile_users) {
    const int users = static_cast<int>(last - tile < k_tile_users ? last - tile : k_tile_users);
    __syncthreads();  // the previous tile is consumed (and e_s is written before the first)
    const float* src = h + tile * cols;
    for (int k = tid; k < k_tile_users * width; k += k_fused_threads) {
      const int u = k / width, c = k % width;
      h_s[u * stride + c] = u < users && c < cols ? src[static_cast<std::int64_t>(u) * cols + c] : 0.0f;
    }
    if (tid < k_tile_users) mass_s[tid] = tid < users ? r[tile + tid] : 0.0f;
    __syncthreads();

    {  // step A: densities of user `lane` for the warp's particles qw .. qw+7
      const float* hu = h_s + lane * stride;
      const float4* eq = reinterpret_cast<const float4*>(e_s + qw);  // task j: eq[j * 16], eq[j * 16 + 1]
      float d[k_warp_particles];
#pragma unroll
      for (int a = 0; a < k_warp_particles; ++a) d[a] = 0.0f;
      for (int j = 0; j < m; ++j) {
        const float g = hu[j];
        const float4 lo = eq[j * (k_group_particles / 4)], hi = eq[j * (k_group_particles / 4) + 1];
        const float ev[k_warp_particles] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
        for (int a = 0; a < k_warp_particles; ++a) d[a] = fmaf(g, ev[a], d[a]);
      }
      const float ru = mass_s[lane];
      float rq[k_warp_particles];
#pragma unroll
      for (int a = 0; a < k_warp_particles; ++a) rq[a] = d[a] > 0.0f ? ru / d[a] : 0.0f;
      float4* rr = reinterpret_cast<float4*>(r_s + lane * k_r_stride + qw);
      rr[0] = make_float4(rq[0], rq[1], rq[2], rq[3]);
      rr[1] = make_float4(rq[4], rq[5], rq[6], rq[7]);
    }
    __syncthreads();

    // step B: acc[a][b] += R[u][qw + a] * H[u][lane + 32 b]
    for (int u = 0; u < users; ++u) {
      const float* hu = h_s + u * stride;
      const float4* ru = reinterpret_cast<const float4*>(r_s + u * k_r_stride + qw);
      const float4 lo = ru[0], hi = ru[1];
      const float rv[k_warp_particles] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
      for (int b = 0; b < columns; ++b) {
        const float hv = hu[lane + 32 * b];
#pragma unroll
        for (int a = 0; a < k_warp_particles; ++a) acc[a][b] = fmaf(rv[a], hv, acc[a][b]);
      }
    }
  }

  float* out = t + static_cast<std::int64_t>(blockIdx.y) * particles * cols;
#pragma unroll
  for (int a = 0; a < k_warp_particles; ++a) {
    const int q = q0 + qw + a;
    if (q >= particles) continue;
#pragma unroll
    for (int b = 0; b < columns; ++b) {
      const int c = lane + 32 * b;
      if (c < cols) out[static_cast<std::int64_t>(q) * cols + c] = acc[a][b];
    }
  }
}

}  // namespace attnswarm::ATTN_KERNELS_NS
