// Checks of a CUDA backend against the CPU reference, shared by the GPU tests (test_gpu.cpp,
// on a device) and the fake-device tests (test_fake_device.cpp, the same driver and kernels
// on the CPU).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../bench/standard_functions.hpp"
#include "backend.hpp"
#include "cpu_backend.hpp"
#include "device_plan.hpp"
#include "errors.hpp"
#include "npy.hpp"
#include "problem.hpp"
#include "solver.hpp"
#include "swarm.hpp"
#include "test_util.hpp"

namespace attnswarm::testing {

inline bool close(double got, double want, double rtol, double atol = 1e-12) {
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

// particles: the group of policies one batched evaluation holds; fewer than the 37 that
// expect_matches_cpu evaluates, so that groups are exercised.
inline backend_options cuda_options(const std::string& path, int particles = 16) {
  backend_options o;
  o.eval_path = path;
  o.particles = particles;
  o.poison_workspaces = true;  // a partial a kernel leaves unwritten turns the result NaN
  return o;
}

// What the driver plans its device memory with, for problem p and options o (a budget of
// o.device_memory_bytes).
inline device_plan_inputs plan_inputs(const problem& p, const backend_options& o) {
  device_plan_inputs in;
  in.users = p.users;
  in.tasks = p.tasks;
  in.segments = p.segments;
  in.particles = o.particles;
  // the driver counts the cuBLAS path's densities only (the fused kernels' limit: 128 tasks)
  in.densities = o.eval_path == "cublas" || (o.eval_path == "auto" && (o.tf32 || p.tasks > 128));
  in.budget_bytes = o.device_memory_bytes;
  return in;
}

// Options whose device-memory budget forces streamed batches of about `batch` users.
inline backend_options streamed_options(const problem& p, std::int64_t batch, const std::string& path = "auto",
                                        int particles = 16) {
  backend_options o = cuda_options(path, particles);
  o.device_memory_bytes = plan_bytes(plan_inputs(p, o), false, batch) + 1;
  return o;
}

// One CUDA configuration against the CPU reference on one instance: the exact report (with
// top-k), the batched evaluation (against the exact served utilization) and the dual pass.
inline void expect_matches_cpu(const problem& p, backend& cpu, backend& gpu, const shape& s, std::mt19937_64& rng) {
  SCOPED_TRACE(gpu.device_description());
  ASSERT_EQ(gpu.name(), "cuda");
  // absolute tolerances in the problem's own units, which may be far from 1
  const double load_unit = p.largest_mass, value_unit = p.largest_mass * p.largest_attraction;
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  constexpr int policies = 37;  // not a multiple of a warp, nor of the particle group
  std::vector<double> w(static_cast<std::size_t>(policies * p.dims()));
  for (auto& x : w) x = u(rng);
  for (std::int64_t d = 0; d < p.dims(); ++d) w[d] = 0.0;  // policy 0: W = 0

  const int k = static_cast<int>(std::min<std::int64_t>(3, p.tasks));
  for (int q : {0, 1, policies - 1}) {
    const policy_report want = cpu.report(w.data() + q * p.dims(), s, k);
    const policy_report got = gpu.report(w.data() + q * p.dims(), s, k);
    EXPECT_TRUE(close(got.served, want.served, 1e-10, 1e-12 * value_unit)) << got.served << " vs " << want.served;
    EXPECT_TRUE(close(got.utilization, want.utilization, 1e-10, 1e-12 * value_unit));
    EXPECT_EQ(got.idle_users, want.idle_users);
    for (std::int64_t j = 0; j < p.tasks; ++j) {
      EXPECT_TRUE(close(got.load[j], want.load[j], 1e-10, 1e-12 * load_unit)) << "load " << j;
      EXPECT_TRUE(close(got.value[j], want.value[j], 1e-10, 1e-12 * value_unit)) << "value " << j;
    }
    if (q == 1) {  // no atomics, partials added in a fixed order: the same sums every run
      const policy_report again = gpu.report(w.data() + q * p.dims(), s, k);
      EXPECT_EQ(again.load, got.load);
      EXPECT_EQ(again.value, got.value);
      EXPECT_EQ(again.served, got.served);
      EXPECT_EQ(again.idle_users, got.idle_users);
    }
    ASSERT_EQ(got.topk_task.size(), want.topk_task.size());
    for (std::size_t e = 0; e < got.topk_task.size(); ++e) {
      EXPECT_TRUE(close(got.topk_share[e], want.topk_share[e], 1e-6, 1e-12 * load_unit)) << e;
      if (got.topk_task[e] != want.topk_task[e]) {  // only a near-tie may order differently
        EXPECT_TRUE(close(got.topk_share[e], want.topk_share[e], 1e-12, 1e-12 * load_unit)) << e;
      }
    }
  }

  cpu.set_shape(s);
  gpu.set_shape(s);
  std::vector<double> fg(policies, std::nan(""));  // poisoned: an unwritten value shows
  gpu.evaluate(w.data(), policies, fg.data());
  for (int q = 0; q < policies; ++q) {
    const double exact = cpu.report(w.data() + q * p.dims(), s, 0).served;
    EXPECT_TRUE(std::isfinite(fg[q])) << q;
    EXPECT_TRUE(close(fg[q], exact, 5e-5, 1e-9 * value_unit)) << q << ": " << fg[q] << " vs " << exact;
  }

  // prices and smoothing in the attraction's units
  const double a_unit = p.largest_attraction > 0.0 ? p.largest_attraction : 1.0;
  std::vector<double> lambda(p.tasks);
  for (auto& l : lambda) l = a_unit * 0.3 * (u(rng) + 3.0) / 6.0;
  for (double gamma : {0.05 * a_unit, 1e-4 * a_unit}) {
    const dual_sums want = cpu.dual_pass(lambda.data(), gamma);
    const dual_sums got = gpu.dual_pass(lambda.data(), gamma);
    EXPECT_TRUE(close(got.exact, want.exact, 1e-10, 1e-12 * value_unit));
    EXPECT_TRUE(close(got.smooth, want.smooth, 1e-10, 1e-12 * value_unit));
    ASSERT_EQ(got.soft_load.size(), static_cast<std::size_t>(p.tasks));
    ASSERT_EQ(got.soft_value.size(), static_cast<std::size_t>(p.tasks));
    for (std::int64_t j = 0; j < p.tasks; ++j) {
      EXPECT_TRUE(close(got.soft_load[j], want.soft_load[j], 1e-9, 1e-12 * load_unit)) << "soft load " << j;
      EXPECT_TRUE(close(got.soft_value[j], want.soft_value[j], 1e-9, 1e-12 * value_unit)) << "soft value " << j;
    }
    const dual_sums again = gpu.dual_pass(lambda.data(), gamma);
    EXPECT_EQ(again.exact, got.exact);
    EXPECT_EQ(again.smooth, got.smooth);
    EXPECT_EQ(again.soft_load, got.soft_load);
    EXPECT_EQ(again.soft_value, got.soft_value);
  }
}

// Every evaluation path of `make` (a CUDA backend for a problem and options) on p, resident,
// against the CPU reference (the fused paths refuse more than 128 tasks); and, with
// streamed_batch > 0 and at least two such batches of users, the default path streamed in
// batches of about that many.
template <typename Make>
void expect_every_path_matches_cpu(const problem& p, const shape& s, Make&& make, std::int64_t streamed_batch,
                                   std::mt19937_64& rng, int particles = 16) {
  auto cpu = make_cpu_backend(p, 0);
  for (const char* path : {"fused", "tensor", "cublas"}) {
    SCOPED_TRACE(path);
    if (std::string(path) != "cublas" && p.tasks > 128) {  // k_fused_max_tasks of kernels/fused_eval.cuh
      EXPECT_THROW(make(p, cuda_options(path, particles)), input_error);
      continue;
    }
    auto gpu = make(p, cuda_options(path, particles));
    EXPECT_NE(gpu->device_description().find("resident"), std::string::npos) << gpu->device_description();
    expect_matches_cpu(p, *cpu, *gpu, s, rng);
  }
  if (streamed_batch > 0 && p.users >= 2 * streamed_batch) {
    SCOPED_TRACE("streamed");
    auto gpu = make(p, streamed_options(p, streamed_batch, "auto", particles));
    EXPECT_NE(gpu->device_description().find("streamed"), std::string::npos) << gpu->device_description();
    expect_matches_cpu(p, *cpu, *gpu, s, rng);
  }
}

// A random instance of this shape (5% of the users with no eligible task).
struct backend_case {
  const char* name;
  std::int64_t users, tasks;
  int segments;
  double tau, beta;
  dtype type = dtype::f32;  // float64: values that float32 cannot hold exactly
  double attraction_scale = 1.0, mass_scale = 1.0;
};

inline void PrintTo(const backend_case& c, std::ostream* os) { *os << c.name; }

// The case's instance (the same every run: its name seeds it) through every path.
template <typename Make>
void expect_every_path_matches_cpu(const backend_case& c, Make&& make, std::int64_t streamed_batch = 0) {
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  instance_options o = sized(c.users, c.tasks, c.segments);
  o.zero_rows = 0.05;
  o.float32_values = c.type == dtype::f32;
  o.attraction_scale = c.attraction_scale;
  o.mass_scale = c.mass_scale;
  temp_dir tmp;
  const problem p = load_instance(tmp, random_instance(rng, o), c.type);
  expect_every_path_matches_cpu(p, shape{c.tau, c.beta}, make, streamed_batch, rng);
}

// A fresh random case for expect_every_path_matches_cpu: up to `max_users` users and about
// `max_cells` users x tasks (tasks often at a warp or fused-kernel boundary), any mix of
// ineligible entries, idle users and infinite capacities, float32 or float64 bundles, any
// shape, group of particles and streamed batch.
struct random_case {
  instance_options instance;
  dtype type = dtype::f32;
  shape s;
  int particles = 16;
  std::int64_t streamed_batch = 0;  // 0: resident only
};

inline std::ostream& operator<<(std::ostream& os, const random_case& c) {
  return os << describe(c.instance) << ", " << dtype_name(c.type) << ", tau " << c.s.tau << ", beta " << c.s.beta
            << ", particle groups of " << c.particles << ", streamed batch " << c.streamed_batch;
}

inline random_case draw_case(std::mt19937_64& rng, std::int64_t max_users, std::int64_t max_cells) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto pick = [&](std::initializer_list<std::int64_t> v) { return v.begin()[rng() % v.size()]; };
  random_case c;
  std::int64_t& m = c.instance.tasks;
  m = u(rng) < 0.5 ? pick({1, 31, 32, 33, 64, 65, 127, 128, 129}) : 1 + static_cast<std::int64_t>(u(rng) * 200);
  std::int64_t& n = c.instance.users;
  n = u(rng) < 0.1 ? pick({0, 1, 2})
                   : static_cast<std::int64_t>(u(rng) * static_cast<double>(std::min(max_users, max_cells / m) + 1));
  c.instance.segments = 1 + static_cast<int>(u(rng) * static_cast<double>(std::min<std::int64_t>(8, std::max<std::int64_t>(n, 1))));
  c.instance.ineligible = u(rng) < 0.2 ? 0.0 : 0.95 * u(rng);
  c.instance.zero_attraction = 0.5 * u(rng);
  c.instance.zero_rows = u(rng) < 0.2 ? 0.0 : 0.3 * u(rng);
  c.instance.infinite_capacity = u(rng) < 0.1 ? 1.0 : u(rng);
  c.instance.with_capacity = u(rng) < 0.9;
  c.type = u(rng) < 0.7 ? dtype::f32 : dtype::f64;
  c.instance.float32_values = c.type == dtype::f32 || u(rng) < 0.5;  // float64 bundles are rounded on load
  if (u(rng) < 0.2) {  // magnitudes whose float32 products over- or underflow unless scaled
    const double attraction[] = {1e-30, 1e-6, 1e6, 3e37}, mass[] = {1e-30, 1e-3, 1e4, 1e35};
    c.instance.attraction_scale = attraction[rng() % 4];
    c.instance.mass_scale = mass[rng() % 4];
  }
  // the grid's shapes, between them, and as far past them as the shape search goes
  const double taus[] = {1.0, 0.5, 0.25, 2.0, 0.2 + 2.8 * u(rng), k_min_search_tau, 8.0, k_max_search_tau};
  c.s.tau = taus[rng() % 8];
  const double b = u(rng);
  c.s.beta = b < 0.3 ? 0.0 : b < 0.7 ? 4.0 * u(rng) : std::ldexp(1.0, 3 + static_cast<int>(rng() % 6));  // 8 .. 256
  c.particles = static_cast<int>(pick({5, 16, 36, 64, 256}));
  // the driver's least batch is 256 users; it needs at least two
  if (n >= 512 && u(rng) < 0.5) c.streamed_batch = 256 + static_cast<std::int64_t>(u(rng) * static_cast<double>(n / 2 - 256));
  return c;
}

// fresh_case_count(count) fresh random cases (draw_case) through every path of `make`, each
// on a new instance. Every failure names the seed that replays it.
template <typename Make>
void expect_fresh_random_cases_match_cpu(std::int64_t count, std::int64_t max_users, std::int64_t max_cells,
                                         Make&& make) {
  count = fresh_case_count(count);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE(replay_note(seed));
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (std::int64_t k = 0; k < count; ++k) {
    const random_case c = draw_case(rng, max_users, max_cells);
    std::ostringstream what;
    what << "case " << k << ": " << c;
    SCOPED_TRACE(what.str());
    temp_dir tmp;
    const problem p = load_instance(tmp, random_instance(rng, c.instance), c.type);
    expect_every_path_matches_cpu(p, c.s, make, c.streamed_batch, rng, c.particles);
    if (::testing::Test::HasFailure()) return;  // one case's failures are enough to read
  }
}

// The backend's own swarm state (device_swarm()) against the CPU reference state on
// Rastrigin, computed on the host (so any difference is the swarm's), `iterations` steps,
// both topologies: the same trajectory to the last bit.
inline void expect_device_swarm_follows_cpu(backend& gpu, int dims, int iterations) {
  ASSERT_NE(gpu.device_swarm(), nullptr);
  const auto rastrigin = standard_functions::rastrigin;
  for (topology topo : {topology::global, topology::ring}) {
    swarm_options so;
    so.particles = 33;  // not a multiple of a warp or a block
    so.iterations = iterations;
    so.topo = topo;
    so.x_lo = so.init_lo = -5.12;
    so.x_hi = so.init_hi = 5.12;
    so.v_max = 0.25 * 10.24;
    const swarm_result want = run_swarm(dims, rastrigin, so);
    so.state = gpu.device_swarm();
    const swarm_result got = run_swarm(dims, rastrigin, so);
    ASSERT_EQ(got.history.size(), want.history.size());
    for (std::size_t t = 0; t < want.history.size(); ++t) {
      EXPECT_EQ(got.history[t].best, want.history[t].best) << "iteration " << t;
      EXPECT_EQ(got.history[t].mean_pbest, want.history[t].mean_pbest) << "iteration " << t;
    }
    ASSERT_EQ(got.best_x.size(), want.best_x.size());
    EXPECT_EQ(std::memcmp(got.best_x.data(), want.best_x.data(), got.best_x.size() * sizeof(double)), 0);
  }
}

}  // namespace attnswarm::testing
