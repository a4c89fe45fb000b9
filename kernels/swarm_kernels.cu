// Launchers of the swarm kernels (kernels/swarm_step_kernels.cuh) and the best of swarm: one
// CUB ArgMin over the P personal-best values.
#include <cub/device/device_reduce.cuh>

#include "cuda_check.cuh"
#include "swarm_kernels.cuh"
#include "swarm_step_kernels.cuh"

namespace attnswarm {

using namespace detail;
using namespace ATTN_KERNELS_NS;  // the kernels: detail, or the emulator's namespace

void launch_swarm_move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, int particles, int dims, bool ring,
                       const double* d_pbest_f, const std::int64_t* d_best_index, const double* d_pbest, double* d_x,
                       double* d_v, cudaStream_t s) {
  if (particles <= 0 || dims <= 0) return;
  ATTN_LAUNCH(swarm_move_kernel, particles, k_swarm_threads, 0, s)(seed, t, c, particles, dims, ring, d_pbest_f, d_best_index,
                                                          d_pbest, d_x, d_v);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

void launch_swarm_record(int particles, int dims, const double* d_f, const double* d_x, double* d_pbest,
                         double* d_pbest_f, cudaStream_t s) {
  if (particles <= 0 || dims <= 0) return;
  ATTN_LAUNCH(swarm_record_kernel, particles, k_swarm_threads, 0, s)(dims, d_f, d_x, d_pbest, d_pbest_f);
  ATTN_CUDA_CHECK(cudaGetLastError());
}

std::size_t best_of_swarm_temp_bytes(int particles) {
  std::size_t bytes = 0;
  ATTN_CUDA_CHECK(cub::DeviceReduce::ArgMin(nullptr, bytes, static_cast<const double*>(nullptr),
                                            static_cast<double*>(nullptr), static_cast<std::int64_t*>(nullptr),
                                            particles));
  return bytes;
}

void launch_best_of_swarm(void* d_temp, std::size_t temp_bytes, const double* d_pbest_f, int particles,
                          double* d_best_value, std::int64_t* d_best_index, cudaStream_t s) {
  ATTN_CUDA_CHECK(
      cub::DeviceReduce::ArgMin(d_temp, temp_bytes, d_pbest_f, d_best_value, d_best_index, particles, s));
}

}  // namespace attnswarm
