// The CUDA runtime as the fake-device tests see it: what the CUDA backend's host driver and
// launchers call, on host memory, one "device" whose memory can be capped (to provoke the
// driver's out-of-memory handling). Streams are queues, as on a GPU: a copy, memset, kernel
// launch, cuBLAS or CUB call only queues its work, which runs when the host waits for it
// (cudaStreamSynchronize, cudaEventSynchronize, a copy into pageable host memory, cudaFree),
// in an order that runtime.cpp's schedule picks among the orders CUDA allows. So a missing
// wait or synchronization gives wrong numbers here where a GPU would give them only by bad
// luck. Kernels run on tests/cuda_emulator.hpp, included here so that it comes before every
// kernel header.
#pragma once

#include <cstddef>
#include <functional>

struct fake_cuda_stream;
struct fake_cuda_event;
using cudaStream_t = fake_cuda_stream*;
using cudaEvent_t = fake_cuda_event*;

// Queues work on stream s (nullptr: the default stream); it runs when the host waits for it.
void fake_device_enqueue(cudaStream_t s, std::function<void()> work);
#define ATTN_EMULATOR_ENQUEUE fake_device_enqueue
// Whether the device takes a launch of `kernel` in this shape (the emulator's sm_90 limits,
// and past 48 KiB of dynamic shared memory the kernel's opt-in); if not, the launch does not
// run and its error waits for cudaGetLastError, as on a GPU.
struct dim3;
bool fake_device_accept_launch(const void* kernel, const dim3& grid, const dim3& block, std::size_t shared_bytes);
#define ATTN_EMULATOR_ACCEPT_LAUNCH fake_device_accept_launch
// Whether [p, p + bytes) lies inside one device allocation (the fake libraries' checks).
bool fake_device_holds(const void* p, std::size_t bytes);
// Whether every pointer among a launch's arguments points into device memory (nullptr
// aside); if one does not, the launch does not run and cudaGetLastError says
// cudaErrorIllegalAddress, as the GPU's fault would.
template <typename... Args>
bool fake_device_accept_arguments(const Args&... args);
#define ATTN_EMULATOR_ACCEPT_ARGUMENTS fake_device_accept_arguments

#include "../../cuda_emulator.hpp"

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorIllegalAddress = 700
};

// Leaves e for cudaGetLastError, as a failed call does.
void fake_device_fail(cudaError_t e);
template <typename T>
bool fake_device_argument_on_device(const T&) {
  return true;
}
template <typename T>
bool fake_device_argument_on_device(T* p) {
  return p == nullptr || fake_device_holds(p, 1);
}
template <typename... Args>
bool fake_device_accept_arguments(const Args&... args) {
  if ((fake_device_argument_on_device(args) && ...)) return true;
  fake_device_fail(cudaErrorIllegalAddress);
  return false;
}
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDeviceAttr { cudaDevAttrClockRate = 13 };

constexpr unsigned cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0;
constexpr unsigned cudaEventDisableTiming = 2;

struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  int major, minor;
  int multiProcessorCount;
};

cudaError_t cudaMalloc(void** p, std::size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, std::size_t bytes);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes);
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaGetLastError();
cudaError_t cudaDeviceSynchronize();
const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);
// A kernel's opt-in to dynamic shared memory past 48 KiB, up to sm_90's 227 KiB.
cudaError_t fake_device_set_max_dynamic_shared(const void* kernel, cudaFuncAttribute attr, int bytes);
template <typename Kernel>
cudaError_t cudaFuncSetAttribute(Kernel kernel, cudaFuncAttribute attr, int bytes) {
  return fake_device_set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), attr, bytes);
}
