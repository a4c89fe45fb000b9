// The certified upper bound against the exact LP of DESIGN §1, solved with CLP (tests only):
// LP* <= upper_bound <= LP* (1 + 1e-3), lp_lower_bound <= LP*, `converged` only when the two
// bracket LP* within the tolerance, and no policy serves more than LP*. Both ways of finding
// the prices, the exact flow and the gradient method, on the same instances.
#include <ClpSimplex.hpp>
#include <CoinPackedMatrix.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "bound.hpp"
#include "cpu_backend.hpp"
#include "errors.hpp"
#include "flow_lp.hpp"
#include "generator.hpp"
#include "solver.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using testing::instance;
using testing::temp_dir;

// max sum A x  s.t.  sum_j x_ij <= r_i,  sum_i x_ij <= cap_j (finite ones),  x >= 0 on F > 0.
double exact_lp(const instance& in) {
  const std::int64_t n = in.users, m = in.tasks;
  std::vector<int> rows, cols;
  std::vector<double> elems, obj;
  int col = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < m; ++j) {
      if (!(in.fitness[i * m + j] > 0.0)) continue;
      obj.push_back(in.attraction[i * m + j]);
      rows.push_back(static_cast<int>(i));
      cols.push_back(col);
      elems.push_back(1.0);
      rows.push_back(static_cast<int>(n + j));
      cols.push_back(col);
      elems.push_back(1.0);
      ++col;
    }
  const int nrows = static_cast<int>(n + m);
  std::vector<double> row_lo(nrows, -COIN_DBL_MAX), row_hi(nrows);
  for (std::int64_t i = 0; i < n; ++i) row_hi[i] = in.mass.empty() ? 1.0 : in.mass[i];
  for (std::int64_t j = 0; j < m; ++j)
    row_hi[n + j] = in.capacity.empty() || std::isinf(in.capacity[j]) ? COIN_DBL_MAX : in.capacity[j];
  const CoinPackedMatrix a(true, rows.data(), cols.data(), elems.data(), static_cast<CoinBigIndex>(elems.size()));
  std::vector<double> col_lo(col, 0.0), col_hi(col, COIN_DBL_MAX);
  ClpSimplex lp;
  lp.setLogLevel(0);
  lp.loadProblem(a, col_lo.data(), col_hi.data(), obj.data(), row_lo.data(), row_hi.data());
  lp.setOptimizationDirection(-1.0);
  lp.setPrimalTolerance(1e-10);
  lp.setDualTolerance(1e-10);
  lp.dual();
  EXPECT_TRUE(lp.isProvenOptimal());
  return lp.objectiveValue();
}

struct lp_case {
  const char* name;
  std::int64_t users, tasks;
  int segments;
  double infinite_capacity;
};

void PrintTo(const lp_case& c, std::ostream* os) { *os << c.name; }

const lp_case lp_cases[] = {
    {"small", 50, 4, 1, 0.0},
    {"medium_some_infinite", 600, 11, 2, 0.3},
    {"odd_sizes", 777, 13, 3, 0.2},
    {"large", 2000, 20, 3, 0.2},
};

class BoundVsLp : public ::testing::TestWithParam<lp_case> {};

// What a bound run must show against LP*. tight: within the tolerance of it (not asked of
// the gradient method on a few users, where it can stall short: then it must only say so);
// certified: converged as well (the gradient method's average allocation can fall short of
// showing it, rarely: 1 in 300 instances of 200 to 2,000 users, bench/RESULTS.md).
void expect_bound_is_valid(const problem& p, backend& b, double lp, const bound_result& r, bool tight,
                           bool certified) {
  const double tolerance = bound_options{}.tolerance;
  EXPECT_GE(r.upper_bound, lp * (1.0 - 1e-9));
  EXPECT_LE(r.lp_lower_bound, lp * (1.0 + 1e-9));
  EXPECT_LE(r.lp_lower_bound, r.upper_bound);
  if (r.converged) {
    EXPECT_LE(r.upper_bound, (1.0 + tolerance) * r.lp_lower_bound) << "converged, but not certified";
  }
  if (tight) {
    EXPECT_LE(r.upper_bound, lp * (1.0 + tolerance)) << "LP* " << lp;
  }
  if (certified) {
    EXPECT_TRUE(r.converged);
  }
  EXPECT_EQ(certified_upper_bound(dual_value(p, b, r.prices), p), r.upper_bound);
  ASSERT_EQ(r.prices.size(), static_cast<std::size_t>(p.tasks));
  for (std::size_t j = 0; j < r.prices.size(); ++j) {
    EXPECT_GE(r.prices[j], 0.0);
    if (std::isinf(p.capacity[j])) {
      EXPECT_EQ(r.prices[j], 0.0);
    }
  }
}

// The bound brackets the LP by every method, and a solve neither beats the LP nor its own
// bound. capacities_bind: also that the LP is below the unconstrained optimum.
void expect_bound_brackets_the_lp(const instance& in, bool capacities_bind) {
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, in);
  auto b = make_cpu_backend(p, 0);

  const double lp = exact_lp(in);
  const bound_result automatic = compute_bound(p, *b, bound_options{});
  const bool cheap = flow_lp_is_cheap(p);
  {
    SCOPED_TRACE("method auto");
    expect_bound_is_valid(p, *b, lp, automatic, true, cheap);
  }
  bound_options by_flow, by_gradient;
  by_flow.method = bound_method::flow;
  by_gradient.method = bound_method::gradient;
  {
    SCOPED_TRACE("method flow");
    const bound_result r = compute_bound(p, *b, by_flow);
    expect_bound_is_valid(p, *b, lp, r, true, true);
    EXPECT_EQ(r.iterations, 0);
    if (r.method != bound_method::closed_form) {
      EXPECT_EQ(r.method, bound_method::flow);
      // the flow's optimum, only rounding above LP*
      EXPECT_LE(r.upper_bound, lp * (1.0 + 1e-9));
      EXPECT_GE(r.lp_lower_bound, lp * (1.0 - 1e-9));
    }
  }
  {
    SCOPED_TRACE("method gradient");
    const bound_result r = compute_bound(p, *b, by_gradient);
    expect_bound_is_valid(p, *b, lp, r, p.users >= 200, false);
    EXPECT_NE(r.method, bound_method::flow);
  }
  if (capacities_bind) {  // the LP is below the unconstrained optimum
    std::vector<double> zero(p.tasks, 0.0);
    EXPECT_LT(lp, dual_value(p, *b, zero));
  }

  solve_options so;
  so.particles = 16;
  so.iterations = 30;
  so.search_iterations = 3;
  const solve_result s = solve(p, *b, so);
  EXPECT_LE(s.best.served, lp * (1.0 + 1e-9));
  EXPECT_LE(s.baseline.served, s.best.served);
  ASSERT_TRUE(s.bound.has_value());
  EXPECT_GE(s.bound->upper_bound, s.best.served);
  EXPECT_EQ(s.bound->upper_bound, automatic.upper_bound);
}

TEST_P(BoundVsLp, BoundIsWithinATenthOfAPercentAboveTheLpAndNoPolicyBeatsIt) {
  const lp_case& c = GetParam();
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  testing::instance_options o = testing::sized(c.users, c.tasks, c.segments);
  o.infinite_capacity = c.infinite_capacity;
  o.zero_rows = 0.05;  // idle users
  expect_bound_brackets_the_lp(testing::random_instance(rng, o), true);
}

INSTANTIATE_TEST_SUITE_P(Clp, BoundVsLp, ::testing::ValuesIn(lp_cases),
                         [](const auto& info) { return std::string(info.param.name); });

// New random instances every run, beside the fixed ones: 2 to 2,000 users (as many of each
// order of magnitude) x 1 to 20 tasks, any mix of ineligible entries, idle users and infinite
// capacities, with or without capacity.npy (ATTNSWARM_TEST_SEED replays a failure's seed,
// ATTNSWARM_TEST_CASES sets how many). Under 200 users the gradient method alone can stall
// short of the tolerance (in 6% of instances under 20 users, bench/RESULTS.md, 2026-12-04);
// there it must say so, and `auto` takes the exact flow.
TEST(BoundVsLp, FreshRandomInstances) {
  const std::uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(testing::replay_note(seed));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const std::int64_t cases = testing::fresh_case_count(4);
  for (std::int64_t k = 0; k < cases && !HasFailure(); ++k) {
    testing::instance_options o;
    o.users = static_cast<std::int64_t>(2.0 * std::pow(1000.0, u(rng)));
    o.tasks = 1 + static_cast<std::int64_t>(u(rng) * 20);
    o.segments = 1 + static_cast<int>(u(rng) * 4);
    o.ineligible = u(rng) < 0.2 ? 0.0 : 0.9 * u(rng);
    o.zero_attraction = 0.5 * u(rng);
    o.zero_rows = 0.2 * u(rng);
    o.infinite_capacity = u(rng) < 0.2 ? 1.0 : u(rng);
    o.with_capacity = u(rng) < 0.9;
    SCOPED_TRACE("case " + std::to_string(k) + ": " + testing::describe(o));
    expect_bound_brackets_the_lp(testing::random_instance(rng, o), false);
  }
}

// A few users, binding capacities: where the gradient method stalls most often, the flow is
// exact and `auto` takes it.
TEST(BoundVsLp, FewUsersAreSolvedExactlyByTheFlow) {
  const std::uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(testing::replay_note(seed));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> users(1, 12), tasks(1, 6);
  for (int k = 0; k < 50 && !HasFailure(); ++k) {
    testing::instance_options o = testing::sized(users(rng), tasks(rng));
    o.infinite_capacity = 0.2;
    SCOPED_TRACE("case " + std::to_string(k) + ": " + testing::describe(o));
    const instance in = testing::random_instance(rng, o);
    temp_dir tmp;
    const problem p = testing::load_instance(tmp, in);
    auto b = make_cpu_backend(p, 1);
    const bound_result r = compute_bound(p, *b, bound_options{});
    const double lp = exact_lp(in);
    EXPECT_LE(r.upper_bound, lp * (1.0 + 1e-9));
    EXPECT_GE(r.lp_lower_bound, lp * (1.0 - 1e-9));
    EXPECT_TRUE(r.converged);
  }
}

// 64 users x 1,024 tasks: past the flow's budget, and the gradient method stalls there short
// of its certificate (2.9% above LP*, bench/RESULTS.md): auto goes on to the flow. Not after
// the iteration limit, though: a caller who asked for a few steps gets a few steps.
TEST(Bound, WhereTheGradientMethodStallsAutoTakesTheFlow) {
  temp_dir tmp;
  generator_options g;
  g.users = 64;
  g.tasks = 1024;
  g.seed = 7;
  generate_bundle(g, tmp / "b");
  const problem p = load_problem(tmp / "b");
  ASSERT_FALSE(flow_lp_is_cheap(p));
  auto b = make_cpu_backend(p, 0);
  bound_options gradient;
  gradient.method = bound_method::gradient;
  const bound_result stalled = compute_bound(p, *b, gradient);
  ASSERT_FALSE(stalled.converged);
  const bound_result r = compute_bound(p, *b, bound_options{});
  EXPECT_EQ(r.method, bound_method::flow);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.iterations, stalled.iterations);  // the flow came after the same gradient run
  EXPECT_LT(r.upper_bound, stalled.upper_bound);
  EXPECT_NEAR(r.lp_lower_bound, r.upper_bound, 1e-9 * r.upper_bound);

  bound_options few;
  few.iterations = 3;
  const bound_result limited = compute_bound(p, *b, few);
  EXPECT_EQ(limited.method, bound_method::gradient);
  EXPECT_EQ(limited.iterations, 3);
  EXPECT_FALSE(limited.converged);
}

// U, LP* and D are homogeneous in r (with the capacities) and in A: the gradient method
// must take the same steps whatever the units, or a problem in cents or in micro-hours
// would be certified later (or never). Powers of two, so every product scales exactly.
TEST(Bound, TheGradientMethodDoesNotDependOnTheUnits) {
  std::mt19937_64 rng(21);
  testing::instance_options o = testing::sized(6000, 12, 2);
  const instance in = testing::random_instance(rng, o);
  instance scaled = in;
  const double a_scale = std::ldexp(1.0, 100), r_scale = std::ldexp(1.0, -60);
  for (auto& a : scaled.attraction) a *= a_scale;
  for (auto& r : scaled.mass) r *= r_scale;
  for (auto& c : scaled.capacity) c *= r_scale;
  temp_dir tmp, tmp_scaled;
  const problem p = testing::load_instance(tmp, in), ps = testing::load_instance(tmp_scaled, scaled);
  auto b = make_cpu_backend(p, 0), bs = make_cpu_backend(ps, 0);
  bound_options gradient;
  gradient.method = bound_method::gradient;
  const bound_result r = compute_bound(p, *b, gradient), rs = compute_bound(ps, *bs, gradient);
  ASSERT_TRUE(r.converged);
  EXPECT_TRUE(rs.converged);
  EXPECT_EQ(rs.iterations, r.iterations);
  EXPECT_NEAR(rs.upper_bound, r.upper_bound * a_scale * r_scale, 1e-12 * rs.upper_bound);
  EXPECT_NEAR(rs.lp_lower_bound, r.lp_lower_bound * a_scale * r_scale, 1e-12 * rs.upper_bound);
}

TEST(Bound, TheFlowIsRefusedWhereItWouldRunForHours) {
  problem big;
  big.users = 200000;
  big.tasks = 32;
  EXPECT_FALSE(flow_lp_is_cheap(big));
  EXPECT_THROW(check_bound_method(big, bound_method::flow), input_error);
  EXPECT_NO_THROW(check_bound_method(big, bound_method::automatic));
  EXPECT_NO_THROW(check_bound_method(big, bound_method::gradient));
  problem small;
  small.users = 300;
  small.tasks = 20;
  EXPECT_TRUE(flow_lp_is_cheap(small));
  EXPECT_NO_THROW(check_bound_method(small, bound_method::flow));
}

TEST(Bound, WithoutCapacitiesItIsTheBestAttractionAndNeedsNoIterations) {
  std::mt19937_64 rng(3);
  testing::instance_options o;
  o.with_capacity = false;
  o.users = 300;
  const instance in = testing::random_instance(rng, o);
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, in);
  auto b = make_cpu_backend(p, 0);
  double want = 0.0;
  for (std::int64_t i = 0; i < in.users; ++i) {
    double best = 0.0;
    for (std::int64_t j = 0; j < in.tasks; ++j)
      if (in.fitness[i * in.tasks + j] > 0.0) best = std::max(best, in.attraction[i * in.tasks + j]);
    want += in.mass[i] * best;
  }
  const bound_result r = compute_bound(p, *b, bound_options{});
  EXPECT_EQ(r.iterations, 0);
  EXPECT_NEAR(r.upper_bound, want, 1e-12 * want);
  EXPECT_GE(r.upper_bound, want);  // rounded up: it bounds the exact sum
  EXPECT_NEAR(r.upper_bound, exact_lp(in), 1e-9 * want);
  EXPECT_EQ(r.method, bound_method::closed_form);
  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(r.lp_lower_bound, want, 1e-12 * want);
}

TEST(Bound, ATimeLimitStopsItEarlyWithAValidLooserBound) {
  std::mt19937_64 rng(11);
  testing::instance_options o = testing::sized(400, 9, 2);
  const instance in = testing::random_instance(rng, o);
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, in);
  auto b = make_cpu_backend(p, 0);
  bound_options gradient;
  gradient.method = bound_method::gradient;
  const bound_result full = compute_bound(p, *b, gradient);
  ASSERT_TRUE(full.converged);
  ASSERT_GT(full.iterations, 0);
  for (bound_method m : {bound_method::automatic, bound_method::flow, bound_method::gradient}) {
    SCOPED_TRACE(bound_method_name(m));
    bound_options quick;
    quick.method = m;
    quick.time_limit_s = 1e-9;  // spent before the first step (or the flow's first path)
    const bound_result r = compute_bound(p, *b, quick);
    EXPECT_FALSE(r.converged);
    EXPECT_EQ(r.iterations, 0);
    EXPECT_GE(r.upper_bound, full.upper_bound);
    EXPECT_GE(r.upper_bound, exact_lp(in) * (1.0 - 1e-9));
  }

  // solve's --time-limit covers the bound too
  solve_options so;
  so.particles = 4;
  so.iterations = 1000000;
  so.stall = 0;
  so.tau = 1.0;
  so.beta = 0.0;
  so.time_limit_s = 1e-9;
  const solve_result sr = solve(p, *b, so);
  EXPECT_EQ(sr.swarm.reason, stop_reason::time_limit);
  ASSERT_TRUE(sr.bound.has_value());
  EXPECT_FALSE(sr.bound->converged);
  EXPECT_EQ(sr.bound->iterations, 0);
  EXPECT_GE(sr.bound->upper_bound, sr.best.served);
  // and the shape search: no shape after the limit
  so.tau.reset();
  so.beta.reset();
  const solve_result searched = solve(p, *b, so);
  EXPECT_EQ(searched.shape_search.size(), 1u);
  EXPECT_EQ(searched.swarm.reason, stop_reason::time_limit);
}

TEST(Bound, CliPrintsPricesAndSolveReportsTheGap) {
  temp_dir tmp;
  ASSERT_EQ(testing::run_cli("generate --users 500 --tasks 9 --segments 2 --out " + (tmp / "b")).exit_code, 0);
  const auto r = testing::run_cli("bound --json --quiet --method gradient --problem " + (tmp / "b") + " --out " +
                                  (tmp / "o"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prices"].size(), 9u);
  EXPECT_EQ(j["method"], "gradient");
  EXPECT_GT(j["bound_iterations"].get<int>(), 0);
  EXPECT_LE(j["lp_lower_bound"].get<double>(), j["upper_bound"].get<double>());
  EXPECT_GT(j["lp_lower_bound"].get<double>(), 0.999 * j["upper_bound"].get<double>());
  npy_array prices(tmp / "o/prices.npy");
  EXPECT_EQ(prices.shape(), (std::vector<std::int64_t>{9}));
  EXPECT_EQ(prices.get_f64(3), j["prices"][3].get<double>());

  // 500 users: auto takes the exact flow, which the gradient's bound is within 0.1% of
  const auto flow = testing::run_cli("bound --json --quiet --problem " + (tmp / "b"));
  ASSERT_EQ(flow.exit_code, 0) << flow.err;
  const auto fj = nlohmann::json::parse(flow.out);
  EXPECT_EQ(fj["method"], "flow");
  EXPECT_EQ(fj["bound_iterations"].get<int>(), 0);
  EXPECT_TRUE(fj["converged"].get<bool>());
  EXPECT_NEAR(fj["lp_lower_bound"].get<double>(), fj["upper_bound"].get<double>(), 1e-9 * fj["upper_bound"].get<double>());
  EXPECT_LE(fj["upper_bound"].get<double>(), j["upper_bound"].get<double>());
  EXPECT_GE(fj["upper_bound"].get<double>() * 1.001, j["upper_bound"].get<double>());
  const auto bad = testing::run_cli("bound --method simplex --problem " + (tmp / "b"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--method: unknown method 'simplex'"), std::string::npos) << bad.err;

  const auto s = testing::run_cli("solve --json --quiet --particles 8 --iterations 5 --search-iterations 2 "
                                  "--bound-method gradient --problem " + (tmp / "b"));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const auto sj = nlohmann::json::parse(s.out);
  EXPECT_EQ(sj["bound_method"], "gradient");
  EXPECT_EQ(sj["lp_lower_bound"].get<double>(), j["lp_lower_bound"].get<double>());
  EXPECT_NEAR(sj["upper_bound"].get<double>(), j["upper_bound"].get<double>(), 1e-12 * j["upper_bound"].get<double>());
  const double gap = (sj["upper_bound"].get<double>() - sj["best_served"].get<double>()) / sj["upper_bound"].get<double>();
  EXPECT_DOUBLE_EQ(sj["gap"].get<double>(), gap);
  EXPECT_GE(gap, 0.0);
  // the printed summary brackets LP* too
  const auto text = testing::run_cli("solve --quiet --particles 8 --iterations 5 --search-iterations 2 --problem " +
                                     (tmp / "b"));
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("upper bound    "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("lp optimum     between "), std::string::npos) << text.out;
  const auto nb = testing::run_cli("solve --json --quiet --no-bound --particles 8 --iterations 5 --tau 1 --beta 0 --problem " +
                                   (tmp / "b"));
  EXPECT_FALSE(nlohmann::json::parse(nb.out).contains("upper_bound"));
}

}  // namespace
}  // namespace attnswarm
