#include "row_layout.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace attnswarm {

namespace {

void pack_matrix(const npy_array& src, std::int64_t m, const std::int64_t* users, std::int64_t rows, float* out) {
  if (src.type() == dtype::f32) {
    const float* d = static_cast<const float*>(src.data());
#pragma omp parallel for schedule(static)
    for (std::int64_t k = 0; k < rows; ++k) std::memcpy(out + k * m, d + users[k] * m, sizeof(float) * m);
    return;
  }
  const double* d = static_cast<const double*>(src.data());
#pragma omp parallel for schedule(static)
  for (std::int64_t k = 0; k < rows; ++k)
    for (std::int64_t j = 0; j < m; ++j) out[k * m + j] = static_cast<float>(d[users[k] * m + j]);
}

}  // namespace

row_layout make_row_layout(const problem& p, std::int64_t batch_rows) {
  if (batch_rows <= 0) throw std::invalid_argument("row layout: batch_rows must be > 0");
  row_layout l;
  std::vector<std::int64_t> count(static_cast<std::size_t>(p.segments) + 1, 0);
  for (auto s : p.segment) ++count[static_cast<std::size_t>(s) + 1];
  std::partial_sum(count.begin(), count.end(), count.begin());
  l.seg_begin = count;
  l.order.resize(static_cast<std::size_t>(p.users));
  std::vector<std::int64_t> next(count.begin(), count.end() - 1);
  for (std::int64_t i = 0; i < p.users; ++i) l.order[next[p.segment[i]]++] = i;
  for (int s = 0; s < p.segments; ++s)
    for (std::int64_t b = l.seg_begin[s]; b < l.seg_begin[s + 1]; b += batch_rows)
      l.batches.push_back(row_batch{b, std::min(batch_rows, l.seg_begin[s + 1] - b), s});
  return l;
}

void pack_rows(const problem& p, const row_layout& layout, std::int64_t begin, std::int64_t rows, float* f, float* a,
               double* mass) {
  const std::int64_t* users = layout.order.data() + begin;
  pack_matrix(p.fitness, p.tasks, users, rows, f);
  pack_matrix(p.attraction, p.tasks, users, rows, a);
  for (std::int64_t k = 0; k < rows; ++k) mass[k] = p.mass[users[k]];
}

}  // namespace attnswarm
