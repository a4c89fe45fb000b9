// FISTA with a secant step size and gradient restarts, on D_gamma for a falling sequence of
// gamma. Each pass over the users returns the smoothed value, the exact value and the
// gradient at once, so every point the optimizer visits also yields a valid exact bound;
// the smallest is reported.
#include "bound.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

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
      : p_(p), b_(b), on_pass_(on_pass) {}

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
    if (on_pass_) on_pass_(passes, best.exact);
    return e;
  }

  int passes = 0;
  evaluated best;

 private:
  const problem& p_;
  backend& b_;
  const std::function<void(int, double)>& on_pass_;
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

}  // namespace

double certified_upper_bound(double d, const problem& p) {
  if (!(d > 0.0)) return d;  // every term is 0 (each a product of nonnegative numbers): exact
  const double units = 4.0 * static_cast<double>(p.users + p.tasks) + 64.0;
  return std::nextafter(d * (1.0 + units * std::ldexp(1.0, -53)), std::numeric_limits<double>::infinity());
}

double dual_value(const problem& p, backend& b, const std::vector<double>& lambda) {
  const std::function<void(int, double)> none;
  dual_oracle oracle(p, b, none);
  return oracle.at(lambda, 1.0).exact;
}

bound_result compute_bound(const problem& p, backend& b, const bound_options& o) {
  const auto start = std::chrono::steady_clock::now();
  const std::size_t m = static_cast<std::size_t>(p.tasks);
  dual_oracle oracle(p, b, o.on_pass);
  bound_result res;
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const auto finish = [&](bool converged, double gamma) {
    res.upper_bound = certified_upper_bound(oracle.best.exact, p);
    res.prices = oracle.best.lambda;
    res.passes = oracle.passes;
    res.gamma = gamma;
    res.converged = converged;
    res.elapsed_s = seconds();
    return res;
  };

  double total_mass = 0.0;
  for (double r : p.mass) total_mass += r;
  // With no finite capacity the prices stay 0 and D(0) = sum_i r_i max_j A_ij is exact.
  const bool any_finite = std::any_of(p.capacity.begin(), p.capacity.end(), [](double c) { return std::isfinite(c); });
  evaluated x = oracle.at(std::vector<double>(m, 0.0), 1.0);
  if (!any_finite || !(total_mass > 0.0) || !(x.exact > 0.0)) return finish(true, 0.0);

  // Smoothing starts at a twentieth of the mean best attraction and falls 4x per stage until
  // the worst-case smoothing error gamma * sum_i r_i log(1 + M) is below the tolerance.
  const double smoothing_per_gamma = total_mass * std::log1p(static_cast<double>(m));
  double gamma = 0.05 * x.exact / total_mass;
  x = oracle.at(x.lambda, gamma);
  double max_load = 0.0;
  for (std::size_t j = 0; j < m; ++j)
    if (std::isfinite(p.capacity[j])) max_load = std::max(max_load, p.capacity[j] - x.grad[j]);
  double lipschitz = std::max(2.0 * max_load / gamma, 1e-12);

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
    while (!stage_done && res.iterations < o.iterations) {
      if (o.interrupt != nullptr && o.interrupt->load()) return finish(false, gamma);
      if (o.time_limit_s > 0.0 && seconds() >= o.time_limit_s) return finish(false, gamma);
      ++res.iterations;
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
      if (!std::isfinite(yn.smooth) || yn.smooth > 2.0 * std::fabs(stage_best) + 1.0) {
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
    if (stage_done && last_stage) return finish(true, gamma);
    if (res.iterations >= o.iterations) return finish(false, gamma);
    gamma *= 0.25;
    lipschitz *= 4.0;
    x = oracle.at(oracle.best.lambda, gamma);
  }
}

}  // namespace attnswarm
