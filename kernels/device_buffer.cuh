// Owning RAII handles for device memory, pinned host memory, streams, events and the cuBLAS
// handle. Move-only; every allocation is checked, and a device out-of-memory is a cuda_error
// whose code() is cudaErrorMemoryAllocation (the driver halves its batch on it). No managed
// memory anywhere.
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
    if (count == 0) return;
    const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(T));
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // an allocation failure is not sticky: clear it for the next check
      throw cuda_error(e, "cudaMalloc", __FILE__, __LINE__);
    }
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
  void download(T* h_dst, std::size_t count, cudaStream_t s, std::size_t offset = 0) const {
    if (count == 0) return;
    ATTN_CUDA_CHECK(cudaMemcpyAsync(h_dst, ptr_ + offset, count * sizeof(T), cudaMemcpyDeviceToHost, s));
  }
  void copy_from(const device_buffer& src, std::size_t count, cudaStream_t s) {
    if (count == 0) return;
    ATTN_CUDA_CHECK(cudaMemcpyAsync(ptr_, src.get(), count * sizeof(T), cudaMemcpyDeviceToDevice, s));
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

// Page-locked host memory, so that copies to the device run asynchronously at full speed.
template <typename T>
class pinned_buffer {
 public:
  pinned_buffer() = default;
  explicit pinned_buffer(std::size_t count) : count_(count) {
    if (count > 0) ATTN_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&ptr_), count * sizeof(T)));
  }
  ~pinned_buffer() {
    if (ptr_ != nullptr) cudaFreeHost(ptr_);
  }
  pinned_buffer(pinned_buffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  pinned_buffer& operator=(pinned_buffer&& o) noexcept {
    if (this != &o) {
      if (ptr_ != nullptr) cudaFreeHost(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  pinned_buffer(const pinned_buffer&) = delete;
  pinned_buffer& operator=(const pinned_buffer&) = delete;

  T* get() const { return ptr_; }
  std::size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

class cuda_event {
 public:
  // Without timing by default (cheaper to record and wait on); cudaEventDefault to time.
  explicit cuda_event(unsigned flags = cudaEventDisableTiming) { ATTN_CUDA_CHECK(cudaEventCreateWithFlags(&e_, flags)); }
  ~cuda_event() { cudaEventDestroy(e_); }
  cuda_event(const cuda_event&) = delete;
  cuda_event& operator=(const cuda_event&) = delete;
  cudaEvent_t get() const { return e_; }
  void record(cudaStream_t s) const { ATTN_CUDA_CHECK(cudaEventRecord(e_, s)); }
  void sync() const { ATTN_CUDA_CHECK(cudaEventSynchronize(e_)); }
  // Work queued on s after this call waits for the work recorded before.
  void wait_on(cudaStream_t s) const { ATTN_CUDA_CHECK(cudaStreamWaitEvent(s, e_, 0)); }

 private:
  cudaEvent_t e_{};
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
