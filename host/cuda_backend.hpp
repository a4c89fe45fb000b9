// The CUDA backend (DESIGN §3), behind the host-only backend interface: nothing here needs a
// CUDA header. Available only in builds with ATTNSWARM_WITH_CUDA.
#pragma once

#include <memory>

#include "backend.hpp"

namespace attnswarm {

// Throws unavailable_error when the device cannot hold the problem.
std::unique_ptr<backend> make_cuda_backend(const problem& p, int device);

}  // namespace attnswarm
