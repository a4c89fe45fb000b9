// The CUDA kernels' own source, run on the CPU by tests/cuda_emulator.hpp, against the CPU
// reference: so a machine without a GPU (CI) still checks their indexing, their warp
// reductions and their arithmetic. Outputs are poisoned first; sizes are odd on purpose.
// The GPU tests (test_gpu.cpp) check the same kernels on a device through the driver.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "attn_math.hpp"
#include "batch_layout.hpp"
#include "chunked_products.hpp"
#include "cpu_backend.hpp"
#include "reference_gemm.hpp"
#include "swarm.hpp"
#include "test_util.hpp"
// The emulator's macros (threadIdx, __global__, ...) reach only the kernel headers below.
#include "cuda_emulator.hpp"
#include "fused_eval_kernel.cuh"
#include "row_kernels.cuh"
#include "swarm_step_kernels.cuh"
#include "tensor_eval_kernel.cuh"

namespace attnswarm {
namespace {

using testing::temp_dir;
namespace emu = emulated;

bool close(double got, double want, double rtol, double atol = 1e-12) {
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

struct rows_case {
  const char* name;
  std::int64_t users, tasks;
  double tau, beta;
};

void PrintTo(const rows_case& c, std::ostream* os) { *os << c.name; }

// One of each instantiation: 1, 2 and 4 registers per lane, and the row in shared memory.
const rows_case rows_cases[] = {
    {"registers_1", 257, 5, 1.0, 0.0},
    {"registers_2", 301, 33, 0.5, 2.0},
    {"registers_4", 129, 70, 1.0, 1.0},
    {"shared_slab", 97, 150, 2.0, 0.5},
    {"two_warps_per_block", 61, 2000, 1.0, 0.0},  // 48 KB a warp: the launcher's fewer warps
};

class EmulatedRowKernels : public ::testing::TestWithParam<rows_case> {
 protected:
  void SetUp() override {
    const rows_case& c = GetParam();
    std::mt19937_64 rng(std::hash<std::string>{}(c.name));
    testing::instance_options o;
    o.users = c.users;
    o.tasks = c.tasks;
    o.zero_rows = 0.1;
    in_ = testing::random_instance(rng, o);
    p_ = testing::load_instance(tmp_, in_);
    n_ = p_.users;
    m_ = static_cast<int>(p_.tasks);
    f_.assign(in_.fitness.begin(), in_.fitness.end());
    a_.assign(in_.attraction.begin(), in_.attraction.end());
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    w_.resize(static_cast<std::size_t>(m_));
    for (auto& x : w_) x = u(rng);
    for (int j = 0; j < m_; ++j) ew_.push_back(std::exp(w_[j]));
    lambda_.resize(static_cast<std::size_t>(m_));
    for (auto& l : lambda_) l = 0.2 * (u(rng) + 2.0);
  }
  temp_dir tmp_;
  testing::instance in_;
  problem p_;
  std::int64_t n_ = 0;
  int m_ = 0;
  std::vector<float> f_, a_;
  std::vector<double> w_, ew_, lambda_;
};

TEST_P(EmulatedRowKernels, ShapeRowsAreTheSharedFormulaBitForBit) {
  const shape s{GetParam().tau, GetParam().beta};
  std::vector<float> h(static_cast<std::size_t>(n_) * 2 * m_, std::nanf("")), r(static_cast<std::size_t>(n_), std::nanf(""));
  const double mass_scale = 0.25, value_scale = 8.0;  // as float32_scale() gives them: powers of two
  emu::launch(dim3(2), dim3(emu::k_row_warps * 32), 0, emu::shape_rows_kernel, f_.data(), a_.data(), p_.mass.data(), n_,
              m_, 1.0 / s.tau, s.beta, mass_scale, value_scale, h.data(), r.data());
  std::vector<double> g(static_cast<std::size_t>(m_));
  for (std::int64_t i = 0; i < n_; ++i) {
    shape_row(f_.data() + i * m_, a_.data() + i * m_, m_, 1.0 / s.tau, s.beta, g.data());
    ASSERT_EQ(r[i], static_cast<float>(p_.mass[i] * mass_scale)) << i;
    for (int j = 0; j < m_; ++j) {
      ASSERT_EQ(h[i * 2 * m_ + j], static_cast<float>(g[j])) << i << "," << j;
      ASSERT_EQ(h[i * 2 * m_ + m_ + j], static_cast<float>(static_cast<double>(a_[i * m_ + j]) * value_scale * g[j]))
          << i << "," << j;
    }
  }
}

TEST_P(EmulatedRowKernels, ReportMatchesTheCpuReference) {
  const shape s{GetParam().tau, GetParam().beta};
  const int k = std::min(3, m_);
  auto cpu = make_cpu_backend(p_, 1);
  const policy_report want = cpu->report(w_.data(), s, k);
  constexpr int blocks = 3;  // several blocks, each walking users grid-stride
  std::vector<double> lv(static_cast<std::size_t>(blocks) * 2 * m_, 0.0);
  std::vector<std::int64_t> idle(blocks, 0);
  std::vector<std::int32_t> task(static_cast<std::size_t>(n_) * k, INT_MIN);
  std::vector<float> share(task.size(), std::nanf(""));
  emu::with_lane_slots(m_, [&](auto slots) {  // the instantiation and block shape of the launcher
    constexpr int R = decltype(slots)::value;
    const int per_warp = emu::slab_rows<R>(2), warps = emu::row_warps(m_, per_warp);
    emu::launch(dim3(blocks), dim3(warps * 32), emu::row_shared_bytes(warps, per_warp, m_), emu::report_kernel<R>, f_.data(), a_.data(),
                p_.mass.data(), n_, m_, 1.0 / s.tau, s.beta, ew_.data(), k, task.data(), share.data(), lv.data(),
                idle.data());
  });
  std::int64_t idle_sum = 0;
  for (auto x : idle) idle_sum += x;
  EXPECT_EQ(idle_sum, want.idle_users);
  for (int j = 0; j < m_; ++j) {
    double l = 0.0, v = 0.0;
    for (int b = 0; b < blocks; ++b) {
      l += lv[static_cast<std::size_t>(b) * 2 * m_ + j];
      v += lv[static_cast<std::size_t>(b) * 2 * m_ + m_ + j];
    }
    EXPECT_TRUE(close(l, want.load[j], 1e-12)) << "load " << j << ": " << l << " vs " << want.load[j];
    EXPECT_TRUE(close(v, want.value[j], 1e-12)) << "value " << j << ": " << v << " vs " << want.value[j];
  }
  ASSERT_EQ(task.size(), want.topk_task.size());
  for (std::size_t e = 0; e < task.size(); ++e) {
    EXPECT_EQ(task[e], want.topk_task[e]) << "top-k entry " << e;
    EXPECT_TRUE(close(share[e], want.topk_share[e], 1e-6)) << "top-k share " << e;
  }
}

TEST_P(EmulatedRowKernels, DualPassMatchesTheCpuReference) {
  auto cpu = make_cpu_backend(p_, 1);
  for (double gamma : {0.05, 1e-4}) {
    const dual_sums want = cpu->dual_pass(lambda_.data(), gamma);
    constexpr int blocks = 2;
    const std::size_t width = 2 * static_cast<std::size_t>(m_) + 2;
    std::vector<double> part(blocks * width, 0.0);
    emu::with_lane_slots(m_, [&](auto slots) {
      constexpr int R = decltype(slots)::value;
      const int per_warp = emu::slab_rows<R>(2), warps = emu::row_warps(m_, per_warp);
      emu::launch(dim3(blocks), dim3(warps * 32), emu::row_shared_bytes(warps, per_warp, m_), emu::dual_pass_kernel<R>, f_.data(), a_.data(),
                  p_.mass.data(), n_, m_, lambda_.data(), gamma, part.data());
    });
    double exact = 0.0, smooth = 0.0;
    std::vector<double> soft(static_cast<std::size_t>(m_), 0.0), value(soft);
    for (int b = 0; b < blocks; ++b) {
      const double* pb = part.data() + b * width;
      exact += pb[0];
      smooth += pb[1];
      for (int j = 0; j < m_; ++j) {
        soft[j] += pb[2 + j];
        value[j] += pb[2 + m_ + j];
      }
    }
    EXPECT_TRUE(close(exact, want.exact, 1e-12)) << exact << " vs " << want.exact;
    EXPECT_TRUE(close(smooth, want.smooth, 1e-12)) << smooth << " vs " << want.smooth;
    for (int j = 0; j < m_; ++j) {
      EXPECT_TRUE(close(soft[j], want.soft_load[j], 1e-11, 1e-13)) << "soft load " << j;
      EXPECT_TRUE(close(value[j], want.soft_value[j], 1e-11, 1e-13)) << "soft value " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Emulated, EmulatedRowKernels, ::testing::ValuesIn(rows_cases),
                         [](const auto& info) { return std::string(info.param.name); });

struct fused_case {
  const char* name;
  std::int64_t users;
  int tasks, particles;
};

void PrintTo(const fused_case& c, std::ostream* os) { *os << c.name; }

// Tensor path: M8 = M rounded up to 8 columns per half, in 1, 2, 4 or 8 fragments per warp.
const fused_case fused_cases[] = {
    {"three_chunks_two_groups", 2 * k_chunk_rows + 77, 40, 70},  // one slab of columns; M8 = M
    {"second_slab", 100, 100, 9},                                // 2M = 200: two slabs; M8 = 104
    {"one_task_one_user", 1, 1, 1},                              // M8 = 8: one fragment
    {"odd_tasks_three_groups", 203, 13, 130},                    // M8 = 16, a partial third group
    {"most_tasks", 45, 128, 17},                                 // 8 fragments per warp
};

class EmulatedFusedKernel : public ::testing::TestWithParam<fused_case> {};

// kernels/chunked_products.hpp's BLAS as cuBLAS documents it (tests/reference_gemm.hpp); the
// density kernel emulated. With it the cuBLAS path's argument order is checked without a GPU.
struct reference_blas {
  void gemm(blas_op op_a, blas_op op_b, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c,
            int ldc) {
    testing::reference_gemm(op_a == blas_op::t, op_b == blas_op::t, m, n, k, a, lda, b, ldb, c, ldc);
  }
  void gemm_strided_batched(blas_op op_a, blas_op op_b, int m, int n, int k, const float* a, int lda, long long stride_a,
                            const float* b, int ldb, long long stride_b, float* c, int ldc, long long stride_c,
                            int count) {
    for (int x = 0; x < count; ++x) gemm(op_a, op_b, m, n, k, a + x * stride_a, lda, b + x * stride_b, ldb, c + x * stride_c, ldc);
  }
  void inverse_density(float* den, const float* r, std::int64_t rows, int particles) {
    emu::launch(dim3(2), dim3(64), 0, emu::inverse_density_kernel, den, r, rows, particles);
  }
};

// The fused kernel's chunk partials, the tensor-core kernel's (3xTF32 on the emulator's
// wmma) and the cuBLAS path's (chunked_products on the reference BLAS), then
// chunk_reduce_scale, against float64 sums written from the definitions:
// t[k][q][c] = sum_{i in chunk k} R_iq H_ic, R_iq = r_i / (G0_i . e_q).
TEST_P(EmulatedFusedKernel, ChunkPartialsAreTheDensityWeightedSums) {
  const fused_case& c = GetParam();
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const int m = c.tasks, pc = c.particles, cols = 2 * m;
  const std::int64_t n = c.users;
  std::vector<float> h(static_cast<std::size_t>(n) * cols), r(static_cast<std::size_t>(n)), e(static_cast<std::size_t>(pc) * m);
  for (std::int64_t i = 0; i < n; ++i) {
    const bool idle = i % 17 == 3;  // rows of zeros: R = 0
    for (int j = 0; j < m; ++j) {
      const float g = idle || u(rng) < 0.3f ? 0.0f : u(rng);
      h[i * cols + j] = g;
      h[i * cols + m + j] = g * (0.5f + u(rng));
    }
    r[i] = 0.25f + u(rng);
  }
  for (auto& x : e) x = 0.1f + 3.0f * u(rng);
  const std::int64_t chunks = chunks_of(n);
  std::vector<float> t(static_cast<std::size_t>(chunks) * pc * cols, std::nanf(""));
  // the launchers' grid (kernels/fused_eval.cu): particle groups on x, chunks on y
  const dim3 grid(static_cast<unsigned>((pc + emu::k_group_particles - 1) / emu::k_group_particles),
                  static_cast<unsigned>(chunks));
  if (cols <= emu::k_slab_columns)
    emu::launch(grid, dim3(emu::k_fused_threads), emu::fused_shared_bytes<1>(m), emu::fused_eval_kernel<1>, h.data(),
                r.data(), n, e.data(), pc, m, t.data());
  else
    emu::launch(grid, dim3(emu::k_fused_threads), emu::fused_shared_bytes<2>(m), emu::fused_eval_kernel<2>, h.data(),
                r.data(), n, e.data(), pc, m, t.data());

  std::vector<float> t_tensor(t.size(), std::nanf(""));
  const dim3 tc_grid(static_cast<unsigned>((pc + emu::k_tc_group - 1) / emu::k_tc_group), static_cast<unsigned>(chunks));
  const auto tensor = [&](auto kernel) {
    emu::launch(tc_grid, dim3(emu::k_tc_threads), emu::tc_shared_bytes(m), kernel, h.data(), r.data(), n, e.data(), pc,
                m, t_tensor.data());
  };
  switch (emu::tc_column_fragments(m)) {
    case 1: tensor(emu::tensor_eval_kernel<1>); break;
    case 2: tensor(emu::tensor_eval_kernel<2>); break;
    case 4: tensor(emu::tensor_eval_kernel<4>); break;
    default: tensor(emu::tensor_eval_kernel<8>); break;
  }

  std::vector<float> t_blas(t.size(), std::nanf("")), den(static_cast<std::size_t>(n) * pc, std::nanf(""));
  reference_blas blas;
  chunked_products(blas, h.data(), r.data(), n, e.data(), pc, m, den.data(), t_blas.data());

  std::vector<double> e64(e.begin(), e.end()), total(static_cast<std::size_t>(pc) * cols, 0.0);
  for (std::int64_t k = 0; k < chunks; ++k) {
    std::vector<double> want(static_cast<std::size_t>(pc) * cols, 0.0), scale(want.size(), 0.0);
    for (std::int64_t i = k * k_chunk_rows; i < std::min(n, (k + 1) * k_chunk_rows); ++i)
      for (int q = 0; q < pc; ++q) {
        double den = 0.0;
        for (int j = 0; j < m; ++j) den += static_cast<double>(h[i * cols + j]) * e[q * m + j];
        const double rq = den > 0.0 ? r[i] / den : 0.0;
        for (int col = 0; col < cols; ++col) {
          want[q * cols + col] += rq * h[i * cols + col];
          scale[q * cols + col] += std::fabs(rq * h[i * cols + col]);
        }
      }
    for (std::size_t x = 0; x < want.size(); ++x) {
      const std::size_t at = static_cast<std::size_t>(k) * want.size() + x;
      for (const float got : {t[at], t_blas[at], t_tensor[at]}) {
        ASSERT_TRUE(std::isfinite(got)) << "chunk " << k << ", element " << x << " was not written";
        EXPECT_LE(std::fabs(got - want[x]), 1e-5 * scale[x] + 1e-30) << "chunk " << k << ", element " << x;
      }
      total[x] += want[x];
    }
  }

  // chunk_reduce_scale: acc[q][c] += e[q][c mod M] * sum_k t[k][q][c], in float64
  std::vector<double> acc(static_cast<std::size_t>(pc) * cols, 0.5);
  emu::launch(dim3(3), dim3(64), 0, emu::chunk_reduce_scale_kernel, t.data(), static_cast<int>(chunks), e64.data(), pc,
              m, acc.data());
  for (int q = 0; q < pc; ++q)
    for (int col = 0; col < cols; ++col) {
      const double want = 0.5 + e64[q * m + col % m] * total[q * cols + col];
      EXPECT_TRUE(close(acc[q * cols + col], want, 1e-5)) << q << "," << col;
    }
}

INSTANTIATE_TEST_SUITE_P(Emulated, EmulatedFusedKernel, ::testing::ValuesIn(fused_cases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(EmulatedElementwise, PolicyExpIsSegmentMajor) {
  const int pc = 5, segments = 3, m = 7;
  std::vector<double> w(static_cast<std::size_t>(pc) * segments * m);
  for (std::size_t k = 0; k < w.size(); ++k) w[k] = std::sin(0.37 * static_cast<double>(k));
  std::vector<double> e64(w.size(), std::nan(""));
  std::vector<float> e32(w.size(), std::nanf(""));
  emu::launch(dim3(2), dim3(32), 0, emu::policy_exp_kernel, w.data(), pc, segments, m, e64.data(), e32.data());
  for (int s = 0; s < segments; ++s)
    for (int q = 0; q < pc; ++q)
      for (int j = 0; j < m; ++j) {
        const std::size_t at = (static_cast<std::size_t>(s) * pc + q) * m + j;
        const double want = std::exp(w[(static_cast<std::size_t>(q) * segments + s) * m + j]);  // policy q, W[s, j]
        EXPECT_EQ(e64[at], want) << s << "," << q << "," << j;
        EXPECT_EQ(e32[at], static_cast<float>(want)) << s << "," << q << "," << j;
      }
}

TEST(EmulatedElementwise, InverseDensityIsRoverDenAndZeroForIdleUsers) {
  const std::int64_t rows = 45;
  const int pc = 7;
  std::vector<float> den(static_cast<std::size_t>(rows) * pc), r(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) {
    r[i] = 1.0f + static_cast<float>(i);
    for (int q = 0; q < pc; ++q) den[i * pc + q] = i % 9 == 0 ? 0.0f : 0.5f * static_cast<float>(q + 1);
  }
  const std::vector<float> before = den;
  emu::launch(dim3(2), dim3(32), 0, emu::inverse_density_kernel, den.data(), r.data(), rows, pc);
  for (std::int64_t i = 0; i < rows; ++i)
    for (int q = 0; q < pc; ++q)
      EXPECT_EQ(den[i * pc + q], before[i * pc + q] > 0.0f ? r[i] / before[i * pc + q] : 0.0f) << i << "," << q;
}


// One move and one record of the device swarm against cpu_move() and the CPU's rule, bit for
// bit: both call pso_update and swarm_draw, and the ring picks its neighbour by ring_best.
TEST(EmulatedSwarmKernels, MoveAndRecordFollowTheCpuSwarmBitForBit) {
  std::mt19937_64 rng(77);
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  const int particles = 9, dims = 131;  // dims: past one block of threads, not a multiple of it
  const std::size_t n = static_cast<std::size_t>(particles) * dims;
  std::vector<double> x(n), v(n), pbest(n), pbest_f(particles), f(particles);
  for (auto* vec : {&x, &v, &pbest}) for (auto& e : *vec) e = u(rng);
  for (auto& e : pbest_f) e = u(rng);
  pbest_f[4] = pbest_f[2];  // a tie: the lower index wins on both sides
  const pso_coeffs c{0.7298, 1.49618, 1.49618, 0.5, -4.0, 4.0};
  std::int64_t best = 0;
  for (int p = 1; p < particles; ++p)
    if (pbest_f[p] < pbest_f[best]) best = p;
  for (bool ring : {false, true}) {
    std::vector<int> nb(particles);
    for (int p = 0; p < particles; ++p) nb[p] = ring ? ring_best(pbest_f.data(), particles, p) : static_cast<int>(best);
    std::vector<double> want_x = x, want_v = v, got_x = x, got_v = v;
    cpu_move(11, 3, c, particles, dims, nb.data(), pbest.data(), want_x.data(), want_v.data());
    emu::launch(dim3(particles), dim3(emu::k_swarm_threads), 0, emu::swarm_move_kernel, std::uint64_t{11},
                std::uint32_t{3}, c, particles, dims, ring, pbest_f.data(), &best, pbest.data(), got_x.data(), got_v.data());
    EXPECT_EQ(std::memcmp(got_x.data(), want_x.data(), n * sizeof(double)), 0) << (ring ? "ring" : "global");
    EXPECT_EQ(std::memcmp(got_v.data(), want_v.data(), n * sizeof(double)), 0) << (ring ? "ring" : "global");
  }
  for (int p = 0; p < particles; ++p) f[p] = p % 2 == 0 ? pbest_f[p] - 1.0 : pbest_f[p];  // even ones improve
  std::vector<double> got_pbest = pbest, got_f = pbest_f;
  emu::launch(dim3(particles), dim3(emu::k_swarm_threads), 0, emu::swarm_record_kernel, dims, f.data(), x.data(),
              got_pbest.data(), got_f.data());
  for (int p = 0; p < particles; ++p) {
    const bool improved = p % 2 == 0;
    EXPECT_EQ(got_f[p], improved ? f[p] : pbest_f[p]) << p;
    for (int d = 0; d < dims; ++d)
      ASSERT_EQ(got_pbest[p * dims + d], improved ? x[p * dims + d] : pbest[p * dims + d]) << p << "," << d;
  }
}

}  // namespace
}  // namespace attnswarm
