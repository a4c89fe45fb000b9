#include "solver.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "trace.hpp"

namespace attnswarm {

namespace {

// box: the swarm's bound on |W|, o.w_max for the main swarm, less for the shape search
swarm_options policy_swarm_options(const solve_options& o, backend& b, int iterations, double time_left, double box) {
  swarm_options so;
  so.state = b.device_swarm();
  so.particles = o.particles;
  so.iterations = iterations;
  so.seed = o.seed;
  so.topo = o.topo;
  if (o.falling_inertia) {
    so.omega = 0.9;
    so.omega_end = 0.4;
  }
  so.x_lo = so.init_lo = -box;
  so.x_hi = so.init_hi = box;
  so.v_max = 0.25 * 2.0 * box;
  so.tol = o.tol;
  so.time_limit_s = time_left;
  so.interrupt = o.interrupt;
  return so;
}

}  // namespace

solve_result solve(const problem& p, backend& b, const solve_options& o) {
  if (o.bound) check_bound_method(p, o.bound_opts.method);  // before the swarm's work, not after
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Remaining time for the next phase; a tiny positive value once the budget is spent so
  // that the swarm stops at once with reason time_limit.
  const auto time_left = [&] {
    return o.time_limit_s > 0.0 ? std::max(1e-9, o.time_limit_s - elapsed()) : 0.0;
  };
  // seconds since the previous call: each phase's time
  auto lap = [&, last = 0.0]() mutable {
    const double now = elapsed(), d = now - last;
    last = now;
    return d;
  };
  const int dims = static_cast<int>(p.dims());
  const std::vector<double> zero(static_cast<std::size_t>(dims), 0.0);
  solve_result res;
  {
    const trace_range range("report");
    res.baseline = b.report(zero.data(), shape{}, 0);
  }
  res.phases.baseline_s = lap();
  if (o.on_baseline) o.on_baseline(res.baseline);

  const auto objective = [&b](const double* x, int count, int, double* f) {
    const trace_range range("evaluate");
    b.evaluate(x, count, f);
    for (int q = 0; q < count; ++q) f[q] = -f[q];
  };

  // particle 0 at the baseline, 1 at the warm start when there is one (the price seed and
  // the shape search's best come after them)
  std::vector<std::vector<double>> starts = {zero};
  if (!o.init_policy.empty()) {
    if (o.init_policy.size() != zero.size()) throw std::invalid_argument("solve: init_policy is not segments x tasks");
    starts.push_back(o.init_policy);
  }
  // The bound comes first: its prices seed the swarms. It is shape-free, so it runs once.
  if (o.bound) {
    bound_options bo = o.bound_opts;
    bo.interrupt = o.interrupt;
    // the limit is for the whole solve: the bound, which stops with a valid (looser) bound
    // whenever asked, may take half of it, and the swarms what it leaves
    if (o.time_limit_s > 0.0) bo.time_limit_s = 0.5 * o.time_limit_s;
    const trace_range range("bound");
    if (o.on_phase) o.on_phase("certified upper bound");
    res.bound = compute_bound(p, b, bo);
  }
  res.phases.bound_s = lap();
  // the best policy of the price ladder under the backend's current shape, within +-box;
  // nullopt without prices. The margins' dual pass runs with the first ladder, and counts in
  // its phase.
  std::optional<std::vector<double>> margins;
  const auto price_ladder = [&](double box) -> std::optional<price_seed> {
    if (!res.bound || !o.price_seeds) return std::nullopt;
    const trace_range range("price seeds");
    if (!margins) margins = price_margins(p, b, *res.bound);
    price_seed ps = best_price_seed(b, *margins, static_cast<int>(p.segments), box);
    if (ps.policy.empty()) return std::nullopt;
    return ps;
  };
  const std::vector<shape> grid = shape_grid(o.tau, o.beta);
  std::vector<double> search_best = zero;
  res.best_shape = grid.front();
  if (grid.size() > 1) {
    const trace_range range("shape search");
    // Under --time-limit the search may take half of what the bound left, and the main swarm
    // has the rest: a search that took it all left the main swarm no iteration, 8.3% from
    // the bound on the built-in instance in 6 s against 4.7% (bench/RESULTS.md, 2026-12-04).
    const double search_until = elapsed() + 0.5 * std::max(0.0, o.time_limit_s - elapsed());
    const auto search_time_left = [&] {
      return o.time_limit_s > 0.0 ? std::max(1e-9, search_until - elapsed()) : 0.0;
    };
    const double box = shape_search_w_max(o.w_max);
    // set_shape reshapes every row (a pow per user and task): once per shape, not per step
    std::optional<shape> shaped;
    const auto use_shape = [&](const shape& s) {
      if (shaped && shaped->tau == s.tau && shaped->beta == s.beta) return;
      b.set_shape(s);
      shaped = s;
    };
    shape_search_steps steps;
    // ranked by the ladder within the main swarm's box, where the answer will lie: within
    // the search's, the ladders of beta 16 and more lose to beta 8 while their swarms win
    // (bench/RESULTS.md, 2026-12-04)
    steps.screen = [&](const shape& s) -> std::optional<double> {
      use_shape(s);
      const std::optional<price_seed> ps = price_ladder(o.w_max);
      return ps ? std::optional<double>(ps->served) : std::nullopt;
    };
    steps.swarm = [&](const shape& s) {
      use_shape(s);
      swarm_options so = policy_swarm_options(o, b, o.search_iterations, search_time_left(), box);
      so.seeded = starts;
      if (const std::optional<price_seed> ps = price_ladder(box)) so.seeded.push_back(ps->policy);
      return run_swarm(dims, objective, so);
    };
    steps.stopped = [&] {
      return (o.interrupt != nullptr && o.interrupt->load()) || (o.time_limit_s > 0.0 && elapsed() >= search_until);
    };
    if (o.on_phase)
      steps.on_shape = [&](const char* stage, int index, int of, const shape& s) {
        char text[160];
        if (of > 0)
          std::snprintf(text, sizeof text, "shape search: %s %d/%d (tau %g, beta %g)", stage, index, of, s.tau, s.beta);
        else
          std::snprintf(text, sizeof text, "shape search: %s (tau %g, beta %g)", stage, s.tau, s.beta);
        o.on_phase(text);
      };
    shape_search_result found = search_shapes(grid, !o.tau, !o.beta, o.search_swarms, steps);
    res.shape_search = std::move(found.trials);
    res.best_shape = found.best;
    if (!found.best_x.empty()) search_best = std::move(found.best_x);
  }
  res.phases.shape_search_s = lap();

  b.set_shape(res.best_shape);
  swarm_options so = policy_swarm_options(o, b, o.iterations, time_left(), o.w_max);
  so.stall = o.stall;
  res.seed_from_prices = price_ladder(o.w_max);
  so.seeded = starts;
  if (res.seed_from_prices) so.seeded.push_back(res.seed_from_prices->policy);
  if (search_best != zero) so.seeded.push_back(search_best);
  res.swarm = run_swarm(dims, objective, so, o.on_progress);
  res.best_policy = res.swarm.best_x;
  res.phases.swarm_s = lap();
  {
    const trace_range report_range("report");
    res.best = b.report(res.best_policy.data(), res.best_shape, o.topk);
    if (!o.init_policy.empty()) {
      // as for the baseline below: the exact check counts, and a nightly run that starts
      // from yesterday's policy never ends below it
      res.init = b.report(o.init_policy.data(), res.best_shape, 0);
      if (res.best.served < res.init->served) {
        res.fell_back_to_init_policy = true;
        res.best_policy = o.init_policy;
        res.best = b.report(res.best_policy.data(), res.best_shape, o.topk);
      }
    }
    if (res.best.served < res.baseline.served) {
      // The search ran on float32 products; the exact check is the one that counts, and the
      // answer is never worse than what the platform does today.
      res.fell_back_to_baseline = true;
      res.best_shape = shape{};
      res.best_policy = zero;
      res.best = b.report(zero.data(), shape{}, o.topk);
    }
  }
  res.phases.report_s = lap();
  res.elapsed_s = elapsed();
  return res;
}

}  // namespace attnswarm
