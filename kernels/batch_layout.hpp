// How the CUDA backend's batched evaluation cuts users into float32 partial sums, shared by
// the kernels and the host's memory plan (compiles with g++ and nvcc).
#pragma once

#include <cstdint>

namespace attnswarm {

// Users per float32 partial sum of the batched evaluation; the partials are added in float64
// (DESIGN §1, Numerics). Batches are cut into chunks of this many users from their start.
constexpr std::int64_t k_chunk_rows = 8192;

constexpr std::int64_t chunks_of(std::int64_t rows) { return (rows + k_chunk_rows - 1) / k_chunk_rows; }

}  // namespace attnswarm
