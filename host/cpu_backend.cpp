// CPU reference backend. Work split: users are cut into fixed-size chunks (independent of the
// thread count); OpenMP threads take chunks, and per-chunk float64 partials are summed in
// chunk order, so results are bit-identical for any thread count.
#include "cpu_backend.hpp"

#include <cblas.h>
#include <omp.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "../kernels/attn_math.hpp"

namespace attnswarm {

namespace {

// Users per chunk of the batched evaluation: the chunk's Den (chunk x P) and its rows of H
// stay in L2 while the two products run.
constexpr std::int64_t k_eval_chunk = 512;
// Users per chunk of the exact one-policy report.
constexpr std::int64_t k_report_chunk = 4096;
// Accumulator slots of the batched evaluation; slot k owns chunks k, k+K, ... in order.
constexpr int k_slots = 32;

struct chunk {
  int segment;
  std::int64_t begin, end;  // rows of the segment-sorted matrices
};

// Flush-to-zero and denormals-are-zero for the calling thread's float arithmetic while it
// lives (x86-64's MXCSR; elsewhere nothing). Why: at beta 32 and more, G0 = A^beta holds
// float32 subnormals, and on x86 every product with one takes a microcode assist: a swarm at
// beta 32 ran 21x slower than at beta 8, at beta 64 35x (bench/RESULTS.md, 2026-12-04). Reading
// them as 0 moves a user's density by less than 1e-29 of itself (the row's largest entry
// of G0 is 1, and exp(W) >= exp(-w_max)), far below float32's rounding; the exact float64
// report is not under it.
class subnormals_flushed {
 public:
#if defined(__SSE2__)
  subnormals_flushed() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | k_ftz | k_daz); }
  ~subnormals_flushed() { _mm_setcsr(saved_); }
#endif
  subnormals_flushed(const subnormals_flushed&) = delete;
  subnormals_flushed& operator=(const subnormals_flushed&) = delete;

 private:
#if defined(__SSE2__)
  static constexpr unsigned k_ftz = 0x8000, k_daz = 0x0040;
  unsigned saved_;
#endif
};

class cpu_backend final : public backend {
 public:
  cpu_backend(const problem& p, int threads, const std::string& why_not_cuda)
      : p_(p),
        why_not_cuda_(why_not_cuda),
        threads_(threads > 0 ? threads : omp_get_max_threads()),
        f32_(p.fitness.type() == dtype::f32 && p.attraction.type() == dtype::f32) {
    // Each OpenMP thread calls SGEMM on its own chunk; OpenBLAS must not spawn more.
    openblas_set_num_threads(1);
    group_users_by_segment();
  }

  std::string name() const override { return "cpu"; }
  std::string device_description() const override {
    return "CPU reference, " + std::to_string(threads_) + " OpenMP threads" +
           (why_not_cuda_.empty() ? std::string() : " (" + why_not_cuda_ + ")");
  }

  void set_shape(const shape& s) override {
    const std::int64_t m = p_.tasks, n = p_.users;
    h_.assign(static_cast<std::size_t>(n * 2 * m), 0.0f);
    r_.resize(static_cast<std::size_t>(n));
#pragma omp parallel num_threads(threads_)
    {
      std::vector<double> f(m), a(m), g0(m);
#pragma omp for schedule(static)
      for (std::int64_t k = 0; k < n; ++k) {
        const std::int64_t i = order_[static_cast<std::size_t>(k)];
        float* h = h_.data() + k * 2 * m;
        with_rows(i, f.data(), a.data(), [&](const auto* fi, const auto* ai) {
          shape_row(fi, ai, static_cast<int>(m), 1.0 / s.tau, s.beta, g0.data());
          for (std::int64_t j = 0; j < m; ++j) {
            h[j] = static_cast<float>(g0[j]);
            h[m + j] = static_cast<float>(static_cast<double>(ai[j]) * value_scale_ * g0[j]);
          }
        });
        r_[static_cast<std::size_t>(k)] = static_cast<float>(p_.mass[static_cast<std::size_t>(i)] * mass_scale_);
      }
    }
    shaped_ = true;
  }

  void evaluate(const double* policies, int count, double* served) override {
    const std::int64_t m = p_.tasks, d = p_.dims();
    const int pc = count;
    if (pc <= 0) return;
    if (!shaped_) throw std::logic_error("cpu backend: evaluate() before set_shape()");
    // exp(W) per segment: float for the products, double for the final scaling.
    std::vector<float> e32(static_cast<std::size_t>(p_.segments * pc * m));
    std::vector<double> e64(e32.size());
    for (int s = 0; s < p_.segments; ++s)
      for (int q = 0; q < pc; ++q)
        for (std::int64_t j = 0; j < m; ++j) {
          const double e = std::exp(policies[q * d + s * m + j]);
          const std::size_t at = (static_cast<std::size_t>(s) * pc + q) * m + j;
          e64[at] = e;
          e32[at] = static_cast<float>(e);
        }
    const int slots = std::min<int>(k_slots, std::max<std::size_t>(1, chunks_.size()));
    const std::size_t lv = static_cast<std::size_t>(pc) * 2 * m;
    std::vector<double> acc(static_cast<std::size_t>(slots) * lv, 0.0);
#pragma omp parallel num_threads(threads_)
    {
      const subnormals_flushed flushed;  // OpenBLAS runs in this thread (one BLAS thread each)
      std::vector<float> den(static_cast<std::size_t>(k_eval_chunk) * pc);
      std::vector<float> t(lv);
#pragma omp for schedule(dynamic, 1)
      for (int slot = 0; slot < slots; ++slot) {
        double* a = acc.data() + slot * lv;
        for (std::size_t c = slot; c < chunks_.size(); c += slots) {
          const chunk& ch = chunks_[c];
          const int rows = static_cast<int>(ch.end - ch.begin);
          const float* h = h_.data() + ch.begin * 2 * m;
          const float* e = e32.data() + static_cast<std::size_t>(ch.segment) * pc * m;
          // Den = G0 * E^T  (rows x P)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, pc, static_cast<int>(m), 1.0f,
                      h, static_cast<int>(2 * m), e, static_cast<int>(m), 0.0f, den.data(), pc);
          // R = r / Den, 0 for idle users
          for (int u = 0; u < rows; ++u) {
            const float r = r_[static_cast<std::size_t>(ch.begin + u)];
            float* row = den.data() + static_cast<std::size_t>(u) * pc;
            for (int q = 0; q < pc; ++q) row[q] = row[q] > 0.0f ? r / row[q] : 0.0f;
          }
          // T = R^T [G0 | A o G0]  (P x 2M)
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, pc, static_cast<int>(2 * m), rows,
                      1.0f, den.data(), pc, h, static_cast<int>(2 * m), 0.0f, t.data(),
                      static_cast<int>(2 * m));
          const double* e_d = e64.data() + static_cast<std::size_t>(ch.segment) * pc * m;
          for (int q = 0; q < pc; ++q)
            for (std::int64_t j = 0; j < m; ++j) {
              const double eq = e_d[q * m + j];
              a[q * 2 * m + j] += eq * t[q * 2 * m + j];
              a[q * 2 * m + m + j] += eq * t[q * 2 * m + m + j];
            }
        }
      }
    }
    std::vector<double> sums(static_cast<std::size_t>(2 * m));
    for (int q = 0; q < pc; ++q) {
      for (std::int64_t c = 0; c < 2 * m; ++c) {
        double sum = 0.0;
        for (int slot = 0; slot < slots; ++slot) sum += acc[slot * lv + q * 2 * m + c];
        sums[static_cast<std::size_t>(c)] = sum;
      }
      served[q] = served_from_scaled_sums(p_.capacity.data(), sums.data(), sums.data() + m, static_cast<int>(m),
                                         mass_scale_, value_scale_);
    }
  }

  policy_report report(const double* policy, const shape& s, int topk) override {
    const std::int64_t m = p_.tasks, n = p_.users;
    const std::int64_t nchunks = (n + k_report_chunk - 1) / k_report_chunk;
    std::vector<double> part(static_cast<std::size_t>(std::max<std::int64_t>(nchunks, 1) * 2 * m), 0.0);
    std::vector<std::int64_t> idle(static_cast<std::size_t>(std::max<std::int64_t>(nchunks, 1)), 0);
    policy_report rep;
    rep.topk = topk > 0 ? static_cast<int>(std::min<std::int64_t>(topk, m)) : 0;
    const int k = rep.topk;
    if (k > 0) {
      rep.topk_task.assign(static_cast<std::size_t>(n * k), -1);
      rep.topk_share.assign(static_cast<std::size_t>(n * k), 0.0f);
    }
    // exp(W) once per segment and task, not once per user
    std::vector<double> ew(static_cast<std::size_t>(p_.dims()));
    for (std::size_t d = 0; d < ew.size(); ++d) ew[d] = std::exp(policy[d]);
#pragma omp parallel num_threads(threads_)
    {
      std::vector<double> f(m), a(m), b(m);
      std::vector<std::int32_t> idx(m);
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t c = 0; c < nchunks; ++c) {
        double* lpart = part.data() + c * 2 * m;
        double* vpart = lpart + m;
        for (std::int64_t i = c * k_report_chunk; i < std::min(n, (c + 1) * k_report_chunk); ++i) {
          const double* e = ew.data() + static_cast<std::int64_t>(p_.segment[i]) * m;
          bool served = false;
          with_rows(i, f.data(), a.data(), [&](const auto* fi, const auto* ai) {
            double sum = 0.0;
            if (shape_row(fi, ai, static_cast<int>(m), 1.0 / s.tau, s.beta, b.data()))
              for (std::int64_t j = 0; j < m; ++j) {
                b[j] *= e[j];
                sum += b[j];
              }
            if (!(sum > 0.0)) return;
            served = true;
            const double scale = p_.mass[static_cast<std::size_t>(i)] / sum;
            for (std::int64_t j = 0; j < m; ++j) {
              b[j] *= scale;
              lpart[j] += b[j];
              vpart[j] += static_cast<double>(ai[j]) * b[j];
            }
          });
          if (!served) {
            ++idle[c];
            continue;
          }
          if (k > 0) {
            std::iota(idx.begin(), idx.end(), 0);
            std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int x, int y) {
              return b[x] > b[y] || (b[x] == b[y] && x < y);
            });
            for (int q = 0; q < k && b[idx[q]] > 0.0; ++q) {
              rep.topk_task[i * k + q] = idx[q];
              rep.topk_share[i * k + q] = static_cast<float>(b[idx[q]]);
            }
          }
        }
      }
    }
    rep.load.assign(m, 0.0);
    rep.value.assign(m, 0.0);
    for (std::int64_t c = 0; c < nchunks; ++c) {
      for (std::int64_t j = 0; j < m; ++j) {
        rep.load[j] += part[c * 2 * m + j];
        rep.value[j] += part[c * 2 * m + m + j];
      }
      rep.idle_users += idle[c];
    }
    for (std::int64_t j = 0; j < m; ++j) rep.utilization += rep.value[j];
    rep.served = served_utilization(p_.capacity.data(), rep.load.data(), rep.value.data(), static_cast<int>(m));
    return rep;
  }

  dual_sums dual_pass(const double* lambda, double gamma) override {
    const std::int64_t m = p_.tasks, n = p_.users, width = 2 * m + 2;
    const std::int64_t nchunks = std::max<std::int64_t>(1, (n + k_report_chunk - 1) / k_report_chunk);
    std::vector<double> part(static_cast<std::size_t>(nchunks * width), 0.0);
#pragma omp parallel num_threads(threads_)
    {
      std::vector<double> f(m), a(m), pr(m);
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t c = 0; c < nchunks; ++c) {
        double* acc = part.data() + c * width;
        for (std::int64_t i = c * k_report_chunk; i < std::min(n, (c + 1) * k_report_chunk); ++i) {
          const double r = p_.mass[static_cast<std::size_t>(i)];
          if (!(r > 0.0)) continue;
          double exact, smooth;
          with_rows(i, f.data(), a.data(), [&](const auto* fi, const auto* ai) {
            dual_row(fi, ai, static_cast<int>(m), lambda, gamma, pr.data(), exact, smooth);
            for (std::int64_t j = 0; j < m; ++j) {
              const double x = r * pr[j];
              acc[2 + j] += x;
              acc[2 + m + j] += static_cast<double>(ai[j]) * x;
            }
          });
          acc[0] += r * exact;
          acc[1] += r * smooth;
        }
      }
    }
    dual_sums d;
    d.soft_load.assign(m, 0.0);
    d.soft_value.assign(m, 0.0);
    for (std::int64_t c = 0; c < nchunks; ++c) {
      const double* acc = part.data() + c * width;
      d.exact += acc[0];
      d.smooth += acc[1];
      for (std::int64_t j = 0; j < m; ++j) {
        d.soft_load[j] += acc[2 + j];
        d.soft_value[j] += acc[2 + m + j];
      }
    }
    return d;
  }

 private:
  // Calls body(f, a) with user i's rows of F and A: the mapped float32 rows themselves when
  // the bundle is float32, else the rows converted into the caller's float64 buffers.
  template <typename Body>
  void with_rows(std::int64_t i, double* f_buf, double* a_buf, Body&& body) const {
    if (f32_) {
      body(static_cast<const float*>(p_.fitness.data()) + i * p_.tasks,
           static_cast<const float*>(p_.attraction.data()) + i * p_.tasks);
    } else {
      p_.fitness_row(i, f_buf);
      p_.attraction_row(i, a_buf);
      body(static_cast<const double*>(f_buf), static_cast<const double*>(a_buf));
    }
  }

  void group_users_by_segment() {
    std::vector<std::int64_t> count(p_.segments + 1, 0);
    for (auto s : p_.segment) ++count[s + 1];
    std::partial_sum(count.begin(), count.end(), count.begin());
    order_.resize(p_.segment.size());
    std::vector<std::int64_t> next(count.begin(), count.end() - 1);
    for (std::size_t i = 0; i < p_.segment.size(); ++i) order_[next[p_.segment[i]]++] = static_cast<std::int64_t>(i);
    for (int s = 0; s < p_.segments; ++s)
      for (std::int64_t b = count[s]; b < count[s + 1]; b += k_eval_chunk)
        chunks_.push_back(chunk{s, b, std::min(count[s + 1], b + k_eval_chunk)});
  }

  const problem& p_;
  std::string why_not_cuda_;
  int threads_;
  bool f32_;  // F and A both float32: rows can be read in place
  // r and A of the batched evaluation's float32 products are scaled by these (set_shape)
  double mass_scale_ = float32_scale(p_.largest_mass), value_scale_ = float32_scale(p_.largest_attraction);
  std::vector<std::int64_t> order_;  // users sorted by segment (stable)
  std::vector<chunk> chunks_;
  std::vector<float> h_;  // [G0 | A o G0], rows in segment order, for the current shape
  std::vector<float> r_;  // mass in segment order
  bool shaped_ = false;
};

}  // namespace

std::unique_ptr<backend> make_cpu_backend(const problem& p, int threads, const std::string& why_not_cuda) {
  return std::make_unique<cpu_backend>(p, threads, why_not_cuda);
}

}  // namespace attnswarm
