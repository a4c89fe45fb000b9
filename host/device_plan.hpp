// How the CUDA backend lays a problem out in device memory (DESIGN §3). Resident: F, A and
// the per-shape matrix H = [G0 | A o G0] stay on the device (16 bytes per user and task);
// streamed: batches of users travel from pinned host memory, two in flight, so that the copy
// of batch k+1 overlaps the work on batch k. Pure arithmetic on the host, so the CPU tests
// check it; the driver (host/cuda_backend.cu) follows it and halves the batch when the device
// runs out of memory anyway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "../kernels/batch_layout.hpp"

namespace attnswarm {

// Batches hold at most this many users, and never fewer than k_min_batch_rows.
constexpr std::int64_t k_max_batch_rows = std::int64_t{1} << 20;
constexpr std::int64_t k_min_batch_rows = 256;
// Users per launch of the report kernel (its top-k output is staged per launch).
constexpr std::int64_t k_report_rows = 16384;
// Blocks of the row kernels (report, dual pass): also the rows of partials that
// launch_sum_partials adds on the device.
constexpr int k_row_blocks = 1024;
// The cuBLAS workspace the driver hands to cuBLAS, counted in the budget.
constexpr std::size_t k_cublas_workspace_bytes = std::size_t{4} << 20;
// An allowance for the storage of CUB's ArgMin over the swarm's personal bests, which CUB
// sizes at run time; for a swarm's few thousand values it is a tile's partials at most.
constexpr std::size_t k_swarm_reduce_bytes = std::size_t{64} << 10;

struct device_plan_inputs {
  std::int64_t users = 0, tasks = 0;
  int segments = 1;
  int particles = 256;  // the most policies one batched evaluation holds at once
  int topk = 64;        // the largest top-k the report stages (k_max_topk of the kernels)
  // The cuBLAS path's densities Den (users x P float32 per batch); the fused kernels keep
  // them on chip and need none.
  bool densities = true;
  std::size_t budget_bytes = 0;  // what the driver may allocate
};

struct device_plan {
  bool resident = true;
  std::int64_t batch_rows = 0;
  std::size_t bytes = 0;  // device memory the plan allocates
};

// Bytes that do not scale with the users: policy exponents, accumulators, partials, top-k
// staging, the swarm state and the cuBLAS workspace.
std::size_t fixed_device_bytes(const device_plan_inputs& in);
// Bytes of one batch's evaluation workspace: densities (if in.densities) and a float32
// partial per chunk of users.
std::size_t batch_workspace_bytes(const device_plan_inputs& in, std::int64_t batch_rows);
// Bytes per user of the resident arrays (F, A, H, mass, r).
std::size_t resident_bytes_per_row(const device_plan_inputs& in);
// Bytes per user of a batch when streaming (two pinned-to-device slots, H and r of one batch).
std::size_t streamed_bytes_per_row(const device_plan_inputs& in);
// Bytes a plan with this mode and batch size allocates: what the driver allocates, to the byte
// (but for CUB's storage, counted as k_swarm_reduce_bytes).
std::size_t plan_bytes(const device_plan_inputs& in, bool resident, std::int64_t batch_rows);

// Resident when it fits with at least a minimum batch, else streamed; the largest batch that
// fits. Throws unavailable_error (naming the budget and what is needed) when not even
// a streamed minimum batch fits.
device_plan plan_device_memory(const device_plan_inputs& in);

// "64M", "2G", "1.5GiB", "4096" (bytes) -> bytes; K, M, G, T are powers of 1024. Throws
// input_error naming `what` on anything else or on zero.
std::size_t parse_byte_size(const std::string& text, const std::string& what);

}  // namespace attnswarm
