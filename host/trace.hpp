// Named ranges for Nsight Systems around each phase of a run (NVTX), and the profiler
// start/stop that `solve --profile` brackets the solve with. Host-only declarations; in a
// build without CUDA every call is a no-op.
#pragma once

namespace attnswarm {

// Range names used across the code: load, upload, shape search, evaluate, swarm step, bound,
// report.
class trace_range {
 public:
  explicit trace_range(const char* name);
  ~trace_range();
  trace_range(const trace_range&) = delete;
  trace_range& operator=(const trace_range&) = delete;
};

// cudaProfilerStart / cudaProfilerStop (for nsys --capture-range=cudaProfilerApi and
// ncu --profile-from-start off); they throw unavailable_error in a build without CUDA.
void profiler_start();
void profiler_stop();

}  // namespace attnswarm
