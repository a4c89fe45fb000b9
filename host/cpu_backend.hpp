// The CPU reference backend: OpenMP over users, OpenBLAS SGEMM for the batched evaluation.
#pragma once

#include <memory>

#include "backend.hpp"

namespace attnswarm {

std::unique_ptr<backend> make_cpu_backend(const problem& p, int threads);

}  // namespace attnswarm
