// The certified upper bound (DESIGN §1): minimize the LP dual D(lambda) over prices
// lambda >= 0 with accelerated projected gradient steps on its gamma-smoothed version,
// lowering gamma in stages (or, on small instances, take the optimal prices of an exact
// min-cost flow), and report the exact D at the best lambda seen. Any allocation, by any
// method, serves at most this much. A feasible allocation found on the way bounds LP* from
// below, and the bound is `converged` once the two are within the tolerance.
// Backend-agnostic: it needs only dual_pass().
#pragma once

#include <atomic>
#include <functional>
#include <vector>

#include "backend.hpp"

namespace attnswarm {

// How the prices are found. automatic: the exact flow (host/flow_lp.hpp) where it is cheap
// (few users, where the gradient method is weakest), else the gradient method, and the flow
// after it where that could not certify its bound and the flow is feasible. closed_form
// is only ever a result: no finite capacity, or nothing to serve, and D(0) is exact.
enum class bound_method { automatic, flow, gradient, closed_form };

struct bound_options {
  bound_method method = bound_method::automatic;
  int iterations = 1000;    // gradient steps, all stages together
  double tolerance = 1e-3;  // stop once the bound is shown within this of LP* (relative)
  const std::atomic<bool>* interrupt = nullptr;
  // > 0: stop after this many seconds. Stopping early (here or on interrupt) still gives a
  // valid bound, the exact D at the best prices so far, only a looser one.
  double time_limit_s = 0.0;
  // Called after every pass with the best exact bound so far (progress, benchmarks).
  std::function<void(int passes, double best_bound)> on_pass;
};

struct bound_result {
  double upper_bound = 0.0;     // D at `prices`, rounded up (certified_upper_bound)
  // The utilization of a feasible (fractional) allocation found on the way: LP* lies in
  // [lp_lower_bound, upper_bound], so upper_bound is at most upper_bound / lp_lower_bound - 1
  // above LP*.
  double lp_lower_bound = 0.0;
  std::vector<double> prices;   // M, 0 where the capacity is infinite
  int iterations = 0;           // gradient steps taken
  int passes = 0;               // passes over the users (value and gradient evaluations)
  bound_method method = bound_method::gradient;  // what found the prices: closed_form, flow or gradient
  double gamma = 0.0;           // smoothing of the last stage (0 for the flow)
  bool converged = false;       // certified: upper_bound <= (1 + tolerance) * lp_lower_bound
  double elapsed_s = 0.0;
};

bound_result compute_bound(const problem& p, backend& b, const bound_options& o);

// D as computed in float64, raised by the rounding its sum and any served utilization's can
// carry, so that the result bounds the exact D and no computed U exceeds it. D sums N + M
// nonnegative terms, each one subtraction and one product: any order of the sum is within
// (N + M + 2) units of roundoff (2^-53) of it, relative; U's report sums as many terms. The
// allowance, (4 (N + M) + 64) units, is 4.4e-9 relative at 10M users: far below any gap worth
// reading, and without it a tight bound (one task, every capacity infinite) can fall an ulp
// below the served utilization it bounds.
double certified_upper_bound(double d, const problem& p);

const char* bound_method_name(bound_method m);
// Throws input_error when the method cannot serve this problem (flow on a large instance).
void check_bound_method(const problem& p, bound_method m);

// (upper_bound - served) / upper_bound: how far `served` can be from the best allocation of
// any kind; 0 when the bound is 0 (nothing can be served).
inline double optimality_gap(double upper_bound, double served) {
  return upper_bound > 0.0 ? (upper_bound - served) / upper_bound : 0.0;
}

// Exact D(lambda) of one price vector (one pass).
double dual_value(const problem& p, backend& b, const std::vector<double>& lambda);

}  // namespace attnswarm
