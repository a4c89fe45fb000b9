// GPU tests (ctest label "gpu"): every CUDA kernel against the CPU reference on fresh random
// shapes. They skip with the reason when no device is usable, and make no CUDA call before a
// test body runs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#ifdef ATTNSWARM_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include "../bench/standard_functions.hpp"
#include "backend.hpp"
#include "bound.hpp"
#include "cpu_backend.hpp"
#include "device_plan.hpp"
#include "devices.hpp"
#include "errors.hpp"
#include "swarm.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using testing::temp_dir;

// Skips the calling test when no device is usable.
#define REQUIRE_DEVICE()                                              \
  do {                                                                \
    const device_inventory inv_ = probe_devices();                    \
    if (inv_.devices.empty()) GTEST_SKIP() << inv_.note;              \
  } while (0)

bool close(double got, double want, double rtol, double atol = 1e-12) {
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

backend_options cuda_options(const std::string& path) {
  backend_options o;
  o.eval_path = path;
  o.particles = 16;  // fewer than the 37 policies evaluated below: groups are exercised
  o.poison_workspaces = true;  // a partial a kernel leaves unwritten turns the result NaN
  return o;
}

// Options whose device-memory budget forces streamed batches of about `batch` users.
backend_options streamed_options(const problem& p, std::int64_t batch, const std::string& path = "auto") {
  backend_options o = cuda_options(path);
  device_plan_inputs in;
  in.users = p.users;
  in.tasks = p.tasks;
  in.segments = p.segments;
  in.particles = o.particles;
  o.device_memory_bytes = plan_bytes(in, false, batch) + 1;
  return o;
}

TEST(Gpu, SharedMathAgreesWithTheHost) {
  REQUIRE_DEVICE();
  for (const auto& d : probe_devices().devices) EXPECT_EQ(run_device_selftest(d.index), "") << d.name;
}

TEST(Gpu, DeviceByNumber) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(5);
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, testing::sized(100, 6, 1)));
  const device_inventory inv = probe_devices();
  for (const auto& d : inv.devices) {
    backend_options o;
    o.device = d.index;
    auto b = make_backend("auto", p, o);  // auto with a number: that device or an error
    EXPECT_EQ(b->name(), "cuda");
    EXPECT_EQ(b->device_description().rfind(d.name, 0), 0u) << b->device_description();
  }
  backend_options missing;
  missing.device = static_cast<int>(inv.devices.size());
  EXPECT_THROW(make_backend("auto", p, missing), unavailable_error);
}

TEST(Gpu, AutoSaysWhyItLeftTheDeviceUnused) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(6);
  // one task more than the CUDA backend takes (k_max_shared_tasks)
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, testing::sized(3, 2049, 1)));
  auto b = make_backend("auto", p);
  EXPECT_EQ(b->name(), "cpu");
  const std::string d = b->device_description();
  EXPECT_NE(d.find("CUDA device " + std::to_string(probe_devices().devices.front().index) + " not used"),
            std::string::npos) << d;
  EXPECT_NE(d.find("at most 2048 tasks"), std::string::npos) << d;
  EXPECT_THROW(make_backend("cuda", p), unavailable_error);
}

struct gpu_case {
  const char* name;
  std::int64_t users, tasks;
  int segments;
  double tau, beta;
};

void PrintTo(const gpu_case& c, std::ostream* os) { *os << c.name; }

const gpu_case gpu_cases[] = {
    {"odd_tasks", 1000, 13, 1, 1.0, 0.0},
    {"past_one_batch", 8192 + 777, 33, 3, 0.5, 2.0},
    {"one_task", 301, 1, 2, 0.25, 1.0},
    {"one_user", 1, 7, 1, 1.0, 4.0},
    {"no_users", 0, 5, 1, 1.0, 0.0},
    {"many_segments", 4099, 40, 7, 2.0, 0.5},
    {"two_slabs", 2 * 8192 + 5, 100, 2, 1.0, 1.0},  // 2M = 200 columns: the fused kernel's second slab
    // the row kernels keep 1, 2 or 4 values per lane in registers up to 32, 64, 128 tasks
    {"warp_of_tasks", 777, 32, 3, 1.0, 0.0},
    {"most_fused_tasks", 2000, 128, 1, 1.0, 0.0},
    {"past_the_registers", 1501, 300, 2, 0.5, 1.0},  // the row in shared memory; cuBLAS only
};

// Largest M of the fused kernel (k_fused_max_tasks of kernels/fused_eval.cuh).
constexpr std::int64_t fused_max_tasks = 128;

class GpuVsCpu : public ::testing::TestWithParam<gpu_case> {};

// One CUDA configuration against the CPU reference on one instance: the exact report (with
// top-k), the batched evaluation (against the exact served utilization) and the dual pass.
void expect_matches_cpu(const problem& p, backend& cpu, backend& gpu, const shape& s, std::mt19937_64& rng) {
  SCOPED_TRACE(gpu.device_description());
  ASSERT_EQ(gpu.name(), "cuda");
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  constexpr int policies = 37;  // not a multiple of a warp, nor of the particle group
  std::vector<double> w(static_cast<std::size_t>(policies * p.dims()));
  for (auto& x : w) x = u(rng);
  for (std::int64_t d = 0; d < p.dims(); ++d) w[d] = 0.0;  // policy 0: W = 0

  const int k = static_cast<int>(std::min<std::int64_t>(3, p.tasks));
  for (int q : {0, 1, policies - 1}) {
    const policy_report want = cpu.report(w.data() + q * p.dims(), s, k);
    const policy_report got = gpu.report(w.data() + q * p.dims(), s, k);
    EXPECT_TRUE(close(got.served, want.served, 1e-10)) << got.served << " vs " << want.served;
    EXPECT_TRUE(close(got.utilization, want.utilization, 1e-10));
    EXPECT_EQ(got.idle_users, want.idle_users);
    for (std::int64_t j = 0; j < p.tasks; ++j) {
      EXPECT_TRUE(close(got.load[j], want.load[j], 1e-10)) << "load " << j;
      EXPECT_TRUE(close(got.value[j], want.value[j], 1e-10)) << "value " << j;
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
      EXPECT_TRUE(close(got.topk_share[e], want.topk_share[e], 1e-6)) << e;
      if (got.topk_task[e] != want.topk_task[e]) {  // only a near-tie may order differently
        EXPECT_TRUE(close(got.topk_share[e], want.topk_share[e], 1e-12)) << e;
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
    EXPECT_TRUE(close(fg[q], exact, 5e-5, 1e-9)) << q << ": " << fg[q] << " vs " << exact;
  }

  std::vector<double> lambda(p.tasks);
  for (auto& l : lambda) l = 0.3 * (u(rng) + 3.0) / 6.0;
  for (double gamma : {0.05, 1e-4}) {
    const dual_sums want = cpu.dual_pass(lambda.data(), gamma);
    const dual_sums got = gpu.dual_pass(lambda.data(), gamma);
    EXPECT_TRUE(close(got.exact, want.exact, 1e-10));
    EXPECT_TRUE(close(got.smooth, want.smooth, 1e-10));
    for (std::int64_t j = 0; j < p.tasks; ++j) EXPECT_TRUE(close(got.soft_load[j], want.soft_load[j], 1e-9, 1e-12));
    const dual_sums again = gpu.dual_pass(lambda.data(), gamma);
    EXPECT_EQ(again.exact, got.exact);
    EXPECT_EQ(again.smooth, got.smooth);
    EXPECT_EQ(again.soft_load, got.soft_load);
  }
}

TEST_P(GpuVsCpu, ReportEvaluateAndDualPassMatchTheCpuReference) {
  REQUIRE_DEVICE();
  const gpu_case& c = GetParam();
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  testing::instance_options o = testing::sized(c.users, c.tasks, c.segments);
  o.zero_rows = 0.05;
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  auto cpu = make_cpu_backend(p, 0);
  const shape s{c.tau, c.beta};
  for (const char* path : {"fused", "tensor", "cublas"}) {
    if (std::string(path) != "cublas" && p.tasks > fused_max_tasks) {
      EXPECT_THROW(make_backend("cuda", p, cuda_options(path)), input_error);
      continue;
    }
    auto gpu = make_backend("cuda", p, cuda_options(path));
    EXPECT_NE(gpu->device_description().find("resident"), std::string::npos);
    expect_matches_cpu(p, *cpu, *gpu, s, rng);
  }
  if (p.users >= 2000) {  // streamed: batches of ~1000 users, several per segment
    auto gpu = make_backend("cuda", p, streamed_options(p, 1000));
    EXPECT_NE(gpu->device_description().find("streamed"), std::string::npos) << gpu->device_description();
    expect_matches_cpu(p, *cpu, *gpu, s, rng);
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, GpuVsCpu, ::testing::ValuesIn(gpu_cases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Gpu, SameSeedSameTrajectoryForTwentyIterations) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(99);
  testing::instance_options o = testing::sized(20000, 24, 3);
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  auto cpu = make_cpu_backend(p, 0);
  swarm_options so;
  so.particles = 64;
  so.iterations = 20;
  so.seeded = {std::vector<double>(p.dims(), 0.0)};
  const auto run = [&](backend& b) {
    b.set_shape(shape{0.5, 1.0});
    swarm_options own = so;
    own.state = b.device_swarm();  // the CUDA run keeps its swarm on the device
    return run_swarm(static_cast<int>(p.dims()),
                     [&](const double* x, int count, int, double* f) {
                       b.evaluate(x, count, f);
                       for (int q = 0; q < count; ++q) f[q] = -f[q];
                     },
                     own);
  };
  const swarm_result a = run(*cpu);
  for (const char* path : {"auto", "tensor"}) {  // auto: the fused FP32 kernel here
    backend_options o;
    o.eval_path = path;
    auto gpu = make_backend("cuda", p, o);
    const swarm_result g = run(*gpu);
    ASSERT_EQ(a.history.size(), g.history.size()) << path;
    for (std::size_t t = 0; t < a.history.size(); ++t)
      EXPECT_TRUE(close(g.history[t].best, a.history[t].best, 1e-5)) << path << ", iteration " << t;
  }
}

TEST(Gpu, DeviceSwarmFollowsTheCpuSwarmBitForBit) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(5);
  testing::instance_options o = testing::sized(10, 37, 3);
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  auto gpu = make_backend("cuda", p);
  ASSERT_NE(gpu->device_swarm(), nullptr);
  // Rastrigin on the host: the objective is identical, so any difference is the swarm's.
  const auto rastrigin = standard_functions::rastrigin;
  for (topology topo : {topology::global, topology::ring}) {
    swarm_options so;
    so.particles = 33;  // 111 dims, 33 particles: neither a multiple of a block
    so.iterations = 60;
    so.topo = topo;
    so.x_lo = so.init_lo = -5.12;
    so.x_hi = so.init_hi = 5.12;
    so.v_max = 0.25 * 10.24;
    const swarm_result want = run_swarm(static_cast<int>(p.dims()), rastrigin, so);
    so.state = gpu->device_swarm();
    const swarm_result got = run_swarm(static_cast<int>(p.dims()), rastrigin, so);
    ASSERT_EQ(got.history.size(), want.history.size());
    for (std::size_t t = 0; t < want.history.size(); ++t) {
      EXPECT_EQ(got.history[t].best, want.history[t].best) << "iteration " << t;
      EXPECT_EQ(got.history[t].mean_pbest, want.history[t].mean_pbest) << "iteration " << t;
    }
    ASSERT_EQ(got.best_x.size(), want.best_x.size());
    EXPECT_EQ(std::memcmp(got.best_x.data(), want.best_x.data(), got.best_x.size() * sizeof(double)), 0);
  }
}

TEST(Gpu, StreamedMatchesResident) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(17);
  testing::instance_options o = testing::sized(30011, 29, 4);
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o), dtype::f64);
  for (const char* path : {"fused", "tensor", "cublas"}) {
    auto resident = make_backend("cuda", p, cuda_options(path));
    auto streamed = make_backend("cuda", p, streamed_options(p, 8192 + 512, path));
    ASSERT_NE(streamed->device_description().find("streamed"), std::string::npos) << streamed->device_description();
    const shape s{0.5, 2.0};
    resident->set_shape(s);
    streamed->set_shape(s);
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    std::vector<double> w(static_cast<std::size_t>(20 * p.dims()));
    for (auto& x : w) x = u(rng);
    std::vector<double> a(20, std::nan("")), b(20, std::nan(""));
    resident->evaluate(w.data(), 20, a.data());
    streamed->evaluate(w.data(), 20, b.data());
    for (int q = 0; q < 20; ++q) EXPECT_TRUE(close(b[q], a[q], 1e-5)) << path << " " << q << ": " << b[q] << " vs " << a[q];
    const policy_report ra = resident->report(w.data(), s, 4), rb = streamed->report(w.data(), s, 4);
    EXPECT_TRUE(close(rb.served, ra.served, 1e-12));
    EXPECT_EQ(rb.idle_users, ra.idle_users);
    EXPECT_EQ(rb.topk_task, ra.topk_task);
  }
}

#ifdef ATTNSWARM_WITH_CUDA
TEST(Gpu, OutOfMemoryHalvesTheBatchAndCarriesOn) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(23);
  // resident, F, A and H alone take about 100 MiB; a small streamed batch fits in 40
  testing::instance_options o = testing::sized(400000, 16);
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  auto cpu = make_cpu_backend(p, 0);
  // Leave about 40 MiB free, then promise the driver far more: its allocations fail and it
  // must fall back to streaming and halve its batch until they fit.
  std::size_t free_b = 0, total_b = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_b, &total_b), cudaSuccess);
  void* filler = nullptr;
  const std::size_t keep = std::size_t{40} << 20;
  ASSERT_GT(free_b, keep);
  ASSERT_EQ(cudaMalloc(&filler, free_b - keep), cudaSuccess);
  backend_options big = cuda_options("auto");
  big.device_memory_bytes = std::size_t{64} << 30;
  std::unique_ptr<backend> gpu;
  std::string error;
  try {
    gpu = make_backend("cuda", p, big);
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (gpu) {
    EXPECT_NE(gpu->device_description().find("streamed"), std::string::npos) << gpu->device_description();
    const std::vector<double> zero(static_cast<std::size_t>(p.dims()), 0.0);
    EXPECT_TRUE(close(gpu->report(zero.data(), shape{}, 0).served, cpu->report(zero.data(), shape{}, 0).served, 1e-10));
  }
  gpu.reset();
  cudaFree(filler);
  EXPECT_TRUE(error.empty()) << error;
}
#endif

TEST(Gpu, CliSolveStreamsUnderADeviceMemoryCap) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(31);
  // F and A alone: 400k x 40 x 8 bytes = 122 MiB, over the 64 MiB cap
  testing::instance_options o = testing::sized(400000, 40, 2);
  testing::write_bundle(tmp / "b", testing::random_instance(rng, o));
  const std::string common = "solve --problem " + tmp / "b" + " --tau 1 --beta 0 --iterations 5 --particles 32 --json --quiet";
  const auto cuda = testing::run_cli(common + " --backend cuda --device-memory 64M --out " + tmp / "gpu");
  ASSERT_EQ(cuda.exit_code, 0) << cuda.err;
  EXPECT_NE(cuda.out.find("streamed"), std::string::npos) << cuda.out;
  const auto cpu = testing::run_cli(common + " --backend cpu --out " + tmp / "cpu");
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  const auto baseline = [](const std::string& out) { return nlohmann::json::parse(out)["baseline_served"].get<double>(); };
  EXPECT_GT(baseline(cuda.out), 0.0) << cuda.out;
  EXPECT_TRUE(close(baseline(cuda.out), baseline(cpu.out), 1e-10)) << cuda.out << cpu.out;
}

// The check README.md gives users: the CPU build's eval of a CUDA solve's policy reproduces
// its best_served (both reports are float64).
TEST(Gpu, CpuEvalOfACudaSolveReproducesItsAnswer) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  ASSERT_EQ(testing::run_cli("generate --users 20000 --tasks 24 --segments 3 --seed 4 --out " + tmp / "b").exit_code, 0);
  const auto solved = testing::run_cli("solve --backend cuda --quiet --json --particles 32 --iterations 10 "
                                       "--search-iterations 2 --problem " + tmp / "b" + " --out " + tmp / "o");
  ASSERT_EQ(solved.exit_code, 0) << solved.err;
  const auto evaluated = testing::run_cli("eval --backend cpu --quiet --json --problem " + tmp / "b" + " --policy " +
                                          tmp / "o/policy.npy");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  const double best = nlohmann::json::parse(solved.out)["best_served"].get<double>();
  EXPECT_GT(best, 0.0) << solved.out;
  EXPECT_TRUE(close(nlohmann::json::parse(evaluated.out)["served"].get<double>(), best, 1e-10))
      << evaluated.out << solved.out;
}

TEST(Gpu, BoundMatchesTheCpuBound) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(7);
  testing::instance_options o = testing::sized(3000, 17);
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  auto cpu = make_cpu_backend(p, 0);
  auto gpu = make_backend("cuda", p);
  const bound_result a = compute_bound(p, *cpu, bound_options{});
  const bound_result g = compute_bound(p, *gpu, bound_options{});
  EXPECT_TRUE(close(g.upper_bound, a.upper_bound, 1e-6)) << g.upper_bound << " vs " << a.upper_bound;
}

}  // namespace
}  // namespace attnswarm
