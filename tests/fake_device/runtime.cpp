// The fake device's runtime and cuBLAS (include/cuda_runtime.h, include/cublas_v2.h): device
// memory is host memory, counted against a cap the tests set; streams are queues whose work
// runs when the host waits for it, in the order the schedule picks (control.hpp). One host
// thread drives it, as the CUDA backend does.
//
// What runs when, following CUDA's rules: a copy from pageable host memory reads its source
// at once (CUDA stages it before the call returns) and writes the device later; a copy into
// pageable host memory returns only when it has run (so it runs the stream's earlier work
// first); copies from and into pinned memory, memsets, kernels, cuBLAS and CUB run later.
// cudaStreamWaitEvent waits for the event's latest record queued before it (none: no wait);
// cudaFree, cudaFreeHost and cudaDeviceSynchronize wait for all work. A copy or memset that
// reaches outside the device allocations (or, for the host side, outside pinned memory
// where it claims to be pinned) fails with cudaErrorInvalidValue. A launch the device would
// refuse (the emulator's sm_90 limits, or dynamic shared memory past 48 KiB without the
// kernel's opt-in) or fault in (a pointer argument outside device memory) does not run.
// Every call that fails leaves its error for cudaGetLastError, as CUDA's do. cuBLAS checks
// its dimensions, leading dimensions and workspace as cuBLAS documents, and that its
// matrices lie in device memory.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cuda_profiler_api.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../reference_gemm.hpp"
#include "control.hpp"

namespace {

struct device_memory {
  std::mutex mutex;
  std::size_t total = std::size_t{1} << 30, taken = 0, used = 0;
  std::map<const void*, std::size_t> blocks, pinned;
};
device_memory& memory() {
  static device_memory m;
  return m;
}

// Whether [p, p + bytes) lies inside one block of `blocks`.
bool inside(const std::map<const void*, std::size_t>& blocks, const void* p, std::size_t bytes) {
  auto it = blocks.upper_bound(p);
  if (it == blocks.begin()) return false;
  --it;
  const auto* base = static_cast<const unsigned char*>(it->first);
  const auto* at = static_cast<const unsigned char*>(p);
  return at >= base && bytes <= it->second && static_cast<std::size_t>(at - base) <= it->second - bytes;
}
bool on_device(const void* p, std::size_t bytes) {
  const std::lock_guard<std::mutex> lock(memory().mutex);
  return inside(memory().blocks, p, bytes);
}
bool pinned(const void* p, std::size_t bytes) {
  const std::lock_guard<std::mutex> lock(memory().mutex);
  return inside(memory().pinned, p, bytes);
}

struct event_state {
  std::uint64_t queued = 0, done = 0;  // records queued, records run (generations)
  fake_cuda_stream* stream = nullptr;  // where the latest record was queued
  bool timing = true;
  std::chrono::steady_clock::time_point ran;  // when the latest record ran
};

struct stream_op {
  std::function<void()> work;           // a copy, memset, kernel or library call; else:
  std::shared_ptr<event_state> event;   // a record of `event`, or (waits) a wait for one
  std::uint64_t generation = 0;
  fake_cuda_stream* recorded_on = nullptr;  // a wait: the stream that queued the record
  bool wait = false;
};

}  // namespace

struct fake_cuda_stream {
  std::deque<stream_op> queue;
};
struct fake_cuda_event {
  std::shared_ptr<event_state> state = std::make_shared<event_state>();
};
struct fake_cublas_context {
  cudaStream_t stream = nullptr;
};

namespace {

using attnswarm::fake_device::schedule;

// ATTNSWARM_FAKE_SCHEDULE=others_first starts a program under that schedule (the GPU tests'
// ctest runs some of them so); lazy otherwise.
schedule initial_schedule() {
  const char* s = std::getenv("ATTNSWARM_FAKE_SCHEDULE");
  return s && std::string(s) == "others_first" ? schedule::others_first : schedule::lazy;
}

struct scheduler {
  schedule order = initial_schedule();
  fake_cuda_stream default_stream;
  std::vector<fake_cuda_stream*> streams{&default_stream};  // live ones, the default first

  fake_cuda_stream* resolve(cudaStream_t s) { return s == nullptr ? &default_stream : s; }

  static bool blocked(const fake_cuda_stream* s) {
    const stream_op& op = s->queue.front();
    return op.wait && op.event->done < op.generation;
  }
  static bool runnable(const fake_cuda_stream* s) { return !s->queue.empty() && !blocked(s); }
  static void run_front(fake_cuda_stream* s) {
    stream_op op = std::move(s->queue.front());
    s->queue.pop_front();
    if (op.work) {
      op.work();
    } else if (!op.wait) {
      op.event->done = std::max(op.event->done, op.generation);
      op.event->ran = std::chrono::steady_clock::now();
    }
  }

  // Runs queued work until done() holds; the target stream's work is what done() awaits.
  void complete(fake_cuda_stream* target, const std::function<bool()>& done) {
    while (!done()) {
      if (order == schedule::others_first) {
        bool ran = false;
        for (fake_cuda_stream* o : streams)
          while (o != target && runnable(o)) {
            run_front(o);
            ran = true;
          }
        if (done()) return;
        if (runnable(target)) {
          run_front(target);
        } else if (!ran) {
          throw std::logic_error("fake device: no queued work can run, yet the host waits for some");
        }
        continue;
      }
      if (target->queue.empty()) throw std::logic_error("fake device: the host waits for work never queued");
      if (blocked(target)) {
        // a wait binds to a record queued before it, so the recording stream never waits back
        const stream_op& op = target->queue.front();
        const std::shared_ptr<event_state> event = op.event;
        const std::uint64_t generation = op.generation;
        complete(op.recorded_on, [&] { return event->done >= generation; });
      } else {
        run_front(target);
      }
    }
  }
  void drain(fake_cuda_stream* s) {
    complete(s, [s] { return s->queue.empty(); });
  }
  void drain_all() {
    for (std::size_t k = 0; k < streams.size(); ++k) drain(streams[k]);
  }
  void enqueue(cudaStream_t s, std::function<void()> work) {
    stream_op op;
    op.work = std::move(work);
    resolve(s)->queue.push_back(std::move(op));
  }
};
scheduler& sched() {
  static scheduler s;
  return s;
}

}  // namespace

void fake_device_enqueue(cudaStream_t s, std::function<void()> work) { sched().enqueue(s, std::move(work)); }

namespace {

struct trace {
  std::vector<std::string> names;
  int depth = 0;
  void add(const std::string& name) {
    names.push_back(name);
    if (const char* file = std::getenv("ATTNSWARM_FAKE_TRACE_LOG"))
      if (std::FILE* f = std::fopen(file, "a")) {
        std::fprintf(f, "%s\n", name.c_str());
        std::fclose(f);
      }
  }
};
trace& traced() {
  static trace t;
  return t;
}

// As CUDA's runtime: every call that fails leaves its error here, and cudaGetLastError
// returns it and clears it (so a driver that carries on after an error must clear it, or its
// next launch check reports the old error).
thread_local cudaError_t last_error = cudaSuccess;
cudaError_t failed(cudaError_t e) {
  last_error = e;
  return e;
}

// The name and message of each code the fake returns, in CUDA's and cuBLAS's words; the last
// of a table stands for any other.
struct error_words {
  int code;
  const char* name;
  const char* text;
};
constexpr error_words cuda_errors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"}};
constexpr error_words cublas_errors[] = {
    {CUBLAS_STATUS_SUCCESS, "CUBLAS_STATUS_SUCCESS", "success"},
    {CUBLAS_STATUS_EXECUTION_FAILED, "CUBLAS_STATUS_EXECUTION_FAILED", "the GPU program failed to execute"},
    {CUBLAS_STATUS_INVALID_VALUE, "CUBLAS_STATUS_INVALID_VALUE", "invalid value"}};
template <std::size_t N>
const error_words& words_of(const error_words (&table)[N], int code) {
  for (const error_words& w : table)
    if (w.code == code) return w;
  return table[N - 1];
}

// The kernels' opt-ins to dynamic shared memory past 48 KiB (cudaFuncSetAttribute).
std::map<const void*, std::size_t>& shared_opt_ins() {
  static std::map<const void*, std::size_t> m;
  return m;
}

}  // namespace

int nvtxRangePushA(const char* name) {
  traced().add(name);
  return traced().depth++;
}
int nvtxRangePop() { return traced().depth > 0 ? --traced().depth : -1; }
cudaError_t cudaProfilerStart() {
  traced().add("cudaProfilerStart");
  return cudaSuccess;
}
cudaError_t cudaProfilerStop() {
  sched().drain_all();  // as CUDA's: the profiled work has finished
  traced().add("cudaProfilerStop");
  return cudaSuccess;
}

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
void set_schedule(schedule s) { sched().order = s; }
const char* schedule_name(schedule s) { return s == schedule::lazy ? "lazy" : "others_first"; }
std::vector<std::string> trace_log() { return traced().names; }
int open_ranges() { return traced().depth; }
std::size_t pending_operations() {
  std::size_t n = 0;
  for (const fake_cuda_stream* s : sched().streams) n += s->queue.size();
  return n;
}
}  // namespace attnswarm::fake_device

cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  device_memory& m = memory();
  const std::lock_guard<std::mutex> lock(m.mutex);
  if (m.taken + m.used + bytes > m.total) return failed(cudaErrorMemoryAllocation);
  // aligned as cudaMalloc's (256 bytes), and exactly `bytes` long, so that a sanitizer sees
  // any access past the end (tools/memcheck_fake_device.sh)
  if (posix_memalign(p, 256, bytes == 0 ? 1 : bytes) != 0) return failed(cudaErrorMemoryAllocation);
  std::memset(*p, 0xa5, bytes);  // what was left there before: never zero by luck
  m.blocks[*p] = bytes;
  m.used += bytes;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  sched().drain_all();
  device_memory& m = memory();
  const std::lock_guard<std::mutex> lock(m.mutex);
  const auto it = m.blocks.find(p);
  if (it == m.blocks.end()) return failed(cudaErrorInvalidValue);
  m.used -= it->second;
  m.blocks.erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, std::size_t bytes) {
  *p = std::malloc(bytes == 0 ? 1 : bytes);
  if (*p == nullptr) return failed(cudaErrorMemoryAllocation);
  const std::lock_guard<std::mutex> lock(memory().mutex);
  memory().pinned[*p] = bytes;
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  if (p == nullptr) return cudaSuccess;
  sched().drain_all();
  const std::lock_guard<std::mutex> lock(memory().mutex);
  if (memory().pinned.erase(p) == 0) return failed(cudaErrorInvalidValue);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  if (bytes == 0) return cudaSuccess;
  switch (kind) {
    case cudaMemcpyHostToDevice:
      if (!on_device(dst, bytes)) return failed(cudaErrorInvalidValue);
      if (pinned(src, bytes)) {
        sched().enqueue(s, [=] { std::memmove(dst, src, bytes); });
      } else {
        const auto* from = static_cast<const unsigned char*>(src);
        sched().enqueue(s, [dst, staged = std::vector<unsigned char>(from, from + bytes)] {
          std::memcpy(dst, staged.data(), staged.size());
        });
      }
      return cudaSuccess;
    case cudaMemcpyDeviceToHost:
      if (!on_device(src, bytes)) return failed(cudaErrorInvalidValue);
      sched().enqueue(s, [=] { std::memmove(dst, src, bytes); });
      if (!pinned(dst, bytes)) sched().drain(sched().resolve(s));
      return cudaSuccess;
    case cudaMemcpyDeviceToDevice:
      if (!on_device(dst, bytes) || !on_device(src, bytes)) return failed(cudaErrorInvalidValue);
      sched().enqueue(s, [=] { std::memmove(dst, src, bytes); });
      return cudaSuccess;
  }
  return failed(cudaErrorInvalidValue);
}
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t s) {
  if (bytes == 0) return cudaSuccess;
  if (!on_device(p, bytes)) return failed(cudaErrorInvalidValue);
  sched().enqueue(s, [=] { std::memset(p, value, bytes); });
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  device_memory& m = memory();
  const std::lock_guard<std::mutex> lock(m.mutex);
  *free_bytes = m.total - m.taken - m.used;
  *total_bytes = m.total;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0 || attr != cudaDevAttrClockRate) return failed(cudaErrorInvalidValue);
  *value = 1000000;  // kHz
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : failed(cudaErrorInvalidValue); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return failed(cudaErrorInvalidValue);
  *prop = cudaDeviceProp{};
  std::strcpy(prop->name, "fake device");
  prop->totalGlobalMem = memory().total;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
bool fake_device_holds(const void* p, std::size_t bytes) { return on_device(p, bytes); }
void fake_device_fail(cudaError_t e) { failed(e); }
cudaError_t fake_device_set_max_dynamic_shared(const void* kernel, cudaFuncAttribute attr, int bytes) {
  namespace emu = attnswarm::emulated;
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || bytes < 0 ||
      static_cast<std::size_t>(bytes) > emu::k_max_dynamic_shared)
    return failed(cudaErrorInvalidValue);
  shared_opt_ins()[kernel] = static_cast<std::size_t>(bytes);
  return cudaSuccess;
}
bool fake_device_accept_launch(const void* kernel, const dim3& grid, const dim3& block, std::size_t shared_bytes) {
  namespace emu = attnswarm::emulated;
  if (emu::launch_config_problem(grid, block, shared_bytes) != nullptr) {
    failed(shared_bytes > emu::k_max_dynamic_shared ? cudaErrorInvalidValue : cudaErrorInvalidConfiguration);
    return false;
  }
  if (shared_bytes > emu::k_default_dynamic_shared) {
    const auto it = shared_opt_ins().find(kernel);
    if (it == shared_opt_ins().end() || it->second < shared_bytes) {
      failed(cudaErrorInvalidValue);
      return false;
    }
  }
  return true;
}
const char* cudaGetErrorName(cudaError_t e) { return words_of(cuda_errors, e).name; }
const char* cudaGetErrorString(cudaError_t e) { return words_of(cuda_errors, e).text; }
cudaError_t cudaDeviceSynchronize() {
  sched().drain_all();
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new fake_cuda_stream;
  sched().streams.push_back(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (s == nullptr) return failed(cudaErrorInvalidValue);
  sched().drain(s);  // CUDA lets queued work finish after the call; here it finishes first
  auto& live = sched().streams;
  live.erase(std::find(live.begin(), live.end(), s));
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  sched().drain(sched().resolve(s));
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned) {
  if (e->state->queued == 0) return cudaSuccess;  // never recorded: nothing to wait for
  stream_op op;
  op.event = e->state;
  op.generation = e->state->queued;
  op.recorded_on = e->state->stream;
  op.wait = true;
  sched().resolve(s)->queue.push_back(std::move(op));
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  *e = new fake_cuda_event;
  (*e)->state->timing = (flags & cudaEventDisableTiming) == 0;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;  // queued records and waits keep its state
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  fake_cuda_stream* on = sched().resolve(s);
  stream_op op;
  op.event = e->state;
  op.generation = ++e->state->queued;
  e->state->stream = on;
  on->queue.push_back(std::move(op));
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  const std::shared_ptr<event_state> state = e->state;
  if (state->queued == 0) return cudaSuccess;
  const std::uint64_t generation = state->queued;
  sched().complete(state->stream, [&] { return state->done >= generation; });
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  const event_state &a = *start->state, &b = *stop->state;
  // CUDA's errors: an event without timing, or one whose latest record has not run
  if (!a.timing || !b.timing || a.queued == 0 || b.queued == 0 || a.done < a.queued || b.done < b.queued)
    return failed(cudaErrorInvalidValue);
  *ms = std::chrono::duration<float, std::milli>(b.ran - a.ran).count();
  return cudaSuccess;
}

cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = new fake_cublas_context;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace(cublasHandle_t, void* workspace, std::size_t bytes) {
  // cuBLAS's rule: device memory, 256-byte aligned (none: its own pool)
  if (bytes > 0 && (!on_device(workspace, bytes) || reinterpret_cast<std::uintptr_t>(workspace) % 256 != 0))
    return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusName(cublasStatus_t s) { return words_of(cublas_errors, s).name; }
const char* cublasGetStatusString(cublasStatus_t s) { return words_of(cublas_errors, s).text; }
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k,
                           const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta,
                           float* c, int ldc) {
  // alpha and beta are host values (cuBLAS's default pointer mode): read now, as cuBLAS does
  if (*alpha != 1.0f || *beta != 0.0f) return CUBLAS_STATUS_INVALID_VALUE;
  // cuBLAS's own argument checks: op(A) is m x k, op(B) k x n, C m x n, column-major
  const int a_rows = op_a == CUBLAS_OP_N ? m : k, b_rows = op_b == CUBLAS_OP_N ? k : n;
  if (m < 0 || n < 0 || k < 0 || lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  // every matrix in device memory, or a GPU faults on it (here: the call fails at once)
  const auto on_device_matrix = [](const float* x, int rows, int cols, int ld) {
    if (rows == 0 || cols == 0) return true;
    return on_device(x, (static_cast<std::size_t>(ld) * (cols - 1) + rows) * sizeof(float));
  };
  if (!on_device_matrix(a, a_rows, op_a == CUBLAS_OP_N ? k : m, lda) ||
      !on_device_matrix(b, b_rows, op_b == CUBLAS_OP_N ? n : k, ldb) || !on_device_matrix(c, m, n, ldc))
    return CUBLAS_STATUS_EXECUTION_FAILED;
  sched().enqueue(h->stream, [=] {
    attnswarm::testing::reference_gemm(op_a == CUBLAS_OP_T, op_b == CUBLAS_OP_T, m, n, k, a, lda, b, ldb, c, ldc);
  });
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n,
                                         int k, const float* alpha, const float* a, int lda, long long stride_a,
                                         const float* b, int ldb, long long stride_b, const float* beta, float* c,
                                         int ldc, long long stride_c, int count) {
  if (count < 0) return CUBLAS_STATUS_INVALID_VALUE;
  for (int x = 0; x < count; ++x) {
    const cublasStatus_t s = cublasSgemm(h, op_a, op_b, m, n, k, alpha, a + x * stride_a, lda, b + x * stride_b, ldb,
                                         beta, c + x * stride_c, ldc);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
  }
  return CUBLAS_STATUS_SUCCESS;
}
