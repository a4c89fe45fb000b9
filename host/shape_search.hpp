// The shape search: which (tau, beta) the main swarm runs on. Each shape costs a short swarm
// (search_iterations x particles evaluations, 2,048 by default); with the bound's prices, a
// shape's price ladder (21 evaluations in one batch, host/price_seeds.hpp) ranks it nearly as
// well, so the ladder screens every shape and only the best few get a swarm.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "backend.hpp"
#include "swarm.hpp"

namespace attnswarm {

struct shape_trial {
  shape s;
  std::optional<double> best_served;        // its short swarm's best (batched), when it had one
  std::optional<double> price_seed_served;  // its price ladder's best within +-w_max (batched), when it had one
};

// The shape grid of DESIGN §1, restricted to the fixed value when tau or beta is given.
std::vector<shape> shape_grid(std::optional<double> tau, std::optional<double> beta);

// The grid is an example: the best shape often lies past its edge (on generated data and on
// MovieLens, a beta of 16 to 32: attention concentrated on each user's tasks of highest value,
// as at the LP optimum), so the search goes on past it. These are the shapes one step past
// the edge of those tried, next to the best one when it lies on that edge along its own row or
// column: beta x 2 when no shape of its tau had a larger beta, tau x 2 (tau / 2) when no shape
// of its beta had a larger (smaller) tau; free parameters only, within the limits below, none
// tried before.
std::vector<shape> shapes_past_the_edge(const std::vector<shape_trial>& tried, const shape& best, bool tau_free,
                                        bool beta_free);
// Past A^256 or F^(1/tau) at these tau, a user's attention already goes to one task and the
// boosts can no longer move it.
constexpr double k_max_search_beta = 256.0;
constexpr double k_min_search_tau = 1.0 / 64.0, k_max_search_tau = 64.0;

// The shapes one step from s on the search's lattice (tau x 2 and / 2; beta x 2 and / 2, with
// 0 next to 1), free parameters only, within the limits above.
std::vector<shape> shape_neighbours(const shape& s, bool tau_free, bool beta_free);

// The shape search's box: min(w_max, 4). Its swarms are short (15 iterations), and in a
// wider box they are too noisy to rank shapes: at +-6 to +-12 they kept beta 0 to 4 on
// MovieLens, whose best shape has beta 64 (bench/RESULTS.md, 2026-12-04).
constexpr double k_shape_search_w_max = 4.0;
inline double shape_search_w_max(double w_max) { return w_max < k_shape_search_w_max ? w_max : k_shape_search_w_max; }

// How many screened shapes get a short swarm by default (solve --search-swarms): on the 14
// instances of bench/RESULTS.md (2026-12-04) the shape the swarms pick ranked 1st to 7th of
// 19-35 by its ladder, and the climb below reaches the rest.
constexpr int k_default_search_swarms = 6;

// What the search does on one shape; solve() binds them to its backend and its seeds.
struct shape_search_steps {
  // what the shape's price ladder serves at best (its score); nullopt without prices
  std::function<std::optional<double>(const shape&)> screen;
  // a short swarm on the shape
  std::function<swarm_result(const shape&)> swarm;
  std::function<bool()> stopped;  // the time limit or an interrupt: no further shape
  std::function<void(const char* stage, int index, int of, const shape&)> on_shape;  // progress, may be empty
};

struct shape_search_result {
  std::vector<shape_trial> trials;  // every shape screened or swarmed, the grid first, in its order
  shape best;                       // the best swarm's shape; the best ladder's when no swarm ran
  std::vector<double> best_x;       // the best swarm's policy; empty when no swarm ran
};

// With prices (the first screen gives a ladder): screen the grid's largest beta at its first
// tau, walk past the edge while the edge's ladder wins, screen the rest of the grid (and walk
// again if a shape there ranks first); swarm the `swarms` shapes whose ladders serve most;
// then, while it gains, swarm the unswarmed neighbours of the best swarm's shape. Without
// prices: swarm every grid shape (that corner first), then past the edge while the edge's
// swarm wins.
shape_search_result search_shapes(const std::vector<shape>& grid, bool tau_free, bool beta_free, int swarms,
                                  const shape_search_steps& steps);

}  // namespace attnswarm
