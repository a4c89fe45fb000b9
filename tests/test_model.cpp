// Every formula of DESIGN §1 on fresh random instances, against a brute-force float64
// evaluation written straight from the definitions (no row scaling, no chunks, no BLAS).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend.hpp"
#include "cpu_backend.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using testing::instance;
using testing::temp_dir;

struct brute {
  std::vector<double> load, value, b;  // b: N x M allocation
  double utilization = 0, served = 0;
  std::int64_t idle = 0;
};

brute brute_force(const instance& in, const std::vector<double>& w, shape s) {
  const std::int64_t n = in.users, m = in.tasks;
  brute r;
  r.load.assign(m, 0.0);
  r.value.assign(m, 0.0);
  r.b.assign(static_cast<std::size_t>(n * m), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const int seg = in.segment.empty() ? 0 : in.segment[i];
    std::vector<double> g(m, 0.0);
    double sum = 0.0;
    for (std::int64_t j = 0; j < m; ++j) {
      const double f = in.fitness[i * m + j], a = in.attraction[i * m + j];
      if (f > 0.0) g[j] = std::pow(f, 1.0 / s.tau) * (s.beta == 0.0 ? 1.0 : std::pow(a, s.beta)) * std::exp(w[seg * m + j]);
      sum += g[j];
    }
    if (sum == 0.0) {
      ++r.idle;
      continue;
    }
    const double mass = in.mass.empty() ? 1.0 : in.mass[i];
    for (std::int64_t j = 0; j < m; ++j) {
      const double b = mass * g[j] / sum;
      r.b[i * m + j] = b;
      r.load[j] += b;
      r.value[j] += in.attraction[i * m + j] * b;
    }
  }
  for (std::int64_t j = 0; j < m; ++j) {
    const double cap = in.capacity.empty() ? INFINITY : in.capacity[j];
    r.utilization += r.value[j];
    r.served += (r.load[j] > 0.0 ? std::min(1.0, cap / r.load[j]) : 1.0) * r.value[j];
  }
  return r;
}

std::vector<double> random_policy(std::mt19937_64& rng, std::int64_t dims, double scale) {
  std::uniform_real_distribution<double> u(-scale, scale);
  std::vector<double> w(static_cast<std::size_t>(dims));
  for (auto& x : w) x = u(rng);
  return w;
}

bool close(double got, double want, double rtol, double atol = 1e-12) {
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

struct model_case {
  const char* name;
  std::int64_t users, tasks;
  int segments;
  double tau, beta;
  bool with_capacity;
  dtype type;
  double attraction_scale = 1.0, mass_scale = 1.0;
};

const model_case model_cases[] = {
    {"plain", 300, 7, 1, 1.0, 0.0, true, dtype::f32},
    {"segments_tau_beta", 517, 13, 3, 0.5, 2.0, true, dtype::f32},
    {"sharp_tau_f64", 1001, 33, 4, 0.25, 1.0, true, dtype::f64},
    {"infinite_capacity", 250, 5, 2, 1.0, 4.0, false, dtype::f32},
    {"one_task", 97, 1, 2, 0.7, 0.5, true, dtype::f32},
    {"one_user", 1, 9, 1, 1.0, 1.0, true, dtype::f32},
    {"no_users", 0, 4, 1, 1.0, 0.0, true, dtype::f32},
    {"many_chunks", 5000, 6, 5, 2.0, 0.0, true, dtype::f32},
    // products and float32 partials far past float32's range, but for the evaluation's scaling
    {"huge_values", 3000, 9, 2, 1.0, 2.0, true, dtype::f32, 3e37, 1e3},
    {"tiny_values", 3000, 9, 2, 0.5, 0.0, true, dtype::f32, 1e-30, 1e-12},
    {"huge_mass_f64", 700, 5, 1, 1.0, 1.0, true, dtype::f64, 1.0, 1e37},
    // as far past the shape grid as the search goes: attention on one or two tasks a user
    {"past_the_grid", 800, 13, 2, 8.0, 64.0, true, dtype::f32},
    {"sharpest_fitness", 400, 7, 1, 1.0 / 64.0, 32.0, true, dtype::f32},
};

void PrintTo(const model_case& c, std::ostream* os) { *os << c.name; }

class Model : public ::testing::TestWithParam<model_case> {};

TEST_P(Model, ReportAndBatchedEvaluationMatchBruteForce) {
  const model_case& c = GetParam();
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  testing::instance_options o = testing::sized(c.users, c.tasks, c.segments);
  o.with_capacity = c.with_capacity;
  o.attraction_scale = c.attraction_scale;
  o.mass_scale = c.mass_scale;
  const instance in = testing::random_instance(rng, o);
  const double load_unit = c.mass_scale, value_unit = c.mass_scale * c.attraction_scale;
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, in, c.type);
  auto b = make_cpu_backend(p, 0);
  const shape s{c.tau, c.beta};

  constexpr int policies = 5;
  std::vector<double> all;
  for (int q = 0; q < policies; ++q) {
    const auto w = q == 0 ? std::vector<double>(p.dims(), 0.0) : random_policy(rng, p.dims(), 4.0);
    all.insert(all.end(), w.begin(), w.end());
  }
  b->set_shape(s);
  std::vector<double> served(policies, -1.0);
  b->evaluate(all.data(), policies, served.data());

  for (int q = 0; q < policies; ++q) {
    const std::vector<double> w(all.begin() + q * p.dims(), all.begin() + (q + 1) * p.dims());
    const brute want = brute_force(in, w, s);
    const int k = std::min<int>(3, static_cast<int>(c.tasks));
    const policy_report rep = b->report(w.data(), s, k);
    EXPECT_TRUE(close(rep.utilization, want.utilization, 1e-10, 1e-12 * value_unit))
        << rep.utilization << " vs " << want.utilization;
    EXPECT_TRUE(close(rep.served, want.served, 1e-10, 1e-12 * value_unit)) << rep.served << " vs " << want.served;
    EXPECT_EQ(rep.idle_users, want.idle);
    for (std::int64_t j = 0; j < c.tasks; ++j) {
      EXPECT_TRUE(close(rep.load[j], want.load[j], 1e-10, 1e-12 * load_unit)) << "load " << j;
      EXPECT_TRUE(close(rep.value[j], want.value[j], 1e-10, 1e-12 * value_unit)) << "value " << j;
    }
    // float32 products with float64 sums: agreement to float32 rounding
    EXPECT_TRUE(close(served[q], want.served, 2e-5, 1e-9 * value_unit))
        << "policy " << q << ": " << served[q] << " vs " << want.served;
    // top-k: the k largest shares of each user, in order, -1 past the eligible ones
    for (std::int64_t i = 0; i < c.users; ++i) {
      std::vector<double> row(want.b.begin() + i * c.tasks, want.b.begin() + (i + 1) * c.tasks);
      std::vector<double> sorted = row;
      std::sort(sorted.rbegin(), sorted.rend());
      for (int r = 0; r < k; ++r) {
        const int t = rep.topk_task[i * k + r];
        if (sorted[r] > 0.0) {
          ASSERT_GE(t, 0);
          EXPECT_NEAR(rep.topk_share[i * k + r], sorted[r], 1e-6 * (1.0 + sorted[r]));
          EXPECT_NEAR(row[t], sorted[r], 1e-12 * (1.0 + sorted[r]));
        } else {
          EXPECT_EQ(t, -1);
          EXPECT_EQ(rep.topk_share[i * k + r], 0.0f);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Design1, Model, ::testing::ValuesIn(model_cases),
                         [](const auto& info) { return std::string(info.param.name); });

// DESIGN §1: inputs are float32. A float64 bundle is the float32 bundle of its rounded values,
// bit for bit, whatever it holds (here a value that rounds to 0 as well).
TEST(Model, Float64BundlesAreTheirFloat32Rounding) {
  std::mt19937_64 rng(14);
  testing::instance_options o = testing::sized(2000, 11, 3);
  o.float32_values = false;
  instance in = testing::random_instance(rng, o);
  for (std::int64_t j = 0; j < in.tasks; ++j) in.fitness[5 * in.tasks + j] = j == 3 ? 1e-50 : 0.0;
  temp_dir tmp;
  const problem p64 = testing::load_instance(tmp, in, dtype::f64);
  temp_dir tmp32;
  const problem p32 = testing::load_instance(tmp32, in, dtype::f32);
  EXPECT_EQ(p64.idle_users, p32.idle_users);
  EXPECT_EQ(p64.largest_attraction, p32.largest_attraction);
  auto b64 = make_cpu_backend(p64, 0), b32 = make_cpu_backend(p32, 0);
  const shape s{0.5, 1.0};
  std::vector<double> all;
  for (int q = 0; q < 4; ++q) {
    const auto w = random_policy(rng, p64.dims(), 3.0);
    all.insert(all.end(), w.begin(), w.end());
  }
  const policy_report r64 = b64->report(all.data(), s, 2), r32 = b32->report(all.data(), s, 2);
  EXPECT_EQ(r64.served, r32.served);
  EXPECT_EQ(r64.load, r32.load);
  EXPECT_EQ(r64.topk_task, r32.topk_task);
  b64->set_shape(s);
  b32->set_shape(s);
  std::vector<double> f64(4), f32(4);
  b64->evaluate(all.data(), 4, f64.data());
  b32->evaluate(all.data(), 4, f32.data());
  EXPECT_EQ(f64, f32);
  const std::vector<double> lambda(static_cast<std::size_t>(p64.tasks), 0.1);
  const dual_sums d64 = b64->dual_pass(lambda.data(), 0.01), d32 = b32->dual_pass(lambda.data(), 0.01);
  EXPECT_EQ(d64.exact, d32.exact);
  EXPECT_EQ(d64.soft_load, d32.soft_load);
}

TEST(Model, BaselineIsThePlainNormalization) {
  std::mt19937_64 rng(11);
  testing::instance_options o;
  o.users = 200;
  o.segments = 2;
  const instance in = testing::random_instance(rng, o);
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, in);
  auto b = make_cpu_backend(p, 0);
  const std::vector<double> zero(p.dims(), 0.0);
  const policy_report rep = b->report(zero.data(), shape{}, 0);
  std::vector<double> load(p.tasks, 0.0);
  for (std::int64_t i = 0; i < p.users; ++i) {
    double rowsum = 0.0;
    for (std::int64_t j = 0; j < p.tasks; ++j) rowsum += in.fitness[i * p.tasks + j];
    for (std::int64_t j = 0; j < p.tasks && rowsum > 0; ++j) load[j] += in.mass[i] * in.fitness[i * p.tasks + j] / rowsum;
  }
  for (std::int64_t j = 0; j < p.tasks; ++j) EXPECT_NEAR(rep.load[j], load[j], 1e-10 * load[j]);
}

TEST(Model, ServedEqualsUtilizationWithoutCapacities) {
  std::mt19937_64 rng(12);
  testing::instance_options o;
  o.with_capacity = false;
  const instance in = testing::random_instance(rng, o);
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, in);
  auto b = make_cpu_backend(p, 0);
  const auto w = random_policy(rng, p.dims(), 2.0);
  const policy_report rep = b->report(w.data(), shape{0.5, 1.0}, 0);
  EXPECT_EQ(rep.served, rep.utilization);
}

// The batched evaluation reads float32 subnormals as 0 (x86's FTZ and DAZ, for speed; the
// "sharpest_fitness" case above checks the values at beta 32) and gives the calling thread,
// which runs a share of it, its float mode back: the exact report after it keeps them.
TEST(Model, BatchedEvaluationLeavesSubnormalsToTheCallerAsItFoundThem) {
  std::mt19937_64 rng(17);
  const instance in = testing::random_instance(rng, testing::sized(300, 7, 2));
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, in);
  auto b = make_cpu_backend(p, 1);
  b->set_shape(shape{1.0, 32.0});
  const std::vector<double> w = random_policy(rng, p.dims(), 4.0);
  double served = -1.0;
  b->evaluate(w.data(), 1, &served);
  EXPECT_GT(served, 0.0);
  volatile float tiny_f = 1e-37f, tenth_f = 0.1f;
  volatile double tiny_d = 1e-307, tenth_d = 0.1;
  EXPECT_GT(tiny_f * tenth_f * tenth_f, 0.0f);  // 1e-39: a float32 subnormal
  EXPECT_GT(tiny_d * tenth_d * tenth_d, 0.0);   // 1e-309: a float64 subnormal
}

TEST(Model, ResultsDoNotDependOnTheThreadCount) {
  std::mt19937_64 rng(13);
  testing::instance_options o;
  o.users = 20000;
  o.tasks = 19;
  o.segments = 3;
  const instance in = testing::random_instance(rng, o);
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, in);
  auto one = make_cpu_backend(p, 1);
  auto two = make_cpu_backend(p, 2);
  auto three = make_cpu_backend(p, 3);
  const shape s{0.5, 2.0};
  std::vector<double> all;
  for (int q = 0; q < 8; ++q) {
    const auto w = random_policy(rng, p.dims(), 3.0);
    all.insert(all.end(), w.begin(), w.end());
  }
  std::vector<double> f1(8), f2(8), f3(8);
  for (auto* b : {one.get(), two.get(), three.get()}) b->set_shape(s);
  one->evaluate(all.data(), 8, f1.data());
  two->evaluate(all.data(), 8, f2.data());
  three->evaluate(all.data(), 8, f3.data());
  for (int q = 0; q < 8; ++q) {
    EXPECT_TRUE(close(f2[q], f1[q], 1e-12)) << q;
    EXPECT_TRUE(close(f3[q], f1[q], 1e-12)) << q;
  }
  const policy_report r1 = one->report(all.data(), s, 2), r3 = three->report(all.data(), s, 2);
  EXPECT_TRUE(close(r3.served, r1.served, 1e-12));
  EXPECT_EQ(r1.topk_task, r3.topk_task);
}

}  // namespace
}  // namespace attnswarm
