// The CUDA backend's host driver (host/cuda_backend.cu) and launchers (kernels/*.cu) on a fake
// device: the CUDA runtime, cuBLAS and CUB of tests/fake_device/ on host memory, the kernels'
// own source on tests/cuda_emulator.hpp, the streams' work run late and in an adversarial
// order, and its launches and cuBLAS calls refused where a GPU would refuse them. So a machine
// without a GPU (CI) runs everything the GPU tests check except what only a device decides
// (timing, the hardware's rounding in cuBLAS and the tensor cores, CUB's own code): resident and streamed batches and the events that order their two streams, the
// groups of particles, the report's top-k staging and user order, the halving of the batch
// on out-of-memory, the memory plan, and the swarm state on the device, against the CPU
// reference; then the program around it (tests/CMakeLists.txt builds a core as with CUDA and
// an attnswarm_on_fake_device executable): the device inventory and self-test, auto's
// choice, and a solve through the command line with its NVTX ranges. Built only without CUDA
// (-DATTNSWARM_CUDA=OFF; CI builds it), where no real CUDA backend takes its symbols.
#include <cublas_v2.h>     // the fake ones (tests/fake_device/include)
#include <cub/device/device_reduce.cuh>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend_checks.hpp"
#include "cpu_backend.hpp"
#include "backend.hpp"
#include "cuda_backend.hpp"
#include "devices.hpp"
#include "errors.hpp"
#include "fake_device/control.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using testing::backend_case;
using testing::cuda_options;
using testing::expect_every_path_matches_cpu;
using testing::expect_matches_cpu;
using testing::streamed_options;
using testing::temp_dir;

// Small, since the emulator plays every CUDA thread with a thread of its own; odd on purpose.
const backend_case fake_cases[] = {
    {"odd_tasks_two_segments", 161, 13, 2, 1.0, 0.0},
    {"one_user", 1, 7, 1, 1.0, 4.0},
    {"no_users", 0, 5, 1, 1.0, 0.0},
    {"one_task", 97, 1, 3, 0.25, 1.0},
    {"two_slabs", 70, 100, 1, 0.5, 2.0},         // 2M = 200 columns: the FP32 kernel's second slab
    {"past_the_fused_kernels", 70, 300, 1, 1.0, 1.0},  // cuBLAS only; row kernels past 48 KiB of shared memory
    // rounded to float32 on upload as on the CPU; products past float32's range but for the scaling
    {"float64_huge_values", 161, 13, 2, 0.5, 2.0, dtype::f64, 3e37, 1e3},
    {"tiny_values", 97, 33, 1, 1.0, 0.0, dtype::f32, 1e-30, 1e-12},
};

// Every test starts with 1 GiB of free device memory and the lazy schedule, and ends having
// given all of the memory back with no work left queued.
class fresh_fake_device : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_device::set_memory(std::size_t{1} << 30, 0);
    fake_device::set_schedule(fake_device::schedule::lazy);
    (void)cudaGetLastError();  // an earlier test's error is not this one's
  }
  void TearDown() override {
    EXPECT_EQ(fake_device::allocated_bytes(), 0u) << "device memory left allocated";
    EXPECT_EQ(fake_device::pending_operations(), 0u) << "work left queued";
  }
};
class FakeDevice : public fresh_fake_device, public ::testing::WithParamInterface<backend_case> {};
class FakeDeviceStreams : public fresh_fake_device, public ::testing::WithParamInterface<fake_device::schedule> {};
using FakeDeviceRuntime = fresh_fake_device;
using FakeDeviceSwarm = fresh_fake_device;

// The rules the tests below rely on to catch a missing wait: work queued on one stream is not
// seen from another until an event orders them, and a copy from pageable memory reads it at
// once.
TEST_F(FakeDeviceRuntime, StreamsSeeEachOthersWorkOnlyAfterAnEvent) {
  void* d = nullptr;
  double* h = nullptr;
  ASSERT_EQ(cudaMalloc(&d, sizeof(double)), cudaSuccess);
  ASSERT_EQ(cudaMallocHost(reinterpret_cast<void**>(&h), sizeof(double)), cudaSuccess);
  cudaStream_t a = nullptr, b = nullptr;
  cudaEvent_t written = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaEventCreateWithFlags(&written, cudaEventDisableTiming), cudaSuccess);
  double one = 1.0;
  *h = 0.0;
  ASSERT_EQ(cudaMemcpyAsync(d, &one, sizeof(double), cudaMemcpyHostToDevice, a), cudaSuccess);
  one = 2.0;  // read already: the copy carries 1
  ASSERT_EQ(cudaMemcpyAsync(h, d, sizeof(double), cudaMemcpyDeviceToHost, b), cudaSuccess);
  EXPECT_EQ(*h, 0.0) << "a copy into pinned memory ran before the host waited for it";
  ASSERT_EQ(cudaStreamSynchronize(b), cudaSuccess);
  EXPECT_NE(*h, 1.0) << "stream b saw stream a's copy with no event between them";
  ASSERT_EQ(cudaEventRecord(written, a), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(b, written, 0), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(h, d, sizeof(double), cudaMemcpyDeviceToHost, b), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(b), cudaSuccess);
  EXPECT_EQ(*h, 1.0);
  EXPECT_EQ(cudaMemcpyAsync(h, static_cast<char*>(d) + 1, sizeof(double), cudaMemcpyDeviceToHost, b),
            cudaErrorInvalidValue) << "a copy past the end of an allocation";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue) << "a failed call leaves its error, as CUDA's do";
  EXPECT_EQ(cudaEventDestroy(written), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(a), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(b), cudaSuccess);
  EXPECT_EQ(cudaFreeHost(h), cudaSuccess);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
}

__global__ void mark_kernel(int* ran) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *ran = 1;
}

// A launch a GPU would refuse, or fault in, is refused here too, and its error waits for
// cudaGetLastError (which clears it), so a launcher that gets its shape wrong, forgets the
// opt-in to more than 48 KiB of shared memory, hands a kernel a host pointer or checks
// nothing fails in CI rather than first on the GPU.
TEST_F(FakeDeviceRuntime, LaunchesTheDeviceWouldRefuseDoNotRunAndLeaveTheirError) {
  int* d = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d), sizeof(int)), cudaSuccess);
  const auto ran = [&](dim3 grid, dim3 block, std::size_t shared) {
    int h = 0;
    EXPECT_EQ(cudaMemsetAsync(d, 0, sizeof(int)), cudaSuccess);
    ATTN_LAUNCH(mark_kernel, grid, block, shared, nullptr)(d);
    EXPECT_EQ(cudaMemcpyAsync(&h, d, sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
    return h == 1;
  };
  constexpr std::size_t kib = 1024;
  EXPECT_TRUE(ran(1, 1024, 48 * kib));
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_FALSE(ran(1, 1056, 0)) << "more than 1024 threads";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "an error read once is cleared";
  EXPECT_FALSE(ran(0, 32, 0)) << "an empty grid";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_FALSE(ran(dim3(1, 65536), 32, 0)) << "a grid past 65535 along y";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_FALSE(ran(1, 32, 48 * kib + 16)) << "past 48 KiB of shared memory without the opt-in";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFuncSetAttribute(mark_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 96 * kib), cudaSuccess);
  EXPECT_TRUE(ran(1, 32, 96 * kib));
  EXPECT_FALSE(ran(1, 32, 96 * kib + 16)) << "past the opt-in";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFuncSetAttribute(mark_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * kib),
            cudaErrorInvalidValue) << "an opt-in past sm_90's 227 KiB";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  int host = 0;
  ATTN_LAUNCH(mark_kernel, 1, 32, 0, nullptr)(&host);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress) << "a kernel given a host pointer";
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(host, 0) << "and it did not run";
  void* too_much = nullptr;
  EXPECT_EQ(cudaMalloc(&too_much, std::size_t{2} << 30), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation) << "so the driver clears it when it carries on";
  EXPECT_EQ(cudaFree(d), cudaSuccess);
}

// cuBLAS's documented argument checks, so that a product with its dimensions or leading
// dimensions wrong, or a matrix outside device memory, fails here as it would on the GPU
// (the reference GEMM would not notice).
TEST_F(FakeDeviceRuntime, CublasChecksItsDimensionsAsCublasDoes) {
  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d), 64 * sizeof(float)), cudaSuccess);
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const float one = 1.0f, zero = 0.0f;
  // C (2 x 3) = A^T B: A is 4 x 2 (lda >= 4), B is 4 x 3 (ldb >= 4), ldc >= 2
  EXPECT_EQ(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 3, 4, &one, d, 4, d + 8, 4, &zero, d + 32, 2),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 3, 4, &one, d, 2, d + 8, 4, &zero, d + 32, 2),
            CUBLAS_STATUS_INVALID_VALUE) << "lda below k for a transposed A";
  EXPECT_EQ(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, 2, 3, 4, &one, d, 2, d + 8, 2, &zero, d + 32, 2),
            CUBLAS_STATUS_INVALID_VALUE) << "ldb below n for a transposed B";
  EXPECT_EQ(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 3, 4, &one, d, 2, d + 8, 4, &zero, d + 32, 1),
            CUBLAS_STATUS_INVALID_VALUE) << "ldc below m";
  EXPECT_EQ(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 3, 4, &one, d, 2, 0, d + 8, 4, 0, &zero, d + 32,
                                      2, 0, -1),
            CUBLAS_STATUS_INVALID_VALUE) << "a negative batch count";
  std::vector<float> host(64);
  EXPECT_EQ(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 3, 4, &one, d, 4, host.data(), 4, &zero, d + 32, 2),
            CUBLAS_STATUS_EXECUTION_FAILED) << "a matrix in host memory";
  EXPECT_EQ(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 3, 4, &one, d, 4, d + 8, 4, &zero, d + 60, 2),
            CUBLAS_STATUS_EXECUTION_FAILED) << "a matrix past the end of its allocation";
  EXPECT_EQ(cublasSetWorkspace(h, d, 64 * sizeof(float)), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasSetWorkspace(h, d + 1, 32 * sizeof(float)), CUBLAS_STATUS_INVALID_VALUE)
      << "a workspace not 256-byte aligned";
  EXPECT_EQ(cublasSetWorkspace(h, d, 128 * sizeof(float)), CUBLAS_STATUS_INVALID_VALUE) << "past the allocation";
  EXPECT_EQ(cublasSetWorkspace(h, nullptr, 0), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
}

// CUB's ArgMin likewise takes device memory only: its storage, input and outputs.
TEST_F(FakeDeviceRuntime, CubArgMinTakesDeviceMemoryOnly) {
  double* d = nullptr;  // storage (2), input (4), value (1), index (1)
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d), 8 * sizeof(double)), cudaSuccess);
  std::size_t bytes = 0;
  ASSERT_EQ(cub::DeviceReduce::ArgMin(nullptr, bytes, d + 2, d + 6, reinterpret_cast<std::int64_t*>(d + 7), 4),
            cudaSuccess);
  ASSERT_LE(bytes, 2 * sizeof(double));
  const double in[4] = {3.0, 1.0, 2.0, 1.0};
  ASSERT_EQ(cudaMemcpyAsync(d + 2, in, sizeof(in), cudaMemcpyHostToDevice), cudaSuccess);
  auto* index = reinterpret_cast<std::int64_t*>(d + 7);
  EXPECT_EQ(cub::DeviceReduce::ArgMin(d, bytes, d + 2, d + 6, index, 4), cudaSuccess);
  std::int64_t at = -2;
  ASSERT_EQ(cudaMemcpyAsync(&at, index, sizeof(at), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(at, 1) << "the first least value";
  double host_value = 0.0;
  EXPECT_EQ(cub::DeviceReduce::ArgMin(d, bytes, d + 2, &host_value, index, 4), cudaErrorInvalidValue)
      << "an output in host memory";
  EXPECT_EQ(cub::DeviceReduce::ArgMin(d, bytes, in, d + 6, index, 4), cudaErrorInvalidValue) << "host input";
  EXPECT_EQ(cub::DeviceReduce::ArgMin(d, bytes, d + 2, d + 6, index, 7), cudaErrorInvalidValue)
      << "input past its allocation";
  EXPECT_EQ(cudaFree(d), cudaSuccess);
}

TEST_P(FakeDevice, DriverMatchesTheCpuReference) {
  expect_every_path_matches_cpu(GetParam(), [](const problem& p, const backend_options& o) {
    return make_cuda_backend(p, 0, o);
  });
}

INSTANTIATE_TEST_SUITE_P(Shapes, FakeDevice, ::testing::ValuesIn(fake_cases),
                         [](const auto& info) { return std::string(info.param.name); });

// Streamed batches of the least size (256 users), several per segment and a segment that
// ends inside a batch's room: the CPU reference's numbers, and resident's to float32 rounding.
// Under both schedules: lazy shows a batch computed before its upload was waited for, or a
// pinned slot refilled before its upload ran; others_first, an upload that overwrites a slot
// before the work on its previous batch ran.
TEST_P(FakeDeviceStreams, StreamedBatchesMatchTheCpuReferenceAndResident) {
  fake_device::set_schedule(GetParam());
  std::mt19937_64 rng(9);
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, testing::sized(600, 11, 2)));
  auto cpu = make_cpu_backend(p, 0);
  const shape s{0.5, 1.0};
  for (const char* path : {"fused", "cublas"}) {
    SCOPED_TRACE(path);
    auto streamed = make_cuda_backend(p, 0, streamed_options(p, 256, path));
    ASSERT_NE(streamed->device_description().find("streamed in batches of 256"), std::string::npos)
        << streamed->device_description();
    expect_matches_cpu(p, *cpu, *streamed, s, rng);
    auto resident = make_cuda_backend(p, 0, cuda_options(path));
    std::vector<double> w(static_cast<std::size_t>(5 * p.dims()));
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    for (auto& x : w) x = u(rng);
    streamed->set_shape(s);
    resident->set_shape(s);
    std::vector<double> a(5), b(5);
    streamed->evaluate(w.data(), 5, a.data());
    resident->evaluate(w.data(), 5, b.data());
    // batches of 256 cut the 2,048-user chunks of resident differently: float32 rounding apart
    for (int q = 0; q < 5; ++q) EXPECT_TRUE(testing::close(a[q], b[q], 1e-6)) << q << ": " << a[q] << " vs " << b[q];
  }
}

// Another process holds all but 16 MiB, and the budget claims far more: the driver's
// allocations fail, and it must fall back to streaming and halve its batch until they fit.
INSTANTIATE_TEST_SUITE_P(Schedules, FakeDeviceStreams,
                         ::testing::Values(fake_device::schedule::lazy, fake_device::schedule::others_first),
                         [](const auto& info) { return std::string(fake_device::schedule_name(info.param)); });

using FakeDeviceMemory = fresh_fake_device;

TEST_F(FakeDeviceMemory, OutOfMemoryHalvesTheBatchAndCarriesOn) {
  std::mt19937_64 rng(23);
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, testing::sized(2000, 16)));
  auto cpu = make_cpu_backend(p, 0);
  const std::size_t total = std::size_t{8} << 30, free = std::size_t{16} << 20;
  fake_device::set_memory(total, total - free);
  backend_options big = cuda_options("cublas");
  big.device_memory_bytes = std::size_t{64} << 30;
  big.particles = 2048;  // cuBLAS's densities, 8 KiB a user, make resident too large for 16 MiB
  auto gpu = make_cuda_backend(p, 0, big);
  // 2,000 users do not fit in one batch either: halved at least once
  EXPECT_NE(gpu->device_description().find("streamed in batches of 1000 users"), std::string::npos)
      << gpu->device_description();
  const std::vector<double> zero(static_cast<std::size_t>(p.dims()), 0.0);
  EXPECT_TRUE(testing::close(gpu->report(zero.data(), shape{}, 0).served, cpu->report(zero.data(), shape{}, 0).served,
                             1e-10));
  gpu.reset();
  EXPECT_EQ(fake_device::allocated_bytes(), 0u);
  // with 1 MiB free not even the floor of 256 users fits: a clear error (TearDown: nothing left behind)
  fake_device::set_memory(total, total - (std::size_t{1} << 20));
  EXPECT_THROW(make_cuda_backend(p, 0, big), unavailable_error);
}

// The memory plan is what the driver allocates, to the byte (but for CUB's storage, which the
// plan counts as an allowance), on every path, resident or streamed, with the swarm's state
// and the report's top-k staging: a plan that counts too little runs the device out of memory
// near its limit, one that counts too much streams where the problem could stay resident.
TEST_F(FakeDeviceMemory, TheDriverAllocatesWhatItsPlanSays) {
  std::mt19937_64 rng(31);
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, testing::sized(600, 11, 2)));
  struct config {
    const char* path;
    std::int64_t streamed_batch;  // 0: resident
  };
  for (const config c : {config{"fused", 0}, config{"cublas", 0}, config{"tensor", 256}, config{"cublas", 300}}) {
    SCOPED_TRACE(std::string(c.path) + (c.streamed_batch > 0 ? " streamed" : " resident"));
    backend_options o = c.streamed_batch > 0 ? streamed_options(p, c.streamed_batch, c.path) : cuda_options(c.path);
    if (c.streamed_batch == 0) o.device_memory_bytes = std::size_t{256} << 20;
    const device_plan plan = plan_device_memory(testing::plan_inputs(p, o));
    ASSERT_EQ(plan.resident, c.streamed_batch == 0);
    if (c.streamed_batch > 0) {
      ASSERT_EQ(plan.batch_rows, c.streamed_batch);
    }
    auto gpu = make_cuda_backend(p, 0, o);
    const std::size_t n = static_cast<std::size_t>(o.particles * p.dims());
    const std::vector<double> x(n, 0.0), v(n, 0.0), f(static_cast<std::size_t>(o.particles), 1.0);
    gpu->device_swarm()->start(o.particles, static_cast<int>(p.dims()), x.data(), v.data(), f.data());
    EXPECT_EQ(fake_device::allocated_bytes(), plan.bytes - k_swarm_reduce_bytes + fake_device::k_argmin_temp_bytes);
  }
}

TEST_F(FakeDeviceSwarm, DeviceSwarmFollowsTheCpuSwarmBitForBit) {
  std::mt19937_64 rng(5);
  temp_dir tmp;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, testing::sized(10, 37, 3)));
  auto gpu = make_cuda_backend(p, 0, backend_options{});
  testing::expect_device_swarm_follows_cpu(*gpu, static_cast<int>(p.dims()), 6);
}

// The program around the backend on the fake device: the inventory and self-test, auto's
// choice, and a whole solve through the command line, which until now only a GPU would run.
using FakeDeviceProgram = fresh_fake_device;

TEST_F(FakeDeviceProgram, InfoRunsTheSelfTestOnTheDevice) {
  const auto info = testing::run_cli("info --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto j = nlohmann::json::parse(info.out);
  EXPECT_TRUE(j["cuda_compiled"].get<bool>());
  ASSERT_EQ(j["devices"].size(), 1u) << info.out;
  EXPECT_EQ(j["devices"][0]["name"], "fake device");
  EXPECT_EQ(j["devices"][0]["selftest"], "passed");
  EXPECT_EQ(run_device_selftest(0), "");
}

TEST_F(FakeDeviceProgram, AutoTakesTheDeviceOrSaysWhyNot) {
  std::mt19937_64 rng(6);
  temp_dir tmp, wide_tmp;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, testing::sized(50, 6, 1)));
  EXPECT_EQ(make_backend("auto", p)->name(), "cuda");
  // one task more than the CUDA backend takes (k_max_shared_tasks)
  const problem wide = testing::load_instance(wide_tmp, testing::random_instance(rng, testing::sized(3, 2049, 1)));
  auto b = make_backend("auto", wide);
  EXPECT_EQ(b->name(), "cpu");
  EXPECT_NE(b->device_description().find("CUDA device 0 not used"), std::string::npos) << b->device_description();
  EXPECT_NE(b->device_description().find("at most 2048 tasks"), std::string::npos) << b->device_description();
  EXPECT_THROW(make_backend("cuda", wide), unavailable_error);
  // an option only CUDA honours: auto does not fall back to the CPU
  backend_options cublas;
  cublas.eval_path = "cublas";
  EXPECT_THROW(make_backend("auto", wide, cublas), unavailable_error);
}

std::vector<std::string> read_lines(const std::string& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The CPU reference's answer, bound and baseline from a solve on the device, the README's
// check (the CPU's eval of the device's policy.npy), and the NVTX ranges that name every
// phase, inside the --profile bracket.
TEST_F(FakeDeviceProgram, SolveOnTheDeviceGivesTheCpuAnswerAndNamesEveryPhase) {
  temp_dir tmp;
  ASSERT_EQ(testing::run_cli("generate --users 400 --tasks 8 --segments 2 --seed 3 --out " + tmp / "b").exit_code, 0);
  const std::string common = "solve --problem " + tmp / "b" +
                             " --particles 16 --iterations 3 --search-iterations 1 --bound-iterations 10 --json --quiet";
  const auto gpu = testing::run_cli(common + " --backend cuda --profile --out " + tmp / "gpu",
                                    "ATTNSWARM_FAKE_TRACE_LOG=" + tmp / "trace.txt");
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  const auto cpu = testing::run_cli(common + " --backend cpu --out " + tmp / "cpu");
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  const auto g = nlohmann::json::parse(gpu.out), c = nlohmann::json::parse(cpu.out);
  EXPECT_EQ(g["backend"], "cuda");
  EXPECT_NE(g["device"].get<std::string>().find("fake device"), std::string::npos) << gpu.out;
  const auto value = [](const nlohmann::json& j, const char* key) { return j[key].get<double>(); };
  EXPECT_TRUE(testing::close(value(g, "baseline_served"), value(c, "baseline_served"), 1e-10)) << gpu.out << cpu.out;
  EXPECT_TRUE(testing::close(value(g, "best_served"), value(c, "best_served"), 1e-5)) << gpu.out << cpu.out;
  EXPECT_TRUE(testing::close(value(g, "upper_bound"), value(c, "upper_bound"), 1e-6)) << gpu.out << cpu.out;
  const auto evaluated = testing::run_cli("eval --backend cpu --quiet --json --problem " + tmp / "b" + " --policy " +
                                          tmp / "gpu/policy.npy");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  EXPECT_TRUE(testing::close(value(nlohmann::json::parse(evaluated.out), "served"), value(g, "best_served"), 1e-10));

  const std::vector<std::string> trace = read_lines(tmp / "trace.txt");
  const auto first = [&](const std::string& name) { return std::find(trace.begin(), trace.end(), name) - trace.begin(); };
  const auto last = [&](const std::string& name) { return trace.rend() - std::find(trace.rbegin(), trace.rend(), name) - 1; };
  const auto n = static_cast<std::ptrdiff_t>(trace.size());
  for (const char* phase : {"load", "upload", "shape search", "evaluate", "swarm step", "bound", "price seeds", "report"})
    EXPECT_LT(first(phase), n) << "no NVTX range named '" << phase << "'";
  EXPECT_EQ(std::count(trace.begin(), trace.end(), "cudaProfilerStart"), 1);
  EXPECT_EQ(std::count(trace.begin(), trace.end(), "cudaProfilerStop"), 1);
  EXPECT_LT(first("cudaProfilerStart"), first("shape search"));
  EXPECT_GT(first("cudaProfilerStop"), last("bound"));
  EXPECT_GT(first("cudaProfilerStop"), last("report"));
}

}  // namespace
}  // namespace attnswarm
