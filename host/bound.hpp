// The certified upper bound (DESIGN §1): minimize the LP dual D(lambda) over prices
// lambda >= 0 with accelerated projected gradient steps on its gamma-smoothed version,
// lowering gamma in stages, and report the exact D at the best lambda seen. Any allocation,
// by any method, serves at most this much. Backend-agnostic: it needs only dual_pass().
#pragma once

#include <atomic>
#include <functional>
#include <vector>

#include "backend.hpp"

namespace attnswarm {

struct bound_options {
  int iterations = 1000;    // gradient steps, all stages together
  double tolerance = 1e-3;  // target relative distance of the bound to its limit (LP*)
  const std::atomic<bool>* interrupt = nullptr;
  // > 0: stop after this many seconds. Stopping early (here or on interrupt) still gives a
  // valid bound, the exact D at the best prices so far, only a looser one.
  double time_limit_s = 0.0;
  // Called after every pass with the best exact bound so far (progress, benchmarks).
  std::function<void(int passes, double best_bound)> on_pass;
};

struct bound_result {
  double upper_bound = 0.0;     // exact D at `prices`
  std::vector<double> prices;   // M, 0 where the capacity is infinite
  int iterations = 0;           // gradient steps taken
  int passes = 0;               // passes over the users (value and gradient evaluations)
  double gamma = 0.0;           // smoothing of the last stage
  bool converged = false;       // the smoothing gap and the last stage's progress are below tolerance
  double elapsed_s = 0.0;
};

bound_result compute_bound(const problem& p, backend& b, const bound_options& o);

// (upper_bound - served) / upper_bound: how far `served` can be from the best allocation of
// any kind; 0 when the bound is 0 (nothing can be served).
inline double optimality_gap(double upper_bound, double served) {
  return upper_bound > 0.0 ? (upper_bound - served) / upper_bound : 0.0;
}

// Exact D(lambda) of one price vector (one pass).
double dual_value(const problem& p, backend& b, const std::vector<double>& lambda);

}  // namespace attnswarm
