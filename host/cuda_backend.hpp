// The CUDA backend (DESIGN §3), behind the host-only backend interface: nothing here needs a
// CUDA header. Available only in builds with ATTNSWARM_WITH_CUDA.
#pragma once

#include <memory>

#include "backend.hpp"

namespace attnswarm {

// Plans device memory (host/device_plan.hpp): resident when the problem fits the budget, else
// streamed. Throws unavailable_error when not even a streamed minimum batch fits, input_error
// on a bad option. With tf32 the cuBLAS products may use TF32 tensor cores (10-bit mantissa
// inputs): faster, less exact.
std::unique_ptr<backend> make_cuda_backend(const problem& p, int device, const backend_options& o);

}  // namespace attnswarm
