// Fused batched evaluation (DESIGN §3): the densities Den = G0 E^T and R = r / Den of a tile
// of users live only in shared memory, so the users x P intermediate of the cuBLAS path is
// never written to device memory.
// Work split: grid (chunks of k_chunk_rows users) x (groups of 32 particles), 256 threads.
// A block walks its chunk in tiles of 32 users. Per tile: the tile of H is staged in shared
// memory (coalesced, rows padded to an odd stride so both access patterns below are free of
// bank conflicts); step A: thread (user = lane, particles 4*warp..4*warp+3) computes four
// densities and writes R to shared memory; step B: thread (particles 4*warp..+3, columns
// lane + 32k) adds R_uq H_uc into 16 * NSLAB float32 registers. At the end of its chunk the
// block writes its P-group x 2M partial, the same layout the cuBLAS path writes.
// Float32 throughout (explicit fmaf: the build passes --fmad=false for the shared math).
#include <algorithm>
#include <stdexcept>

#include "cuda_check.cuh"
#include "fused_eval.cuh"

namespace attnswarm {

namespace {

constexpr int k_tile_users = 32;
constexpr int k_group_particles = 32;
constexpr int k_fused_threads = 256;
constexpr int k_slab_columns = 128;  // columns per register slab: 4 per thread x 32 lanes

template <int NSLAB>
__host__ __device__ constexpr int padded_stride() {
  return NSLAB * k_slab_columns + 1;
}

template <int NSLAB>
std::size_t fused_shared_bytes(int m) {
  return sizeof(float) * (static_cast<std::size_t>(k_tile_users) * padded_stride<NSLAB>() +  // H tile
                          static_cast<std::size_t>(k_group_particles) * m +                  // E of the group
                          static_cast<std::size_t>(k_tile_users) * (k_group_particles + 1) +  // R tile
                          k_tile_users);                                                      // r of the tile
}

template <int NSLAB>
__global__ void __launch_bounds__(k_fused_threads)
    fused_eval_kernel(const float* h, const float* r, std::int64_t rows, const float* e, int particles, int m, float* t) {
  constexpr int width = NSLAB * k_slab_columns, stride = padded_stride<NSLAB>(), r_stride = k_group_particles + 1;
  extern __shared__ float smem[];
  float* h_s = smem;
  float* e_s = h_s + k_tile_users * stride;
  float* r_s = e_s + k_group_particles * m;
  float* mass_s = r_s + k_tile_users * r_stride;

  const int cols = 2 * m;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int q0 = blockIdx.y * k_group_particles;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * k_chunk_rows;
  const std::int64_t last = rows < first + k_chunk_rows ? rows : first + k_chunk_rows;

  for (int k = tid; k < k_group_particles * m; k += k_fused_threads) {
    const int q = q0 + k / m;
    e_s[k] = q < particles ? e[static_cast<std::int64_t>(q) * m + k % m] : 0.0f;
  }
  float acc[4][4 * NSLAB];
#pragma unroll
  for (int a = 0; a < 4; ++a)
#pragma unroll
    for (int b = 0; b < 4 * NSLAB; ++b) acc[a][b] = 0.0f;

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

    {  // step A: densities of user `lane` for particles 4*warp .. 4*warp+3
      const float* hu = h_s + lane * stride;
      const float* eq = e_s + 4 * warp * m;
      float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
      for (int j = 0; j < m; ++j) {
        const float g = hu[j];
        d0 = fmaf(g, eq[j], d0);
        d1 = fmaf(g, eq[m + j], d1);
        d2 = fmaf(g, eq[2 * m + j], d2);
        d3 = fmaf(g, eq[3 * m + j], d3);
      }
      const float ru = mass_s[lane];
      float* rr = r_s + lane * r_stride + 4 * warp;
      rr[0] = d0 > 0.0f ? ru / d0 : 0.0f;
      rr[1] = d1 > 0.0f ? ru / d1 : 0.0f;
      rr[2] = d2 > 0.0f ? ru / d2 : 0.0f;
      rr[3] = d3 > 0.0f ? ru / d3 : 0.0f;
    }
    __syncthreads();

    // step B: acc[a][b] += R[u][4*warp + a] * H[u][lane + 32 b]
    for (int u = 0; u < users; ++u) {
      const float* hu = h_s + u * stride;
      const float* ru = r_s + u * r_stride + 4 * warp;
      const float rv[4] = {ru[0], ru[1], ru[2], ru[3]};
#pragma unroll
      for (int b = 0; b < 4 * NSLAB; ++b) {
        const float hv = hu[lane + 32 * b];
#pragma unroll
        for (int a = 0; a < 4; ++a) acc[a][b] = fmaf(rv[a], hv, acc[a][b]);
      }
    }
  }

  float* out = t + static_cast<std::int64_t>(blockIdx.x) * particles * cols;
#pragma unroll
  for (int a = 0; a < 4; ++a) {
    const int q = q0 + 4 * warp + a;
    if (q >= particles) continue;
#pragma unroll
    for (int b = 0; b < 4 * NSLAB; ++b) {
      const int c = lane + 32 * b;
      if (c < cols) out[static_cast<std::int64_t>(q) * cols + c] = acc[a][b];
    }
  }
}

template <int NSLAB>
void launch_slabs(const float* d_h, const float* d_r, std::int64_t rows, const float* d_e, int particles, int m,
                  float* d_t, cudaStream_t s) {
  const std::size_t shared = fused_shared_bytes<NSLAB>(m);
  ATTN_CUDA_CHECK(cudaFuncSetAttribute(fused_eval_kernel<NSLAB>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(shared)));
  const dim3 grid(static_cast<unsigned>(chunks_of(rows)),
                  static_cast<unsigned>((particles + k_group_particles - 1) / k_group_particles));
  fused_eval_kernel<NSLAB><<<grid, k_fused_threads, shared, s>>>(d_h, d_r, rows, d_e, particles, m, d_t);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_fused_eval(const float* d_h, const float* d_r, std::int64_t rows, const float* d_e, int particles, int m,
                       float* d_t, cudaStream_t s) {
  if (m < 1 || m > k_fused_max_tasks) throw std::invalid_argument("fused evaluation: M must be in [1, 128]");
  if (rows == 0 || particles == 0) return;
  if (2 * m <= k_slab_columns)
    launch_slabs<1>(d_h, d_r, rows, d_e, particles, m, d_t, s);
  else
    launch_slabs<2>(d_h, d_r, rows, d_e, particles, m, d_t, s);
}

}  // namespace attnswarm
