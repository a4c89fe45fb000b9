// The cuBLAS path of the batched evaluation (DESIGN §3) over one batch, written against a
// BLAS with cuBLAS's column-major conventions: the CUDA driver runs it with cuBLAS, and the
// tests with a reference GEMM that follows cuBLAS's documented semantics, so the argument
// order is checked without a GPU. The row-major buffers seen column-major: H (rows x 2M) is
// 2M x rows with ld 2M, E (P x M) is M x P with ld M, Den (rows x P) is P x rows with ld P,
// and each chunk of T (chunks x P x 2M) is 2M x P with ld 2M. Host code, no CUDA header.
#pragma once

#include <cstddef>
#include <cstdint>

#include "batch_layout.hpp"

namespace attnswarm {

enum class blas_op { n, t };

// Blas has, with alpha = 1 and beta = 0 (C = op(A) op(B), A m x k, B k x n after op):
//   gemm(op_a, op_b, m, n, k, a, lda, b, ldb, c, ldc)
//   gemm_strided_batched(op_a, op_b, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc, stride_c, count)
//   inverse_density(den, r, rows, particles): R = r / Den in place (0 where Den <= 0)
// and the result is the chunk partials t[k][q][c] = sum_{i in chunk k} R_iq H_ic.
template <typename Blas>
void chunked_products(Blas& blas, const float* h, const float* r, std::int64_t rows, const float* e, int particles,
                      int m, float* den, float* t) {
  const int n = static_cast<int>(rows), cols = 2 * m;
  // Den^T (P x rows) = E (P x M) * G0^T (M x rows): G0 is the first M of H's 2M rows.
  blas.gemm(blas_op::t, blas_op::n, particles, n, m, e, m, h, cols, den, particles);
  blas.inverse_density(den, r, rows, particles);
  // Per chunk k: T_k (2M x P) = H_k (2M x chunk) * R_k (chunk x P), R_k = Den_k^T.
  const int full = static_cast<int>(rows / k_chunk_rows), rest = static_cast<int>(rows % k_chunk_rows);
  const long long chunk = k_chunk_rows, per_chunk = static_cast<long long>(particles) * cols;
  if (full > 0)
    blas.gemm_strided_batched(blas_op::n, blas_op::t, cols, particles, static_cast<int>(chunk), h, cols, chunk * cols,
                              den, particles, chunk * particles, t, cols, per_chunk, full);
  if (rest > 0) {
    const std::size_t done = static_cast<std::size_t>(full) * k_chunk_rows;
    blas.gemm(blas_op::n, blas_op::t, cols, particles, rest, h + done * cols, cols, den + done * particles, particles,
              t + full * per_chunk, cols);
  }
}

}  // namespace attnswarm
