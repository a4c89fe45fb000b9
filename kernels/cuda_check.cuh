// Every CUDA runtime call goes through ATTN_CUDA_CHECK (cuBLAS: ATTN_CUBLAS_CHECK): a failure becomes an exception
// naming the file, the line and the error, never an exit().
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace attnswarm::detail {

class cuda_error : public std::runtime_error {
 public:
  cuda_error(cudaError_t code, const char* call, const char* file, int line)
      : std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " +
                           cudaGetErrorName(code) + " (" + cudaGetErrorString(code) + ")"),
        code_(code) {}
  cudaError_t code() const { return code_; }

 private:
  cudaError_t code_;
};

inline bool is_out_of_memory(const cuda_error& e) { return e.code() == cudaErrorMemoryAllocation; }

inline void cuda_check(cudaError_t code, const char* call, const char* file, int line) {
  if (code != cudaSuccess) throw cuda_error(code, call, file, line);
}

inline void cublas_check(cublasStatus_t code, const char* call, const char* file, int line) {
  if (code != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " +
                             cublasGetStatusName(code) + " (" + cublasGetStatusString(code) + ")");
}

}  // namespace attnswarm::detail

// kernel<<<grid, block, shared, stream>>>: a macro, so that the launchers' own code also runs
// on the CPU under tests/cuda_emulator.hpp, which defines it first (the fake-device tests).
#ifndef ATTN_LAUNCH
#define ATTN_LAUNCH(kernel, grid, block, shared, stream) kernel<<<grid, block, shared, stream>>>
#endif

#define ATTN_CUBLAS_CHECK(call) ::attnswarm::detail::cublas_check((call), #call, __FILE__, __LINE__)
#define ATTN_CUDA_CHECK(call) ::attnswarm::detail::cuda_check((call), #call, __FILE__, __LINE__)

namespace attnswarm::detail {

// Lets `kernel` take `bytes` of dynamic shared memory (past 48 KiB only by this opt-in).
template <typename Kernel>
void allow_dynamic_shared(Kernel kernel, std::size_t bytes) {
  ATTN_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

}  // namespace attnswarm::detail
