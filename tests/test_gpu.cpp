// GPU tests (ctest label "gpu"): every CUDA kernel against the CPU reference on fresh random
// shapes. They skip with the reason when no device is usable, and make no CUDA call before a
// test body runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backend.hpp"
#include "bound.hpp"
#include "cpu_backend.hpp"
#include "devices.hpp"
#include "swarm.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using testing::temp_dir;

// Skips the calling test when no device is usable.
#define REQUIRE_DEVICE()                                              \
  do {                                                                \
    const device_inventory inv_ = probe_devices();                    \
    if (inv_.devices.empty()) GTEST_SKIP() << inv_.note;              \
  } while (0)

bool close(double got, double want, double rtol, double atol = 1e-12) {
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

TEST(Gpu, SharedMathAgreesWithTheHost) {
  REQUIRE_DEVICE();
  for (const auto& d : probe_devices().devices) EXPECT_EQ(run_device_selftest(d.index), "") << d.name;
}

struct gpu_case {
  const char* name;
  std::int64_t users, tasks;
  int segments;
  double tau, beta;
};

void PrintTo(const gpu_case& c, std::ostream* os) { *os << c.name; }

const gpu_case gpu_cases[] = {
    {"odd_tasks", 1000, 13, 1, 1.0, 0.0},
    {"past_one_batch", 8192 + 777, 33, 3, 0.5, 2.0},
    {"one_task", 301, 1, 2, 0.25, 1.0},
    {"one_user", 1, 7, 1, 1.0, 4.0},
    {"no_users", 0, 5, 1, 1.0, 0.0},
    {"many_segments", 4099, 40, 7, 2.0, 0.5},
};

class GpuVsCpu : public ::testing::TestWithParam<gpu_case> {};

TEST_P(GpuVsCpu, ReportEvaluateAndDualPassMatchTheCpuReference) {
  REQUIRE_DEVICE();
  const gpu_case& c = GetParam();
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  testing::instance_options o;
  o.users = c.users;
  o.tasks = c.tasks;
  o.segments = c.segments;
  o.zero_rows = 0.05;
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  auto cpu = make_cpu_backend(p, 0);
  auto gpu = make_backend("cuda", p);
  ASSERT_EQ(gpu->name(), "cuda");
  const shape s{c.tau, c.beta};

  std::uniform_real_distribution<double> u(-3.0, 3.0);
  constexpr int policies = 37;  // not a multiple of a warp
  std::vector<double> w(static_cast<std::size_t>(policies * p.dims()));
  for (auto& x : w) x = u(rng);
  for (std::int64_t d = 0; d < p.dims(); ++d) w[d] = 0.0;  // policy 0: W = 0

  const int k = static_cast<int>(std::min<std::int64_t>(3, p.tasks));
  for (int q : {0, 1, policies - 1}) {
    const policy_report want = cpu->report(w.data() + q * p.dims(), s, k);
    const policy_report got = gpu->report(w.data() + q * p.dims(), s, k);
    EXPECT_TRUE(close(got.served, want.served, 1e-10)) << got.served << " vs " << want.served;
    EXPECT_TRUE(close(got.utilization, want.utilization, 1e-10));
    EXPECT_EQ(got.idle_users, want.idle_users);
    for (std::int64_t j = 0; j < p.tasks; ++j) {
      EXPECT_TRUE(close(got.load[j], want.load[j], 1e-10)) << "load " << j;
      EXPECT_TRUE(close(got.value[j], want.value[j], 1e-10)) << "value " << j;
    }
    ASSERT_EQ(got.topk_task.size(), want.topk_task.size());
    for (std::size_t e = 0; e < got.topk_task.size(); ++e) {
      EXPECT_TRUE(close(got.topk_share[e], want.topk_share[e], 1e-6)) << e;
      if (got.topk_task[e] != want.topk_task[e]) {  // only a near-tie may order differently
        EXPECT_TRUE(close(got.topk_share[e], want.topk_share[e], 1e-12)) << e;
      }
    }
  }

  cpu->set_shape(s);
  gpu->set_shape(s);
  std::vector<double> fc(policies, -1.0), fg(policies, -1.0);
  cpu->evaluate(w.data(), policies, fc.data());
  gpu->evaluate(w.data(), policies, fg.data());
  for (int q = 0; q < policies; ++q) {
    const double exact = cpu->report(w.data() + q * p.dims(), s, 0).served;
    EXPECT_TRUE(std::isfinite(fg[q])) << q;
    EXPECT_TRUE(close(fg[q], exact, 5e-5, 1e-9)) << q << ": " << fg[q] << " vs " << exact;
  }

  std::vector<double> lambda(p.tasks);
  for (auto& l : lambda) l = 0.3 * (u(rng) + 3.0) / 6.0;
  for (double gamma : {0.05, 1e-4}) {
    const dual_sums want = cpu->dual_pass(lambda.data(), gamma);
    const dual_sums got = gpu->dual_pass(lambda.data(), gamma);
    EXPECT_TRUE(close(got.exact, want.exact, 1e-10));
    EXPECT_TRUE(close(got.smooth, want.smooth, 1e-10));
    for (std::int64_t j = 0; j < p.tasks; ++j) EXPECT_TRUE(close(got.soft_load[j], want.soft_load[j], 1e-9, 1e-12));
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, GpuVsCpu, ::testing::ValuesIn(gpu_cases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Gpu, SameSeedSameTrajectoryForTwentyIterations) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(99);
  testing::instance_options o;
  o.users = 20000;
  o.tasks = 24;
  o.segments = 3;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  auto cpu = make_cpu_backend(p, 0);
  auto gpu = make_backend("cuda", p);
  swarm_options so;
  so.particles = 64;
  so.iterations = 20;
  so.seeded = {std::vector<double>(p.dims(), 0.0)};
  const auto run = [&](backend& b) {
    b.set_shape(shape{0.5, 1.0});
    swarm_options own = so;
    own.mover = b.mover();  // the CUDA run moves its particles on the device
    return run_swarm(static_cast<int>(p.dims()),
                     [&](const double* x, int count, int, double* f) {
                       b.evaluate(x, count, f);
                       for (int q = 0; q < count; ++q) f[q] = -f[q];
                     },
                     own);
  };
  const swarm_result a = run(*cpu), g = run(*gpu);
  ASSERT_EQ(a.history.size(), g.history.size());
  for (std::size_t t = 0; t < a.history.size(); ++t)
    EXPECT_TRUE(close(g.history[t].best, a.history[t].best, 1e-5)) << "iteration " << t;
}

TEST(Gpu, SwarmStepMatchesTheCpuStepBitForBit) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(5);
  testing::instance_options o;
  o.users = 10;
  o.tasks = 37;
  o.segments = 3;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  auto gpu = make_backend("cuda", p);
  ASSERT_NE(gpu->mover(), nullptr);
  const int particles = 33, dims = static_cast<int>(p.dims());  // 111 dims: not a multiple of a block
  std::uniform_real_distribution<double> u(-4.0, 4.0);
  std::vector<double> x(particles * dims), v(x.size()), pbest(x.size());
  for (auto* a : {&x, &v, &pbest})
    for (auto& e : *a) e = u(rng);
  std::vector<int> nb(particles);
  for (int q = 0; q < particles; ++q) nb[q] = (q * 7 + 3) % particles;
  const pso_coeffs c{0.7298, 1.49618, 1.49618, 2.0, -4.0, 4.0};
  std::vector<double> xc = x, vc = v;
  cpu_move(42, 7, c, particles, dims, nb.data(), pbest.data(), xc.data(), vc.data());
  gpu->mover()->move(42, 7, c, particles, dims, nb.data(), pbest.data(), x.data(), v.data());
  EXPECT_EQ(std::memcmp(x.data(), xc.data(), x.size() * sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(v.data(), vc.data(), v.size() * sizeof(double)), 0);
}

TEST(Gpu, BoundMatchesTheCpuBound) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(7);
  testing::instance_options o;
  o.users = 3000;
  o.tasks = 17;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  auto cpu = make_cpu_backend(p, 0);
  auto gpu = make_backend("cuda", p);
  const bound_result a = compute_bound(p, *cpu, bound_options{});
  const bound_result g = compute_bound(p, *gpu, bound_options{});
  EXPECT_TRUE(close(g.upper_bound, a.upper_bound, 1e-6)) << g.upper_bound << " vs " << a.upper_bound;
}

}  // namespace
}  // namespace attnswarm
