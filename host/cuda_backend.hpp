// The CUDA backend (DESIGN §3), behind the host-only backend interface: nothing here needs a
// CUDA header. Available only in builds with ATTNSWARM_WITH_CUDA.
#pragma once

#include <memory>

#include "backend.hpp"

namespace attnswarm {

// Throws unavailable_error when the device cannot hold the problem. With tf32 the batched
// products may use TF32 tensor cores (10-bit mantissa inputs): faster, less exact.
std::unique_ptr<backend> make_cuda_backend(const problem& p, int device, bool tf32);

}  // namespace attnswarm
