#include "trace.hpp"

#include "errors.hpp"

#ifdef ATTNSWARM_WITH_CUDA
#include <cuda_profiler_api.h>
#include <cuda_runtime_api.h>
#include <nvtx3/nvToolsExt.h>

#include <string>
#endif

namespace attnswarm {

#ifdef ATTNSWARM_WITH_CUDA
trace_range::trace_range(const char* name) { nvtxRangePushA(name); }
trace_range::~trace_range() { nvtxRangePop(); }

void profiler_start() {
  const cudaError_t rc = cudaProfilerStart();
  if (rc != cudaSuccess) throw unavailable_error(std::string("--profile: cudaProfilerStart failed: ") + cudaGetErrorName(rc));
}
void profiler_stop() {
  const cudaError_t rc = cudaProfilerStop();
  if (rc != cudaSuccess) throw unavailable_error(std::string("--profile: cudaProfilerStop failed: ") + cudaGetErrorName(rc));
}
#else
trace_range::trace_range(const char*) {}
trace_range::~trace_range() = default;

void profiler_start() { throw unavailable_error("--profile: CUDA was not compiled in"); }
void profiler_stop() { throw unavailable_error("--profile: CUDA was not compiled in"); }
#endif

}  // namespace attnswarm
