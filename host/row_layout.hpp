// The users in segment order and the batches the CUDA backend cuts them into: each batch
// holds users of one segment only, so that one product per batch uses one segment's
// policy. Host-only (the CPU tests check it); the CUDA driver uploads or streams the rows in
// this order.
#pragma once

#include <cstdint>
#include <vector>

#include "problem.hpp"

namespace attnswarm {

struct row_batch {
  std::int64_t begin = 0;  // first position in segment order
  std::int64_t rows = 0;
  int segment = 0;
};

struct row_layout {
  std::vector<std::int64_t> order;      // position in segment order -> user (stable within a segment)
  std::vector<std::int64_t> seg_begin;  // segments + 1 positions
  std::vector<row_batch> batches;       // in order; none is empty
};

// Batches of at most batch_rows users (> 0), cut from the start of every segment.
row_layout make_row_layout(const problem& p, std::int64_t batch_rows);

// Rows [begin, begin + rows) of the segment order: F and A as float32 (rows x M) and mass.
void pack_rows(const problem& p, const row_layout& layout, std::int64_t begin, std::int64_t rows, float* f, float* a,
               double* mass);

}  // namespace attnswarm
