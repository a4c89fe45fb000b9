// The CPU reference backend: OpenMP over users, OpenBLAS SGEMM for the batched evaluation.
#pragma once

#include <memory>
#include <string>

#include "backend.hpp"

namespace attnswarm {

// `why_not_cuda`: when --backend auto saw a CUDA device and did not use it, the reason; the
// device description carries it, so that the summary says why the run is on the CPU.
std::unique_ptr<backend> make_cpu_backend(const problem& p, int threads, const std::string& why_not_cuda = {});

}  // namespace attnswarm
