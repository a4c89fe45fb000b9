// Policies seeded from the certified bound's prices. At the LP optimum each user gives its
// attention to the tasks of largest A_ij - lambda_j; a policy ranks them by
// beta log A_ij + W_sj, and log(A_ij - lambda_j) = log A_ij + log(1 - lambda_j / A_ij). With
// A_ij replaced by the attraction a unit of attention on j has at those prices (A-bar_j, from
// the soft allocation of one dual pass), boosts c * log(1 - lambda_j / A-bar_j) steer every
// user towards the LP's choice; the scale c, how sharply, is found by evaluating a ladder of
// them in one batch.
#pragma once

#include <vector>

#include "backend.hpp"
#include "bound.hpp"

namespace attnswarm {

// log(1 - lambda_j / A-bar_j) per task: 0 where lambda_j = 0, -inf where the price takes all
// of a task's value (or where, at these prices, no attention goes).
std::vector<double> price_margins(const problem& p, backend& b, const bound_result& bound);

// The ladder of scales c, and the policies (S x M each, one after another) they give: each
// segment's row shifted so that its largest boost is w_max (a constant per segment changes
// no allocation) and clamped to [-w_max, w_max].
std::vector<double> price_seed_scales();
std::vector<double> price_seed_policies(const std::vector<double>& margins, int segments, double w_max);

// The policy of the ladder that serves most under the backend's current shape (evaluate()),
// and what it serves there; empty when no price is positive.
struct price_seed {
  std::vector<double> policy;
  double served = 0.0;
  double scale = 0.0;
};
price_seed best_price_seed(backend& b, const std::vector<double>& margins, int segments, double w_max);

}  // namespace attnswarm
