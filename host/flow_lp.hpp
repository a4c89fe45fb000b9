// The LP of DESIGN §1 solved exactly as a min-cost flow, for the instances where the bound's
// gradient method is weakest: few users, so that the dual D is nearly piecewise linear and
// first-order steps crawl between its kinks. Users supply r_i, tasks take at most cap_j, and
// a unit of attention from user i to task j (F_ij > 0) earns A_ij; the flow's node potentials
// give the prices. The bound does not rest on this solver being right: it reports the exact
// D at the prices found, as for any other prices, and uses the flow's value only to decide
// that it is done.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "problem.hpp"

namespace attnswarm {

struct flow_lp_solution {
  double value = 0.0;          // sum A_ij x_ij of the optimal flow, summed in float64
  std::vector<double> prices;  // M: optimal lambda, 0 where the capacity is infinite
  int augmentations = 0;
};

// Whether the flow is cheap here: it takes about one shortest-path search over the N x M
// pairs per user and per task, so (N + M) N M must stay under 2^24 (a few tenths of a second:
// about 900 users at 20 tasks, 4,000 at one).
bool flow_lp_is_cheap(const problem& p);
// Whether it may be asked for at all: past (N + M) N M = 2^32 (about a minute) --method flow
// is refused rather than left to run for hours.
bool flow_lp_is_feasible(const problem& p);

// The LP optimum by successive shortest paths (Dijkstra on reduced costs). nullopt when
// stop() said so between augmentations (a signal, a time limit) or it made more augmentations
// than a well-behaved run can (rounding): the caller then goes on without an exact optimum.
std::optional<flow_lp_solution> solve_flow_lp(const problem& p, const std::function<bool()>& stop);

}  // namespace attnswarm
