// Every CUDA runtime call goes through ATTN_CUDA_CHECK: a failure becomes an exception
// naming the file, the line and the error, never an exit().
#pragma once

#include <cuda_runtime.h>

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

inline void cuda_check(cudaError_t code, const char* call, const char* file, int line) {
  if (code != cudaSuccess) throw cuda_error(code, call, file, line);
}

}  // namespace attnswarm::detail

#define ATTN_CUDA_CHECK(call) ::attnswarm::detail::cuda_check((call), #call, __FILE__, __LINE__)
