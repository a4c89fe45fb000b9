// Synchronous PSO: every particle moves, then all are evaluated in one batch, then the
// personal and neighbourhood bests are updated. This order is what a GPU does naturally,
// and keeping it here keeps the CPU and CUDA trajectories identical.
#include "swarm.hpp"

#include <chrono>
#include <cmath>
#include <limits>
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

// Index of the best personal best among particle p's neighbours (lowest index on ties).
int neighbourhood_best(const std::vector<double>& pbest_f, int p, topology topo, int global_best) {
  if (topo == topology::global) return global_best;
  const int n = static_cast<int>(pbest_f.size());
  int best = -1;
  for (int q : {(p + n - 1) % n, p, (p + 1) % n}) {
    if (best < 0 || pbest_f[q] < pbest_f[best] || (pbest_f[q] == pbest_f[best] && q < best)) best = q;
  }
  return best;
}

int argmin(const std::vector<double>& f) {
  int best = 0;
  for (int p = 1; p < static_cast<int>(f.size()); ++p)
    if (f[p] < f[best]) best = p;
  return best;
}

}  // namespace

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
  std::vector<double> x(n), v(n), pbest(n), f(np), pbest_f(np);

  for (int p = 0; p < np; ++p)
    for (int d = 0; d < dims; ++d) {
      const std::size_t k = static_cast<std::size_t>(p) * dims + d;
      pso_init(x[k], v[k], swarm_draw(o.seed, 0, p, d), o.init_lo, o.init_hi, o.v_max);
      if (p < static_cast<int>(o.seeded.size())) {
        if (static_cast<int>(o.seeded[p].size()) != dims)
          throw std::invalid_argument("swarm: seeded position has the wrong dimension");
        x[k] = std::fmin(std::fmax(o.seeded[p][d], o.x_lo), o.x_hi);
      }
    }
  swarm_result res;
  objective(x.data(), np, dims, f.data());
  res.evaluations += np;
  pbest = x;
  pbest_f = f;
  int gbest = argmin(pbest_f);

  const auto record = [&](int t) {
    double mean = 0.0;
    for (double b : pbest_f) mean += b;
    swarm_progress pr{t, pbest_f[gbest], mean / np, elapsed()};
    res.history.push_back(pr);
    if (on_progress) on_progress(pr, o);
  };
  record(0);

  double stall_ref = pbest_f[gbest];
  int stalled = 0;
  std::vector<int> nb(np);
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
      for (int p = 0; p < np; ++p) nb[p] = neighbourhood_best(pbest_f, p, o.topo, gbest);
      if (o.mover != nullptr)
        o.mover->move(o.seed, static_cast<std::uint32_t>(t), c, np, dims, nb.data(), pbest.data(), x.data(), v.data());
      else
        cpu_move(o.seed, static_cast<std::uint32_t>(t), c, np, dims, nb.data(), pbest.data(), x.data(), v.data());
    }
    objective(x.data(), np, dims, f.data());
    res.evaluations += np;
    for (int p = 0; p < np; ++p) {
      if (f[p] < pbest_f[p]) {
        pbest_f[p] = f[p];
        std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(p) * dims, dims,
                    pbest.begin() + static_cast<std::ptrdiff_t>(p) * dims);
      }
    }
    gbest = argmin(pbest_f);
    res.iterations_run = t;
    record(t);
    if (o.stall > 0) {
      if (pbest_f[gbest] < stall_ref - o.tol * std::fabs(stall_ref)) {
        stall_ref = pbest_f[gbest];
        stalled = 0;
      } else if (++stalled >= o.stall) {
        res.reason = stop_reason::stall;
        break;
      }
    }
  }
  res.best = pbest_f[gbest];
  res.best_x.assign(pbest.begin() + static_cast<std::ptrdiff_t>(gbest) * dims,
                    pbest.begin() + static_cast<std::ptrdiff_t>(gbest + 1) * dims);
  return res;
}

}  // namespace attnswarm
