// How the CUDA backend's batched evaluation cuts users into float32 partial sums, shared by
// the kernels and the host's memory plan (compiles with g++ and nvcc).
#pragma once

#include <cstdint>

namespace attnswarm {

// Users per float32 partial sum of the batched evaluation; the partials are added in float64
// (DESIGN §1, Numerics). Batches are cut into chunks of this many users from their start.
// 2,048 keeps the float32 sums' rounding near that of the CPU reference's 512-user blocks
// (the CPU and CUDA swarms must agree to 1e-5 for 20 iterations) at the cost of writing one
// P x 2M partial per 2,048 users, a few percent of an evaluation's memory traffic.
constexpr std::int64_t k_chunk_rows = 2048;

constexpr std::int64_t chunks_of(std::int64_t rows) { return (rows + k_chunk_rows - 1) / k_chunk_rows; }

}  // namespace attnswarm
