// C = op(A) op(B) as cuBLAS documents it (column-major: element (i, j) of op(A) is
// A[i + j lda], or A[j + i lda] transposed), float64 inside. The emulated kernel tests check
// the cuBLAS path's call sequence with it, and the fake device's cuBLAS is it.
#pragma once

#include <cstddef>
#include <vector>

namespace attnswarm::testing {

inline void reference_gemm(bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda, const float* b,
                           int ldb, float* c, int ldc) {
  const auto at = [](const float* x, int ld, bool trans, int i, int j) {
    return static_cast<double>(trans ? x[j + static_cast<std::size_t>(i) * ld] : x[i + static_cast<std::size_t>(j) * ld]);
  };
  std::vector<double> sum(static_cast<std::size_t>(m) * n, 0.0);  // l outermost: A's columns stay in cache
  for (int l = 0; l < k; ++l)
    for (int j = 0; j < n; ++j) {
      const double blj = at(b, ldb, trans_b, l, j);
      for (int i = 0; i < m; ++i) sum[i + static_cast<std::size_t>(j) * m] += at(a, lda, trans_a, i, l) * blj;
    }
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i)
      c[i + static_cast<std::size_t>(j) * ldc] = static_cast<float>(sum[i + static_cast<std::size_t>(j) * m]);
}

}  // namespace attnswarm::testing
