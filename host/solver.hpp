// The solve pipeline: baseline, shape search, swarm on the boosts, exact final report.
// Backend-agnostic: it only talks to the backend interface.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backend.hpp"
#include "bound.hpp"
#include "price_seeds.hpp"
#include "swarm.hpp"

namespace attnswarm {

// Largest |W_sj| a policy may hold (--w-max; eval --policy): exp(W) stays well inside
// float32's range, with room for the batched evaluation's products (e^50 = 5e21), and a boost
// of e^100 = 3e43 of one task over another is more than any use asks.
constexpr double k_max_log_boost = 50.0;

struct solve_options {
  int particles = 128;
  int iterations = 200;
  int search_iterations = 15;  // per shape of the grid
  std::uint64_t seed = 1;
  topology topo = topology::global;
  bool falling_inertia = false;  // omega 0.9 -> 0.4 instead of constant 0.7298
  std::optional<double> tau, beta;
  // bound on |W| of the answer: the main swarm's box (the shape search's short swarms stay
  // within shape_search_w_max of it). DESIGN §2 says 4; at the large beta the search finds,
  // boosts of +-4 can barely move attention, and 8 narrowed the gap on every instance of
  // bench/RESULTS.md (2026-12-04).
  double w_max = 8.0;
  int stall = 50;
  double tol = 1e-6;
  double time_limit_s = 0.0;
  int topk = 0;
  // A warm start (solve --init-policy), S x M; empty: none. Particle 1 of every swarm starts
  // there (clamped to w_max, as the swarm clamps any position), and the answer is never worse
  // than it: its exact report is kept when the swarm found nothing better.
  std::vector<double> init_policy;
  bool bound = true;          // compute the certified upper bound and the gap
  // seed every swarm with the best policy of the bound's price ladder (host/price_seeds.hpp);
  // needs the bound
  bool price_seeds = true;
  bound_options bound_opts;
  const std::atomic<bool>* interrupt = nullptr;
  progress_callback on_progress;  // main swarm only
  std::function<void(const policy_report&)> on_baseline;  // once the baseline is known
  std::function<void(const std::string&)> on_phase;         // "shape search 3/12 ...", "bound"

};

struct shape_trial {
  shape s;
  double best_served;  // from the batched evaluation
  std::optional<double> price_seed_served;  // what its price seed served (batched), when it had one
};

// Seconds of each phase of a solve, in the order they run (the NVTX ranges of the same names
// split them further for Nsight).
struct solve_phases {
  double baseline_s = 0.0;      // the exact report of W = 0
  double bound_s = 0.0;         // the certified upper bound (0 with --no-bound)
  double shape_search_s = 0.0;  // the short swarms of the shape grid (0 when tau and beta are given)
  double swarm_s = 0.0;         // the main swarm
  double report_s = 0.0;        // the exact reports of the best policy, the warm start and any fall-back
};

struct solve_result {
  shape best_shape;
  std::vector<double> best_policy;  // S x M
  policy_report baseline;           // W = 0, tau = 1, beta = 0
  policy_report best;               // exact report of best_policy under best_shape
  std::vector<shape_trial> shape_search;  // empty when tau and beta were both given
  swarm_result swarm;                     // the main swarm
  bool fell_back_to_baseline = false;     // exact check found no gain over the baseline
  std::optional<policy_report> init;      // exact report of the warm start under best_shape, when given
  bool fell_back_to_init_policy = false;  // exact check found no gain over the warm start
  std::optional<bound_result> bound;      // absent with --no-bound
  std::optional<price_seed> seed_from_prices;  // the main swarm's seed from the bound's prices, when it had one
  solve_phases phases;
  double elapsed_s = 0.0;
};

// The shape search's box: min(w_max, 4). Its swarms are short (15 iterations), and in a
// wider box they are too noisy to rank shapes: at +-6 to +-12 they kept beta 0 to 4 on
// MovieLens, whose best shape has beta 64 (bench/RESULTS.md, 2026-12-04).
constexpr double k_shape_search_w_max = 4.0;
inline double shape_search_w_max(double w_max) { return w_max < k_shape_search_w_max ? w_max : k_shape_search_w_max; }

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

solve_result solve(const problem& p, backend& b, const solve_options& o);

}  // namespace attnswarm
