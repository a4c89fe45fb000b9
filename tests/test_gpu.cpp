// GPU tests (ctest label "gpu"): every CUDA kernel against the CPU reference on fresh random
// shapes. They skip with the reason when no device is usable, and make no CUDA call before a
// test body runs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <string>

#ifdef ATTNSWARM_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include "backend.hpp"
#include "backend_checks.hpp"
#include "bound.hpp"
#include "cpu_backend.hpp"
#include "device_plan.hpp"
#include "devices.hpp"
#include "errors.hpp"
#include "swarm.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using testing::backend_case;
using testing::close;
using testing::cuda_options;
using testing::expect_device_swarm_follows_cpu;
using testing::expect_every_path_matches_cpu;
using testing::streamed_options;
using testing::temp_dir;

// Skips the calling test when no device is usable.
#define REQUIRE_DEVICE()                                              \
  do {                                                                \
    const device_inventory inv_ = probe_devices();                    \
    if (inv_.devices.empty()) GTEST_SKIP() << inv_.note;              \
  } while (0)

// A test's size on a GPU, or the smaller one that the fake device (tests/fake_device: its
// emulator plays every CUDA thread on the CPU) runs in seconds in CI.
template <typename T>
T on_gpu_or_fake_device(T gpu, T fake) {
#ifdef ATTNSWARM_TESTS_ON_FAKE_DEVICE
  (void)gpu;
  return fake;
#else
  (void)fake;
  return gpu;
#endif
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

const backend_case gpu_cases[] = {
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
    // rounded to float32 on upload as on the CPU; products past float32's range but for the scaling
    {"float64_huge_values", 3001, 13, 2, 0.5, 2.0, dtype::f64, 3e37, 1e3},
    {"tiny_values", 2049, 33, 1, 1.0, 0.0, dtype::f32, 1e-30, 1e-12},
};

class GpuVsCpu : public ::testing::TestWithParam<backend_case> {};

TEST_P(GpuVsCpu, ReportEvaluateAndDualPassMatchTheCpuReference) {
  REQUIRE_DEVICE();
  // resident on every path; then streamed in batches of ~1000 users, several per segment
  expect_every_path_matches_cpu(GetParam(), [](const problem& p, const backend_options& o) {
    return make_backend("cuda", p, o);
  }, 1000);
}

INSTANTIATE_TEST_SUITE_P(Kernels, GpuVsCpu, ::testing::ValuesIn(gpu_cases),
                         [](const auto& info) { return std::string(info.param.name); });

// New random cases every run, beside the fixed ones above (tests/backend_checks.hpp,
// draw_case, says what varies; ATTNSWARM_TEST_SEED replays a failure, ATTNSWARM_TEST_CASES
// sets how many). Fewer and smaller on the fake device, whose emulator plays every CUDA thread.
TEST(Gpu, FreshRandomCasesMatchTheCpuReference) {
  REQUIRE_DEVICE();
  testing::expect_fresh_random_cases_match_cpu(on_gpu_or_fake_device(6, 4), on_gpu_or_fake_device(40000, 1500),
                                               on_gpu_or_fake_device(400000, 25000),
                                               [](const problem& p, const backend_options& o) {
                                                 return make_backend("cuda", p, o);
                                               });
}

TEST(Gpu, SameSeedSameTrajectoryForTwentyIterations) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(99);
  testing::instance_options o = testing::sized(on_gpu_or_fake_device(20000, 2500), 24, 3);
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
  expect_device_swarm_follows_cpu(*gpu, static_cast<int>(p.dims()), 60);
}

TEST(Gpu, StreamedMatchesResident) {
  REQUIRE_DEVICE();
  temp_dir tmp;
  std::mt19937_64 rng(17);
  testing::instance_options o = testing::sized(on_gpu_or_fake_device(30011, 3011), 29, 4);
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o), dtype::f64);
  for (const char* path : {"fused", "tensor", "cublas"}) {
    auto resident = make_backend("cuda", p, cuda_options(path));
    auto streamed = make_backend("cuda", p, streamed_options(p, on_gpu_or_fake_device(8192 + 512, 700), path));
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
  // A cap under the resident plan (F, A and H alone take 16 bytes per user and task: 244 MiB
  // here), so that the solve streams; smaller on the fake device, whose emulator plays every
  // CUDA thread.
  const std::string cap = on_gpu_or_fake_device("64M", "11M");
  testing::instance_options o = testing::sized(on_gpu_or_fake_device(400000, 10000), 40, 2);
  testing::write_bundle(tmp / "b", testing::random_instance(rng, o));
  const std::string common = "solve --problem " + tmp / "b" + " --tau 1 --beta 0 --iterations 5 --particles 32 --json --quiet";
  const auto cuda = testing::run_cli(common + " --backend cuda --device-memory " + cap + " --out " + tmp / "gpu");
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
  const std::string users = on_gpu_or_fake_device("20000", "2500");
  ASSERT_EQ(testing::run_cli("generate --users " + users + " --tasks 24 --segments 3 --seed 4 --out " + tmp / "b").exit_code, 0);
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
  EXPECT_EQ(g.method, bound_method::gradient);  // 3,000 users: past the flow's budget
  EXPECT_EQ(g.method, a.method);
  EXPECT_TRUE(g.converged);
  EXPECT_TRUE(close(g.upper_bound, a.upper_bound, 1e-6)) << g.upper_bound << " vs " << a.upper_bound;
  // the certificate's feasible allocation comes from the device's soft sums
  EXPECT_TRUE(close(g.lp_lower_bound, a.lp_lower_bound, 1e-6)) << g.lp_lower_bound << " vs " << a.lp_lower_bound;
  EXPECT_LE(g.upper_bound, (1.0 + bound_options{}.tolerance) * g.lp_lower_bound);

  // a few users: the exact flow's prices, evaluated by the device's pass
  temp_dir small_dir;
  const problem small = testing::load_instance(small_dir, testing::random_instance(rng, testing::sized(40, 6)));
  auto small_cpu = make_cpu_backend(small, 0);
  auto small_gpu = make_backend("cuda", small);
  const bound_result fa = compute_bound(small, *small_cpu, bound_options{});
  const bound_result fg = compute_bound(small, *small_gpu, bound_options{});
  EXPECT_EQ(fg.method, bound_method::flow);
  EXPECT_TRUE(fg.converged);
  EXPECT_TRUE(close(fg.upper_bound, fa.upper_bound, 1e-12)) << fg.upper_bound << " vs " << fa.upper_bound;
  EXPECT_EQ(fg.prices, fa.prices);
}

}  // namespace
}  // namespace attnswarm
