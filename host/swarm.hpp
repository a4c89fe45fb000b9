// The particle swarm engine (DESIGN §2): backend-agnostic, minimizes any batched objective.
// The random stream is a pure function of (seed, t, p, d) from kernels/attn_math.hpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../kernels/attn_math.hpp"

namespace attnswarm {

enum class topology { global, ring };

// Moves every particle one step of DESIGN §2, in place on x and v (particles x dims), given
// each particle's personal best and the index of its neighbourhood best: the reference step.
void cpu_move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, int particles, int dims, const int* neighbour,
              const double* pbest, double* x, double* v);

// Where the swarm's state (positions, velocities, personal bests) lives and how it changes.
// run_swarm() keeps the loop, the stopping rules and the objective on the host and asks its
// state to move and to record. make_cpu_swarm_state() is the reference; the CUDA backend keeps
// the same state on the device (block-per-particle kernels, CUB for the best of swarm) and
// follows it bit for bit, since both use pso_update and swarm_draw of kernels/attn_math.hpp
// and the same tie rules (the lowest index wins).
class swarm_state {
 public:
  virtual ~swarm_state() = default;
  // The initial swarm: positions, velocities and the objective there (particles x dims).
  virtual void start(int particles, int dims, const double* x, const double* v, const double* f) = 0;
  // One move with the neighbourhood of `topo`; the new positions are written to x.
  virtual void move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, topology topo, double* x) = 0;
  // The objective at the positions of the last move: personal bests and the best of swarm.
  virtual void record(const double* f) = 0;
  // After start() or record(): the personal-best values and the best particle's index.
  virtual const std::vector<double>& personal_best_values() const = 0;
  virtual int best_particle() const = 0;
  // The best particle's personal-best position (dims values).
  virtual std::vector<double> best_position() = 0;
};

std::unique_ptr<swarm_state> make_cpu_swarm_state();
enum class stop_reason { iterations, stall, time_limit, interrupted };
const char* stop_reason_name(stop_reason r);

struct swarm_options {
  int particles = 128;
  int iterations = 200;  // iteration limit (t = 1..iterations)
  std::uint64_t seed = 1;
  topology topo = topology::global;
  double omega = 0.7298;      // inertia; constant unless omega_end is set
  double omega_end = -1.0;    // >= 0: inertia falls linearly from omega to omega_end
  double c1 = 1.49618, c2 = 1.49618;
  double x_lo = -4.0, x_hi = 4.0;             // position bounds (w_max)
  double init_lo = -4.0, init_hi = 4.0;       // initial positions drawn from here
  double v_max = 2.0;                         // default 0.25 * (x_hi - x_lo)
  int stall = 0;        // > 0: stop after this many iterations without improvement
  double tol = 1e-6;    // relative improvement that resets the stall count
  double time_limit_s = 0.0;  // > 0: stop after this many seconds
  const std::atomic<bool>* interrupt = nullptr;  // set (e.g. by SIGINT): stop, keep the best
  // Positions given to the first particles instead of random draws (particle 0 = baseline);
  // when there are more than particles, the best of them, in this order.
  std::vector<std::vector<double>> seeded;
  swarm_state* state = nullptr;  // nullptr: make_cpu_swarm_state()
};

// Minimize: f[p] = objective(x + p*dims) for p < count.
using batch_objective = std::function<void(const double* x, int count, int dims, double* f)>;

struct swarm_progress {
  int iteration;
  double best;       // best objective so far
  double mean_pbest; // mean of the personal bests
  double elapsed_s;
};

struct swarm_result {
  std::vector<double> best_x;
  double best = 0.0;
  int iterations_run = 0;
  stop_reason reason = stop_reason::iterations;
  std::vector<swarm_progress> history;  // one entry per iteration, t = 0 (initialisation) first
  std::int64_t evaluations = 0;
};

// Called after every iteration (t = 0 included); may print progress.
using progress_callback = std::function<void(const swarm_progress&, const swarm_options&)>;

swarm_result run_swarm(int dims, const batch_objective& objective, const swarm_options& options,
                       const progress_callback& on_progress = {});

}  // namespace attnswarm
