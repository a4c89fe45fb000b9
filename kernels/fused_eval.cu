// Launcher of the fused batched evaluation (kernels/fused_eval_kernel.cuh).
#include <stdexcept>

#include "cuda_check.cuh"
#include "fused_eval.cuh"
#include "fused_eval_kernel.cuh"

namespace attnswarm {

namespace {

using namespace detail;

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
