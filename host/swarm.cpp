// Synchronous PSO: every particle moves, then all are evaluated in one batch, then the
// personal and neighbourhood bests are updated. This order is what a GPU does naturally,
// and keeping it here keeps the CPU and CUDA trajectories identical.
#include "swarm.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "trace.hpp"

namespace attnswarm {

const char* stop_reason_name(stop_reason r) {
  switch (r) {
    case stop_reason::iterations: return "iterations";
    case stop_reason::stall: return "stall";
    case stop_reason::time_limit: return "time_limit";
    case stop_reason::interrupted: return "interrupted";
  }
  return "?";
}

namespace {

int neighbourhood_best(const std::vector<double>& pbest_f, int p, topology topo, int global_best) {
  return topo == topology::global ? global_best : ring_best(pbest_f.data(), static_cast<int>(pbest_f.size()), p);
}

int argmin(const std::vector<double>& f) {
  int best = 0;
  for (int p = 1; p < static_cast<int>(f.size()); ++p)
    if (f[p] < f[best]) best = p;
  return best;
}

class cpu_swarm_state final : public swarm_state {
 public:
  void start(int particles, int dims, const double* x, const double* v, const double* f) override {
    np_ = particles;
    dims_ = dims;
    const std::size_t n = static_cast<std::size_t>(particles) * dims;
    x_.assign(x, x + n);
    v_.assign(v, v + n);
    pbest_ = x_;
    pbest_f_.assign(f, f + particles);
    nb_.resize(static_cast<std::size_t>(particles));
    gbest_ = argmin(pbest_f_);
  }
  void move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, topology topo, double* x) override {
    for (int p = 0; p < np_; ++p) nb_[p] = neighbourhood_best(pbest_f_, p, topo, gbest_);
    cpu_move(seed, t, c, np_, dims_, nb_.data(), pbest_.data(), x_.data(), v_.data());
    std::copy(x_.begin(), x_.end(), x);
  }
  void record(const double* f) override {
    for (int p = 0; p < np_; ++p) {
      if (f[p] < pbest_f_[p]) {
        pbest_f_[p] = f[p];
        std::copy_n(x_.begin() + static_cast<std::ptrdiff_t>(p) * dims_, dims_,
                    pbest_.begin() + static_cast<std::ptrdiff_t>(p) * dims_);
      }
    }
    gbest_ = argmin(pbest_f_);
  }
  const std::vector<double>& personal_best_values() const override { return pbest_f_; }
  int best_particle() const override { return gbest_; }
  std::vector<double> best_position() override {
    return {pbest_.begin() + static_cast<std::ptrdiff_t>(gbest_) * dims_,
            pbest_.begin() + static_cast<std::ptrdiff_t>(gbest_ + 1) * dims_};
  }

 private:
  int np_ = 0, dims_ = 0, gbest_ = 0;
  std::vector<double> x_, v_, pbest_, pbest_f_;
  std::vector<int> nb_;
};

}  // namespace

std::unique_ptr<swarm_state> make_cpu_swarm_state() { return std::make_unique<cpu_swarm_state>(); }

void cpu_move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, int particles, int dims, const int* neighbour,
              const double* pbest, double* x, double* v) {
  for (int p = 0; p < particles; ++p) {
    const double* nbest = pbest + static_cast<std::size_t>(neighbour[p]) * dims;
    for (int d = 0; d < dims; ++d) {
      const std::size_t k = static_cast<std::size_t>(p) * dims + d;
      pso_update(x[k], v[k], pbest[k], nbest[d], swarm_draw(seed, t, static_cast<std::uint32_t>(p),
                                                             static_cast<std::uint32_t>(d)), c);
    }
  }
}

namespace {

// The seeded positions, clamped into the box, that the first particles take. When they
// outnumber the particles, the best of them (one batch evaluation, counted in `evaluations`)
// in their given order: a small swarm must not drop a seed that serves more than those it keeps.
std::vector<std::vector<double>> seeds_to_place(int dims, const batch_objective& objective, const swarm_options& o,
                                                std::int64_t& evaluations) {
  std::vector<std::vector<double>> seeds;
  for (const std::vector<double>& s : o.seeded) {
    if (static_cast<int>(s.size()) != dims) throw std::invalid_argument("swarm: seeded position has the wrong dimension");
    std::vector<double>& x = seeds.emplace_back(s);
    for (double& xd : x) xd = std::fmin(std::fmax(xd, o.x_lo), o.x_hi);
  }
  const int count = static_cast<int>(seeds.size());
  if (count <= o.particles) return seeds;
  std::vector<double> all, f(static_cast<std::size_t>(count));
  for (const std::vector<double>& s : seeds) all.insert(all.end(), s.begin(), s.end());
  objective(all.data(), count, dims, f.data());
  evaluations += count;
  std::vector<int> rank(static_cast<std::size_t>(count));
  std::iota(rank.begin(), rank.end(), 0);
  std::stable_sort(rank.begin(), rank.end(), [&](int a, int b) { return f[a] < f[b]; });
  rank.resize(static_cast<std::size_t>(o.particles));
  std::sort(rank.begin(), rank.end());
  std::vector<std::vector<double>> kept;
  for (int k : rank) kept.push_back(std::move(seeds[k]));
  return kept;
}

}  // namespace

swarm_result run_swarm(int dims, const batch_objective& objective, const swarm_options& o,
                       const progress_callback& on_progress) {
  if (dims <= 0) throw std::invalid_argument("swarm: dims must be > 0");
  if (o.particles < 1) throw std::invalid_argument("swarm: particles must be >= 1");
  if (!(o.x_lo < o.x_hi)) throw std::invalid_argument("swarm: empty position range");
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const int np = o.particles;
  const std::size_t n = static_cast<std::size_t>(np) * dims;
  std::vector<double> x(n), v(n), f(np);

  swarm_result res;
  const std::vector<std::vector<double>> seeds = seeds_to_place(dims, objective, o, res.evaluations);
  for (int p = 0; p < np; ++p)
    for (int d = 0; d < dims; ++d) {
      const std::size_t k = static_cast<std::size_t>(p) * dims + d;
      pso_init(x[k], v[k], swarm_draw(o.seed, 0, p, d), o.init_lo, o.init_hi, o.v_max);
      if (p < static_cast<int>(seeds.size())) x[k] = seeds[p][d];
    }
  std::unique_ptr<swarm_state> own_state;
  swarm_state* state = o.state;
  if (state == nullptr) {
    own_state = make_cpu_swarm_state();
    state = own_state.get();
  }
  objective(x.data(), np, dims, f.data());
  res.evaluations += np;
  state->start(np, dims, x.data(), v.data(), f.data());

  const auto best_value = [&] { return state->personal_best_values()[state->best_particle()]; };
  const auto record = [&](int t) {
    double mean = 0.0;
    for (double b : state->personal_best_values()) mean += b;
    swarm_progress pr{t, best_value(), mean / np, elapsed()};
    res.history.push_back(pr);
    if (on_progress) on_progress(pr, o);
  };
  record(0);

  double stall_ref = best_value();
  int stalled = 0;
  for (int t = 1; t <= o.iterations; ++t) {
    if (o.interrupt != nullptr && o.interrupt->load()) {
      res.reason = stop_reason::interrupted;
      break;
    }
    if (o.time_limit_s > 0.0 && elapsed() >= o.time_limit_s) {
      res.reason = stop_reason::time_limit;
      break;
    }
    pso_coeffs c{o.omega, o.c1, o.c2, o.v_max, o.x_lo, o.x_hi};
    if (o.omega_end >= 0.0 && o.iterations > 1)
      c.omega = o.omega + (o.omega_end - o.omega) * (t - 1) / (o.iterations - 1);
    {
      const trace_range range("swarm step");
      state->move(o.seed, static_cast<std::uint32_t>(t), c, o.topo, x.data());
    }
    objective(x.data(), np, dims, f.data());
    res.evaluations += np;
    {
      const trace_range range("swarm step");
      state->record(f.data());
    }
    res.iterations_run = t;
    record(t);
    if (o.stall > 0) {
      if (best_value() < stall_ref - o.tol * std::fabs(stall_ref)) {
        stall_ref = best_value();
        stalled = 0;
      } else if (++stalled >= o.stall) {
        res.reason = stop_reason::stall;
        break;
      }
    }
  }
  res.best = best_value();
  res.best_x = state->best_position();
  return res;
}

}  // namespace attnswarm
