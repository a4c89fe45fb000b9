// Owning RAII handles for device memory, streams and the cuBLAS handle. Move-only; every
// allocation is checked. No managed memory anywhere.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "cuda_check.cuh"

namespace attnswarm::detail {

template <typename T>
class device_buffer {
 public:
  device_buffer() = default;
  explicit device_buffer(std::size_t count) : count_(count) {
    if (count > 0) ATTN_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(T)));
  }
  ~device_buffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  device_buffer(device_buffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  device_buffer& operator=(device_buffer&& o) noexcept {
    if (this != &o) {
      if (ptr_ != nullptr) cudaFree(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;

  T* get() const { return ptr_; }
  std::size_t size() const { return count_; }

  void upload(const T* h_src, std::size_t count, cudaStream_t s, std::size_t offset = 0) {
    if (count == 0) return;
    ATTN_CUDA_CHECK(cudaMemcpyAsync(ptr_ + offset, h_src, count * sizeof(T), cudaMemcpyHostToDevice, s));
  }
  void download(T* h_dst, std::size_t count, cudaStream_t s) const {
    if (count == 0) return;
    ATTN_CUDA_CHECK(cudaMemcpyAsync(h_dst, ptr_, count * sizeof(T), cudaMemcpyDeviceToHost, s));
  }
  // Fills every byte with 0xff: NaN for floats, -1 for integers, so unwritten elements show.
  void poison(cudaStream_t s) {
    if (count_ > 0) ATTN_CUDA_CHECK(cudaMemsetAsync(ptr_, 0xff, count_ * sizeof(T), s));
  }
  void zero(cudaStream_t s) {
    if (count_ > 0) ATTN_CUDA_CHECK(cudaMemsetAsync(ptr_, 0, count_ * sizeof(T), s));
  }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

class cuda_stream {
 public:
  cuda_stream() { ATTN_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~cuda_stream() { cudaStreamDestroy(s_); }
  cuda_stream(const cuda_stream&) = delete;
  cuda_stream& operator=(const cuda_stream&) = delete;
  cudaStream_t get() const { return s_; }
  void sync() const { ATTN_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_{};
};

class cublas_handle {
 public:
  cublas_handle() { ATTN_CUBLAS_CHECK(cublasCreate(&h_)); }
  ~cublas_handle() { cublasDestroy(h_); }
  cublas_handle(const cublas_handle&) = delete;
  cublas_handle& operator=(const cublas_handle&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_{};
};

}  // namespace attnswarm::detail
