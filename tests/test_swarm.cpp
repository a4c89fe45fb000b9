// The swarm engine on generic objectives, and its stopping rules.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "../bench/standard_functions.hpp"
#include "swarm.hpp"

namespace attnswarm {
namespace {

using standard_functions::rastrigin;
using standard_functions::sphere;

swarm_options bounded(double lo, double hi) {
  swarm_options o;
  o.x_lo = o.init_lo = lo;
  o.x_hi = o.init_hi = hi;
  o.v_max = 0.25 * (hi - lo);
  return o;
}

TEST(Swarm, SolvesTenDimensionalSphere) {
  swarm_options o = bounded(-5.12, 5.12);
  o.particles = 40;
  o.iterations = 1000;
  const swarm_result r = run_swarm(10, sphere, o);
  EXPECT_LT(r.best, 1e-6);
  EXPECT_EQ(r.iterations_run, 1000);
  EXPECT_EQ(r.reason, stop_reason::iterations);
  EXPECT_EQ(r.evaluations, 40 * 1001);
}

TEST(Swarm, ImprovesRastriginWithinAFixedBudget) {
  for (topology t : {topology::global, topology::ring}) {
    swarm_options o = bounded(-5.12, 5.12);
    o.particles = 40;
    o.iterations = 500;
    o.topo = t;
    o.omega = 0.9;
    o.omega_end = 0.4;
    const swarm_result r = run_swarm(10, rastrigin, o);
    const double start = r.history.front().best;
    EXPECT_LT(r.best, 0.25 * start) << "topology " << static_cast<int>(t);
    EXPECT_LT(r.best, 30.0);
    // the best never gets worse
    for (std::size_t k = 1; k < r.history.size(); ++k) ASSERT_LE(r.history[k].best, r.history[k - 1].best);
  }
}

TEST(Swarm, SameSeedSameTrajectoryOtherSeedOtherTrajectory) {
  swarm_options o = bounded(-5.12, 5.12);
  o.particles = 16;
  o.iterations = 50;
  const swarm_result a = run_swarm(6, rastrigin, o), b = run_swarm(6, rastrigin, o);
  ASSERT_EQ(a.history.size(), b.history.size());
  for (std::size_t k = 0; k < a.history.size(); ++k) EXPECT_EQ(a.history[k].best, b.history[k].best);
  EXPECT_EQ(a.best_x, b.best_x);
  o.seed = 2;
  const swarm_result c = run_swarm(6, rastrigin, o);
  EXPECT_NE(a.best_x, c.best_x);
}

TEST(Swarm, SeededParticleZeroMakesTheAnswerNoWorse) {
  // A deceptive objective: best at the origin, which random draws never hit exactly.
  const auto spike = [](const double* x, int count, int dims, double* f) {
    for (int p = 0; p < count; ++p) {
      double s = 0.0;
      for (int d = 0; d < dims; ++d) s += std::fabs(x[p * dims + d]);
      f[p] = s == 0.0 ? -1.0 : 1.0;
    }
  };
  swarm_options o = bounded(-1.0, 1.0);
  o.particles = 8;
  o.iterations = 5;
  o.seeded = {std::vector<double>(4, 0.0)};
  const swarm_result r = run_swarm(4, spike, o);
  EXPECT_EQ(r.best, -1.0);
  EXPECT_EQ(r.best_x, std::vector<double>(4, 0.0));
  EXPECT_EQ(r.history.front().best, -1.0);
}

TEST(Swarm, MoreSeedsThanParticlesKeepsTheBestOfThemInOrder) {
  // f = distance to (0.5, 0.5); seeds at 0.9, 0.5, -1 (clamped to -0.8), 0.6: two
  // particles take 0.5 and 0.6, in the order given, and the answer is the seed at 0.5.
  const auto to_half = [](const double* x, int count, int dims, double* f) {
    for (int p = 0; p < count; ++p) {
      double s = 0.0;
      for (int d = 0; d < dims; ++d) s += std::fabs(x[p * dims + d] - 0.5);
      f[p] = s;
    }
  };
  swarm_options o = bounded(-0.8, 0.8);
  o.particles = 2;
  o.iterations = 0;
  o.seeded = {{0.9, 0.9}, {0.5, 0.5}, {-1.0, -1.0}, {0.6, 0.6}};
  std::vector<std::vector<double>> placed;
  const auto recording = [&](const double* x, int count, int dims, double* f) {
    for (int p = 0; p < count; ++p) placed.emplace_back(x + p * dims, x + (p + 1) * dims);
    to_half(x, count, dims, f);
  };
  const swarm_result r = run_swarm(2, recording, o);
  // the seeds' own batch (clamped), then the swarm's first
  ASSERT_EQ(placed.size(), 6u);
  EXPECT_EQ(placed[0], (std::vector<double>{0.8, 0.8}));
  EXPECT_EQ(placed[2], (std::vector<double>{-0.8, -0.8}));
  EXPECT_EQ(placed[4], (std::vector<double>{0.5, 0.5}));
  EXPECT_EQ(placed[5], (std::vector<double>{0.6, 0.6}));
  EXPECT_EQ(r.best_x, (std::vector<double>{0.5, 0.5}));
  EXPECT_EQ(r.best, 0.0);
  EXPECT_EQ(r.evaluations, 6);
  // as many seeds as particles: no extra batch
  o.seeded.resize(2);
  placed.clear();
  EXPECT_EQ(run_swarm(2, recording, o).evaluations, 2);
  EXPECT_EQ(placed[0], (std::vector<double>{0.8, 0.8}));
}

TEST(Swarm, StopsOnStall) {
  const auto flat = [](const double*, int count, int, double* f) {
    for (int p = 0; p < count; ++p) f[p] = 1.0;
  };
  swarm_options o = bounded(-1.0, 1.0);
  o.iterations = 1000;
  o.stall = 7;
  const swarm_result r = run_swarm(3, flat, o);
  EXPECT_EQ(r.reason, stop_reason::stall);
  EXPECT_EQ(r.iterations_run, 7);
}

TEST(Swarm, StopsOnTheTimeLimit) {
  const auto slow = [](const double* x, int count, int dims, double* f) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    sphere(x, count, dims, f);
  };
  swarm_options o = bounded(-1.0, 1.0);
  o.iterations = 100000;
  o.time_limit_s = 0.2;
  const swarm_result r = run_swarm(3, slow, o);
  EXPECT_EQ(r.reason, stop_reason::time_limit);
  EXPECT_LT(r.iterations_run, 100);
  EXPECT_EQ(r.best_x.size(), 3u);
}

TEST(Swarm, StopsWhenInterruptedAndKeepsTheBest) {
  std::atomic<bool> stop{false};
  int calls = 0;
  const auto counting = [&](const double* x, int count, int dims, double* f) {
    sphere(x, count, dims, f);
    if (++calls == 4) stop.store(true);
  };
  swarm_options o = bounded(-1.0, 1.0);
  o.iterations = 1000;
  o.interrupt = &stop;
  const swarm_result r = run_swarm(3, counting, o);
  EXPECT_EQ(r.reason, stop_reason::interrupted);
  EXPECT_EQ(r.iterations_run, 3);
  EXPECT_EQ(r.best, r.history.back().best);
}

TEST(Swarm, PositionsStayInsideTheBox) {
  double worst = 0.0;
  const auto watch = [&](const double* x, int count, int dims, double* f) {
    for (int k = 0; k < count * dims; ++k) worst = std::max(worst, std::fabs(x[k]));
    for (int p = 0; p < count; ++p) f[p] = -x[p * dims];  // pushes everyone to the wall
  };
  swarm_options o = bounded(-2.0, 2.0);
  o.iterations = 50;
  run_swarm(5, watch, o);
  EXPECT_LE(worst, 2.0);
}

}  // namespace
}  // namespace attnswarm
