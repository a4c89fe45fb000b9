// The fake device's runtime and cuBLAS (include/cuda_runtime.h, include/cublas_v2.h): device
// memory is host memory, counted against a cap the tests set.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "../reference_gemm.hpp"
#include "memory.hpp"

namespace {

struct device_memory {
  std::mutex mutex;
  std::size_t total = std::size_t{1} << 30, taken = 0, used = 0;
  std::map<void*, std::size_t> blocks;
};
device_memory& memory() {
  static device_memory m;
  return m;
}

}  // namespace

struct fake_cuda_stream {};
struct fake_cuda_event {};
struct fake_cublas_context {};

namespace attnswarm::fake_device {
void set_memory(std::size_t total, std::size_t taken) {
  const std::lock_guard<std::mutex> lock(memory().mutex);
  memory().total = total;
  memory().taken = taken;
}
std::size_t allocated_bytes() {
  const std::lock_guard<std::mutex> lock(memory().mutex);
  return memory().used;
}
}  // namespace attnswarm::fake_device

cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  device_memory& m = memory();
  const std::lock_guard<std::mutex> lock(m.mutex);
  if (m.taken + m.used + bytes > m.total) return cudaErrorMemoryAllocation;
  *p = std::malloc(bytes == 0 ? 1 : bytes);
  if (*p == nullptr) return cudaErrorMemoryAllocation;
  std::memset(*p, 0xa5, bytes);  // what was left there before: never zero by luck
  m.blocks[*p] = bytes;
  m.used += bytes;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  device_memory& m = memory();
  const std::lock_guard<std::mutex> lock(m.mutex);
  const auto it = m.blocks.find(p);
  if (it == m.blocks.end()) return cudaErrorInvalidValue;
  m.used -= it->second;
  m.blocks.erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, std::size_t bytes) {
  *p = std::malloc(bytes == 0 ? 1 : bytes);
  return *p == nullptr ? cudaErrorMemoryAllocation : cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind, cudaStream_t) {
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t) {
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  device_memory& m = memory();
  const std::lock_guard<std::mutex> lock(m.mutex);
  *free_bytes = m.total - m.taken - m.used;
  *total_bytes = m.total;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  *prop = cudaDeviceProp{};
  std::strcpy(prop->name, "fake device");
  prop->totalGlobalMem = memory().total;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() { return cudaSuccess; }
const char* cudaGetErrorName(cudaError_t e) {
  return e == cudaSuccess ? "cudaSuccess" : e == cudaErrorMemoryAllocation ? "cudaErrorMemoryAllocation" : "cudaErrorInvalidValue";
}
const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaSuccess ? "no error" : e == cudaErrorMemoryAllocation ? "out of memory" : "invalid argument";
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new fake_cuda_stream;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = new fake_cuda_event;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = new fake_cublas_context;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace(cublasHandle_t, void*, std::size_t) { return CUBLAS_STATUS_SUCCESS; }
const char* cublasGetStatusName(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}
const char* cublasGetStatusString(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? "success" : "invalid value"; }
cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k,
                           const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta,
                           float* c, int ldc) {
  if (*alpha != 1.0f || *beta != 0.0f) return CUBLAS_STATUS_INVALID_VALUE;
  attnswarm::testing::reference_gemm(op_a == CUBLAS_OP_T, op_b == CUBLAS_OP_T, m, n, k, a, lda, b, ldb, c, ldc);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n,
                                         int k, const float* alpha, const float* a, int lda, long long stride_a,
                                         const float* b, int ldb, long long stride_b, const float* beta, float* c,
                                         int ldc, long long stride_c, int count) {
  for (int x = 0; x < count; ++x) {
    const cublasStatus_t s = cublasSgemm(h, op_a, op_b, m, n, k, alpha, a + x * stride_a, lda, b + x * stride_b, ldb,
                                         beta, c + x * stride_c, ldc);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
  }
  return CUBLAS_STATUS_SUCCESS;
}
