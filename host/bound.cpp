// The prices come from the LP's closed form (no finite capacity), the exact flow of
// host/flow_lp.hpp (small instances, and where the gradient method cannot certify its
// bound), or the gradient method: FISTA with a secant step size and gradient restarts, on
// D_gamma for a falling sequence of gamma. Each pass over the users returns the smoothed
// value, the exact value and the gradient at once, so every point the optimizer visits also
// yields a valid exact bound; the smallest is reported. The same pass gives the soft allocation behind the gradient,
// which cut to the capacities is a feasible allocation: its utilization, or that of the
// stage's average allocation, is a lower bound on LP*, and the optimizer stops once the two
// bracket LP* within the tolerance.
#include "bound.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "../kernels/attn_math.hpp"
#include "errors.hpp"
#include "flow_lp.hpp"

namespace attnswarm {

namespace {

struct evaluated {
  std::vector<double> lambda;
  double smooth = 0.0;  // D_gamma(lambda)
  double exact = 0.0;   // D(lambda)
  std::vector<double> grad;
};

class dual_oracle {
 public:
  dual_oracle(const problem& p, backend& b, const std::function<void(int, double)>& on_pass)
      : p_(p), b_(b), on_pass_(on_pass) {
    start_average();
  }

  evaluated at(const std::vector<double>& lambda, double gamma) {
    ++passes;
    const dual_sums s = b_.dual_pass(lambda.data(), gamma);
    evaluated e;
    e.lambda = lambda;
    double linear = 0.0;
    e.grad.assign(lambda.size(), 0.0);
    for (std::size_t j = 0; j < lambda.size(); ++j) {
      if (!std::isfinite(p_.capacity[j])) continue;
      linear += p_.capacity[j] * lambda[j];
      e.grad[j] = p_.capacity[j] - s.soft_load[j];
    }
    e.smooth = s.smooth + linear;
    e.exact = s.exact + linear;
    if (e.exact < best.exact || best.lambda.empty()) best = e;
    for (std::size_t j = 0; j < lambda.size(); ++j) {
      average_load_[j] += s.soft_load[j];
      average_value_[j] += s.soft_value[j];
    }
    ++averaged_;
    // An allocation cut to what each task can serve, as the served utilization U is, is a
    // feasible allocation of the LP, so it serves at most LP*.
    std::vector<double> load(lambda.size()), value(lambda.size());
    for (std::size_t j = 0; j < lambda.size(); ++j) {
      load[j] = average_load_[j] / averaged_;
      value[j] = average_value_[j] / averaged_;
    }
    const int m = static_cast<int>(lambda.size());
    lower = std::max({lower, served_utilization(p_.capacity.data(), s.soft_load.data(), s.soft_value.data(), m),
                      served_utilization(p_.capacity.data(), load.data(), value.data(), m)});
    if (on_pass_) on_pass_(passes, best.exact);
    return e;
  }

  // The average allocation restarts with every stage: the earlier stages' allocations are
  // those of a smoother dual, further from the optimum.
  void start_average() {
    average_load_.assign(p_.capacity.size(), 0.0);
    average_value_.assign(p_.capacity.size(), 0.0);
    averaged_ = 0;
  }

  // best.exact >= LP* >= lower: the bound is within `tolerance` of LP* once best.exact is
  // within it of lower.
  bool certified(double tolerance) const { return best.exact <= (1.0 + tolerance) * lower; }

  int passes = 0;
  evaluated best;
  double lower = 0.0;  // the most a feasible allocation seen so far serves

 private:
  const problem& p_;
  backend& b_;
  const std::function<void(int, double)>& on_pass_;
  std::vector<double> average_load_, average_value_;  // sums over the stage's passes
  int averaged_ = 0;
};

std::vector<double> project_step(const problem& p, const std::vector<double>& y, const std::vector<double>& g,
                                 double step) {
  std::vector<double> x(y.size(), 0.0);
  for (std::size_t j = 0; j < y.size(); ++j)
    if (std::isfinite(p.capacity[j])) x[j] = std::max(0.0, y[j] - step * g[j]);
  return x;
}

double dot_diff(const std::vector<double>& g, const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0.0;
  for (std::size_t j = 0; j < x.size(); ++j) s += g[j] * (x[j] - y[j]);
  return s;
}

double sq_dist(const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0.0;
  for (std::size_t j = 0; j < x.size(); ++j) s += (x[j] - y[j]) * (x[j] - y[j]);
  return s;
}

// Sharper stages after the last one ends uncertified, before the bound gives up.
constexpr int k_uncertified_stages = 2;

struct gradient_end {
  bool converged;  // certified within the tolerance
  double gamma;    // of the last stage
  bool stalled;    // ran out of stages uncertified (not stopped, nor out of iterations)
};

// The gradient method: FISTA stages on D_gamma from the best prices so far. `iterations`
// counts the steps (against o.iterations).
gradient_end minimize_by_gradient(const problem& p, const bound_options& o, dual_oracle& oracle, double total_mass,
                                  int& iterations, const std::function<bool()>& should_stop) {
  const std::size_t m = static_cast<std::size_t>(p.tasks);
  // Smoothing starts at a twentieth of the mean best attraction and falls 4x per stage until
  // the worst-case smoothing error gamma * sum_i r_i log(1 + M) is below the tolerance.
  const double smoothing_per_gamma = total_mass * std::log1p(static_cast<double>(m));
  double gamma = 0.05 * oracle.best.exact / total_mass;
  oracle.start_average();
  evaluated x = oracle.at(oracle.best.lambda, gamma);
  double max_load = 0.0;
  for (std::size_t j = 0; j < m; ++j)
    if (std::isfinite(p.capacity[j])) max_load = std::max(max_load, p.capacity[j] - x.grad[j]);
  // (the floor, for a start with no load on any capacity, in the problem's own units: the
  // method must not depend on how r and A are scaled)
  double lipschitz = std::max(2.0 * max_load / gamma, 1e-12 * total_mass / gamma);

  int uncertified_stages = 0;
  for (;;) {
    // One stage of FISTA on D_gamma, warm-started at x. One pass per step: the gradient at
    // the extrapolated point y. The step 1/L follows a secant estimate of the curvature
    // between consecutive points, and the momentum restarts when the step turns uphill
    // (O'Donoghue and Candes' gradient restart), so no function values are compared; the
    // bound stays valid whatever the steps, since it is the exact D at the best point seen.
    evaluated y = x;
    std::vector<double> x_prev = x.lambda;
    double t = 1.0;
    const bool last_stage = gamma * smoothing_per_gamma <= o.tolerance * oracle.best.exact;
    std::vector<double> history;  // best smoothed value of this stage, per step
    double stage_best = y.smooth;
    bool stage_done = false;
    while (!stage_done && iterations < o.iterations) {
      if (oracle.certified(o.tolerance)) return {true, gamma, false};
      if (should_stop()) return {false, gamma, false};
      ++iterations;
      const std::vector<double> xn = project_step(p, y.lambda, y.grad, 1.0 / lipschitz);
      std::vector<double> yl(m, 0.0);
      if (dot_diff(y.grad, xn, x_prev) > 0.0) {
        t = 1.0;  // uphill: restart the momentum
        yl = xn;
      } else {
        const double tn = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
        for (std::size_t j = 0; j < m; ++j)
          if (std::isfinite(p.capacity[j])) yl[j] = std::max(0.0, xn[j] + (t - 1.0) / tn * (xn[j] - x_prev[j]));
        t = tn;
      }
      x_prev = xn;
      evaluated yn = oracle.at(yl, gamma);
      // secant curvature between y and yn: the step follows it with a margin of 2 when the
      // curvature rises (the far-too-long guard below catches what overshoots), and when it
      // falls by at most 16x a pass. Where D_gamma is flat between kinks (small instances,
      // small gamma) the secant is 0: followed at once, the step became infinite and stayed
      // so, and the bound stopped where it stood (bench/RESULTS.md, 2026-12-04). Growing the
      // step by 10% a pass instead, as once, took 2-3 times the passes to come within 0.1%.
      const double dist2 = sq_dist(yn.lambda, y.lambda);
      if (dist2 > 0.0) {
        double g2 = 0.0;
        for (std::size_t j = 0; j < m; ++j) g2 += (yn.grad[j] - y.grad[j]) * (yn.grad[j] - y.grad[j]);
        const double secant = std::sqrt(g2 / dist2);
        lipschitz = secant > lipschitz ? 2.0 * secant : std::max(secant, 0.0625 * lipschitz);
      }
      if (!std::isfinite(yn.smooth) || yn.smooth > 2.0 * stage_best) {  // stage_best >= D > 0
        // a step far too long: go back to the stage's best point with a shorter step
        lipschitz *= 4.0;
        t = 1.0;
        yn = oracle.at(oracle.best.lambda, gamma);
        x_prev = yn.lambda;
      }
      y = std::move(yn);
      stage_best = std::min(stage_best, y.smooth);
      history.push_back(stage_best);
      // A stage ends when its progress is small next to what it can still matter: in the
      // last stage, the tolerance; before it, the stage's own smoothing gap D_gamma - D,
      // since the next, sharper stage starts from here anyway.
      constexpr std::size_t window = 5;
      if (history.size() > window) {
        const double progress = history[history.size() - 1 - window] - stage_best;
        const double enough = last_stage ? 0.25 * o.tolerance * std::fabs(stage_best) : 0.05 * (y.smooth - y.exact);
        stage_done = progress <= enough;
      }
    }
    // A last stage that ends uncertified either stalled short of LP* or stopped where the
    // average allocation is still too far from optimal to show it: sharper stages go on from
    // the best prices, a few only, since each takes longer than the last and a large instance
    // is then almost always within the tolerance already (bench/RESULTS.md, 2026-12-04).
    if (oracle.certified(o.tolerance)) return {true, gamma, false};
    if (iterations >= o.iterations) return {false, gamma, false};
    if (last_stage && ++uncertified_stages > k_uncertified_stages) return {false, gamma, true};
    gamma *= 0.25;
    lipschitz *= 4.0;
    oracle.start_average();
    x = oracle.at(oracle.best.lambda, gamma);
  }
}

}  // namespace

double certified_upper_bound(double d, const problem& p) {
  if (!(d > 0.0)) return d;  // every term is 0 (each a product of nonnegative numbers): exact
  const double units = 4.0 * static_cast<double>(p.users + p.tasks) + 64.0;
  return std::nextafter(d * (1.0 + units * std::ldexp(1.0, -53)), std::numeric_limits<double>::infinity());
}

void check_bound_method(const problem& p, bound_method m) {
  if (m == bound_method::flow && !flow_lp_is_feasible(p))
    throw input_error("bound method flow: " + std::to_string(p.users) + " users x " + std::to_string(p.tasks) +
                      " tasks is too large for the exact flow ((users + tasks) x users x tasks at most 2^32); "
                      "use auto or gradient");
}

const char* bound_method_name(bound_method m) {
  switch (m) {
    case bound_method::automatic: return "auto";
    case bound_method::flow: return "flow";
    case bound_method::gradient: return "gradient";
    case bound_method::closed_form: return "closed_form";
  }
  return "?";
}

double dual_value(const problem& p, backend& b, const std::vector<double>& lambda) {
  const std::function<void(int, double)> none;
  dual_oracle oracle(p, b, none);
  return oracle.at(lambda, 1.0).exact;
}

bound_result compute_bound(const problem& p, backend& b, const bound_options& o) {
  check_bound_method(p, o.method);
  const auto start = std::chrono::steady_clock::now();
  const std::size_t m = static_cast<std::size_t>(p.tasks);
  dual_oracle oracle(p, b, o.on_pass);
  bound_result res;
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const auto finish = [&](bool converged, double gamma, bound_method method) {
    res.upper_bound = certified_upper_bound(oracle.best.exact, p);
    res.lp_lower_bound = std::min(oracle.lower, res.upper_bound);
    res.prices = oracle.best.lambda;
    res.passes = oracle.passes;
    res.method = method;
    res.gamma = gamma;
    res.converged = converged;
    res.elapsed_s = seconds();
    return res;
  };
  const std::function<bool()> should_stop = [&] {
    return (o.interrupt != nullptr && o.interrupt->load()) || (o.time_limit_s > 0.0 && seconds() >= o.time_limit_s);
  };
  // The exact flow's prices, evaluated like any others; false when it did not finish or
  // rounding left its prices short of the certificate.
  const auto by_flow = [&] {
    const auto lp = solve_flow_lp(p, should_stop);
    if (!lp) return false;
    oracle.lower = std::max(oracle.lower, lp->value);
    oracle.at(lp->prices, 1.0);
    return oracle.certified(o.tolerance);
  };

  double total_mass = 0.0;
  for (double r : p.mass) total_mass += r;
  // With no finite capacity the prices stay 0 and D(0) = sum_i r_i max_j A_ij is exact.
  const bool any_finite = std::any_of(p.capacity.begin(), p.capacity.end(), [](double c) { return std::isfinite(c); });
  const evaluated zero = oracle.at(std::vector<double>(m, 0.0), 1.0);
  if (!any_finite || !(total_mass > 0.0) || !(zero.exact > 0.0)) {
    oracle.lower = oracle.best.exact;  // each user's best task: LP* itself (up to rounding)
    return finish(true, 0.0, bound_method::closed_form);
  }
  const bool cheap = flow_lp_is_cheap(p);
  if (o.method == bound_method::flow || (o.method == bound_method::automatic && cheap)) {
    if (by_flow()) return finish(true, 0.0, bound_method::flow);
    if (should_stop()) return finish(false, 0.0, bound_method::flow);
  }
  const gradient_end g = minimize_by_gradient(p, o, oracle, total_mass, res.iterations, should_stop);
  // Where the gradient method stalled short of showing its bound within the tolerance, the
  // exact flow settles it if it can within about a minute (many tasks and few users). Not
  // after a stop or the iteration limit: those asked for less work, not more.
  if (g.stalled && o.method == bound_method::automatic && !cheap && flow_lp_is_feasible(p) && by_flow())
    return finish(true, 0.0, bound_method::flow);
  return finish(g.converged, g.gamma, bound_method::gradient);
}

}  // namespace attnswarm
