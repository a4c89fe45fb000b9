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
#include "shape_search.hpp"
#include "swarm.hpp"

namespace attnswarm {

// Largest |W_sj| a policy may hold (--w-max; eval --policy): exp(W) stays well inside
// float32's range, with room for the batched evaluation's products (e^50 = 5e21), and a boost
// of e^100 = 3e43 of one task over another is more than any use asks.
constexpr double k_max_log_boost = 50.0;

struct solve_options {
  int particles = 128;
  int iterations = 200;
  int search_iterations = 15;  // per short swarm of the shape search
  // how many shapes, those whose price ladders serve most, get a short swarm (host/shape_search.hpp)
  int search_swarms = k_default_search_swarms;
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
  std::function<void(const std::string&)> on_phase;         // "shape search: swarm 3/6 ...", "certified upper bound"
};

// Seconds of each phase of a solve, in the order they run (the NVTX ranges of the same names
// split them further for Nsight).
struct solve_phases {
  double baseline_s = 0.0;      // the exact report of W = 0
  double bound_s = 0.0;         // the certified upper bound (0 with --no-bound)
  double shape_search_s = 0.0;  // the short swarms of the shape grid (its price ladders and short swarms; 0 when tau and beta are given)
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

solve_result solve(const problem& p, backend& b, const solve_options& o);

}  // namespace attnswarm
