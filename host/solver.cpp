#include "solver.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

#include "trace.hpp"

namespace attnswarm {

std::vector<shape> shape_grid(std::optional<double> tau, std::optional<double> beta) {
  const std::vector<double> taus = tau ? std::vector<double>{*tau} : std::vector<double>{1.0, 0.5, 0.25};
  const std::vector<double> betas = beta ? std::vector<double>{*beta} : std::vector<double>{0.0, 1.0, 2.0, 4.0};
  std::vector<shape> grid;
  for (double t : taus)
    for (double b : betas) grid.push_back(shape{t, b});
  return grid;
}

std::vector<shape> shapes_past_the_edge(const std::vector<shape_trial>& tried, const shape& best, bool tau_free,
                                        bool beta_free) {
  // the edge along each line through the best shape: beta at its tau, tau at its beta
  double tau_lo = best.tau, tau_hi = best.tau, beta_hi = best.beta;
  for (const auto& t : tried) {
    if (t.s.beta == best.beta) {
      tau_lo = std::min(tau_lo, t.s.tau);
      tau_hi = std::max(tau_hi, t.s.tau);
    }
    if (t.s.tau == best.tau) beta_hi = std::max(beta_hi, t.s.beta);
  }
  std::vector<shape> next;
  if (beta_free && best.beta == beta_hi && best.beta > 0.0 && 2.0 * best.beta <= k_max_search_beta)
    next.push_back(shape{best.tau, 2.0 * best.beta});
  if (tau_free && best.tau == tau_hi && 2.0 * best.tau <= k_max_search_tau) next.push_back(shape{2.0 * best.tau, best.beta});
  if (tau_free && best.tau == tau_lo && 0.5 * best.tau >= k_min_search_tau) next.push_back(shape{0.5 * best.tau, best.beta});
  std::vector<shape> fresh;
  for (const shape& s : next) {
    bool seen = false;
    for (const auto& t : tried) seen = seen || (t.s.tau == s.tau && t.s.beta == s.beta);
    if (!seen) fresh.push_back(s);
  }
  return fresh;
}

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
  // the seeds of one swarm under the backend's current shape: the fixed starts, then the
  // best policy of the price ladder, which `chosen` reports (nullopt when there is none).
  // The margins' dual pass runs with the first swarm to use them, and counts in its phase.
  std::optional<std::vector<double>> margins;
  const auto seeds_with_prices = [&](std::vector<std::vector<double>> seeds, double box,
                                     std::optional<price_seed>& chosen) {
    chosen.reset();
    if (!res.bound || !o.price_seeds) return seeds;
    const trace_range range("price seeds");
    if (!margins) margins = price_margins(p, b, *res.bound);
    price_seed ps = best_price_seed(b, *margins, static_cast<int>(p.segments), box);
    if (ps.policy.empty()) return seeds;
    seeds.push_back(ps.policy);
    chosen = std::move(ps);
    return seeds;
  };
  const std::vector<shape> grid = shape_grid(o.tau, o.beta);
  std::vector<double> search_best = zero;
  res.best_shape = grid.front();
  if (grid.size() > 1) {
    const trace_range range("shape search");
    double best = -std::numeric_limits<double>::infinity();
    // one short swarm on shape s; true when it beat every shape before it
    const auto try_shape = [&](const shape& s, const char* where) {
      if (o.on_phase) {
        char text[128];
        std::snprintf(text, sizeof text, "shape search %zu%s (tau %g, beta %g)", res.shape_search.size() + 1, where,
                      s.tau, s.beta);
        o.on_phase(text);
      }
      b.set_shape(s);
      const double box = shape_search_w_max(o.w_max);
      swarm_options so = policy_swarm_options(o, b, o.search_iterations, time_left(), box);
      std::optional<price_seed> ps;
      so.seeded = seeds_with_prices(starts, box, ps);
      const swarm_result r = run_swarm(dims, objective, so);
      res.shape_search.push_back(shape_trial{s, -r.best, ps ? std::optional<double>(ps->served) : std::nullopt});
      if (!(-r.best > best)) return false;
      best = -r.best;
      res.best_shape = s;
      search_best = r.best_x;
      return true;
    };
    const auto stopped = [&] {
      return (o.interrupt != nullptr && o.interrupt->load()) || (o.time_limit_s > 0.0 && elapsed() >= o.time_limit_s);
    };
    std::string of_grid = "/";  // appended: GCC 12 warns falsely on "/" + string
    of_grid += std::to_string(grid.size());
    // once stopped, no further shape: each would still cost its swarm's first evaluation
    // and its price ladder, 12 of them past a --time-limit before this check
    for (const shape& s : grid) {
      try_shape(s, of_grid.c_str());
      if (stopped()) break;
    }
    // past the grid's edge while the edge wins: one step at a time, next to the best shape
    for (bool gained = true; gained && !stopped();) {
      gained = false;
      for (const shape& s : shapes_past_the_edge(res.shape_search, res.best_shape, !o.tau, !o.beta))
        gained = try_shape(s, ", past the grid") || gained;
    }
  }
  res.phases.shape_search_s = lap();

  b.set_shape(res.best_shape);
  swarm_options so = policy_swarm_options(o, b, o.iterations, time_left(), o.w_max);
  so.stall = o.stall;
  so.seeded = seeds_with_prices(starts, o.w_max, res.seed_from_prices);
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
