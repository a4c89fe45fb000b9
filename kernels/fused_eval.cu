// Launchers of the fused batched evaluation: on float32 FMAs (kernels/fused_eval_kernel.cuh)
// and on tensor cores in 3xTF32 (kernels/tensor_eval_kernel.cuh, which needs sm_80 or newer).
#include <mma.h>

#include <stdexcept>
#include <string>

#include "cuda_check.cuh"
#include "fused_eval.cuh"
#include "fused_eval_kernel.cuh"
#include "tensor_eval_kernel.cuh"

namespace attnswarm {

namespace {

using namespace detail;
using namespace ATTN_KERNELS_NS;  // the kernels: detail, or the emulator's namespace

// Either fused kernel: a block per (group of `group` particles, chunk of users), with
// `shared` bytes of dynamic shared memory. Blocks start in the order of x, then y: with the
// groups on x, the P / group blocks that read the same chunk of H run at the same time, so
// H comes from DRAM once and from L2 for the other groups (with the chunks on x, the blocks
// of one chunk would start a whole grid row apart, long after its H has left the L2).
template <typename Kernel>
void launch_over_chunks(Kernel kernel, std::size_t shared, int threads, int group, const float* d_h, const float* d_r,
                        std::int64_t rows, const float* d_e, int particles, int m, float* d_t, cudaStream_t s) {
  allow_dynamic_shared(kernel, shared);
  constexpr std::int64_t max_grid_y = 65535;
  if (chunks_of(rows) > max_grid_y)
    throw std::invalid_argument("fused evaluation: " + std::to_string(rows) + " users in one launch; at most " +
                                std::to_string(max_grid_y * k_chunk_rows));
  const dim3 grid(static_cast<unsigned>((particles + group - 1) / group), static_cast<unsigned>(chunks_of(rows)));
  ATTN_LAUNCH(kernel, grid, threads, shared, s)(d_h, d_r, rows, d_e, particles, m, d_t);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_fused_eval(const float* d_h, const float* d_r, std::int64_t rows, const float* d_e, int particles, int m,
                       float* d_t, cudaStream_t s) {
  if (m < 1 || m > k_fused_max_tasks) throw std::invalid_argument("fused evaluation: M must be in [1, 128]");
  if (rows == 0 || particles == 0) return;
  const auto launch = [&](auto kernel, std::size_t shared) {
    launch_over_chunks(kernel, shared, k_fused_threads, k_group_particles, d_h, d_r, rows, d_e, particles, m, d_t, s);
  };
  if (2 * m <= k_slab_columns)
    launch(fused_eval_kernel<1>, fused_shared_bytes<1>(m));
  else
    launch(fused_eval_kernel<2>, fused_shared_bytes<2>(m));
}

void launch_tensor_eval(const float* d_h, const float* d_r, std::int64_t rows, const float* d_e, int particles, int m,
                        float* d_t, cudaStream_t s) {
  if (m < 1 || m > k_fused_max_tasks) throw std::invalid_argument("tensor evaluation: M must be in [1, 128]");
  if (rows == 0 || particles == 0) return;
  const auto launch = [&](auto kernel) {
    launch_over_chunks(kernel, tc_shared_bytes(m), k_tc_threads, k_tc_group, d_h, d_r, rows, d_e, particles, m, d_t, s);
  };
  switch (tc_column_fragments(m)) {
    case 1: launch(tensor_eval_kernel<1>); break;
    case 2: launch(tensor_eval_kernel<2>); break;
    case 4: launch(tensor_eval_kernel<4>); break;
    default: launch(tensor_eval_kernel<8>); break;
  }
}

}  // namespace attnswarm
