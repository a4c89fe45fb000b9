// The swarm engine on the PSO-w settings of Liang et al. 2006 (IEEE TEVC 10(3), Table II):
// 30-D, 40 particles, 200,000 evaluations, inertia 0.9 -> 0.4, c1 = c2 = 2, v_max = 0.2 x
// range, positions clamped, global topology, asymmetric initialisation; 30 trials. Prints
// mean +- standard deviation of the final best beside the paper's figures.
#include <cmath>
#include <cstdio>
#include <vector>

#include "standard_functions.hpp"
#include "swarm.hpp"

using namespace attnswarm;

namespace {

using standard_functions::rastrigin;
using standard_functions::sphere;

struct problem_def {
  const char* name;
  batch_objective f;
  double lo, hi, init_lo, init_hi;
  double paper_mean, paper_std;
};

}  // namespace

int main() {
  constexpr int dims = 30, particles = 40, evaluations = 200000, trials = 30;
  const problem_def defs[] = {
      {"Sphere", sphere, -100.0, 100.0, -100.0, 50.0, 9.78e-30, 2.50e-29},
      {"Rastrigin", rastrigin, -5.12, 5.12, -5.12, 2.0, 2.90e+01, 7.70e+00},
  };
  std::printf("PSO-w, %d-D, %d particles, %d evaluations, %d trials (seeds 1..%d)\n", dims, particles, evaluations,
              trials, trials);
  std::printf("%-10s %24s %24s\n", "function", "attnswarm mean +- std", "Liang et al. 2006");
  for (const auto& def : defs) {
    std::vector<double> best;
    for (int t = 1; t <= trials; ++t) {
      swarm_options o;
      o.particles = particles;
      o.iterations = evaluations / particles - 1;  // the initialisation is one batch of evaluations
      o.seed = static_cast<std::uint64_t>(t);
      o.omega = 0.9;
      o.omega_end = 0.4;
      o.c1 = o.c2 = 2.0;
      o.x_lo = def.lo;
      o.x_hi = def.hi;
      o.init_lo = def.init_lo;
      o.init_hi = def.init_hi;
      o.v_max = 0.2 * (def.hi - def.lo);
      best.push_back(run_swarm(dims, def.f, o).best);
    }
    double mean = 0.0, var = 0.0;
    for (double b : best) mean += b / trials;
    for (double b : best) var += (b - mean) * (b - mean) / (trials - 1);
    std::printf("%-10s %11.2e +- %9.2e %11.2e +- %9.2e\n", def.name, mean, std::sqrt(var), def.paper_mean,
                def.paper_std);
  }
  return 0;
}
