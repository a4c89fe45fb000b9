// The CUDA driver's host-side arithmetic, checked without a device: the memory plan
// (resident or streamed, batch sizes, the budget), --device-memory sizes, and the segment
// order and batches that the rows are uploaded or streamed in.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "device_plan.hpp"
#include "errors.hpp"
#include "row_layout.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using testing::temp_dir;

device_plan_inputs inputs(std::int64_t users, std::int64_t tasks, int segments, int particles, std::size_t budget) {
  device_plan_inputs in;
  in.users = users;
  in.tasks = tasks;
  in.segments = segments;
  in.particles = particles;
  in.budget_bytes = budget;
  return in;
}

constexpr std::size_t k_mib = std::size_t{1} << 20;

TEST(DevicePlan, ResidentWhenTheProblemFits) {
  const auto in = inputs(100000, 64, 4, 256, std::size_t{8} << 30);
  const device_plan plan = plan_device_memory(in);
  EXPECT_TRUE(plan.resident);
  EXPECT_EQ(plan.batch_rows, 100000);  // one batch per segment at most
  EXPECT_EQ(plan.bytes, plan_bytes(in, true, plan.batch_rows));
  EXPECT_LE(plan.bytes, in.budget_bytes);
}

TEST(DevicePlan, StreamsInWholeChunksWhenTheProblemDoesNotFit) {
  // 10M x 64: F and A alone are 5 GB; a 1 GiB budget must stream.
  const auto in = inputs(10000000, 64, 8, 256, std::size_t{1} << 30);
  const device_plan plan = plan_device_memory(in);
  EXPECT_FALSE(plan.resident);
  EXPECT_GE(plan.batch_rows, k_min_batch_rows);
  EXPECT_LE(plan.batch_rows, k_max_batch_rows);
  EXPECT_EQ(plan.batch_rows % k_chunk_rows, 0) << plan.batch_rows;
  EXPECT_LE(plan.bytes, in.budget_bytes);
  // the largest batch: one more chunk would not fit
  EXPECT_GT(plan_bytes(in, false, plan.batch_rows + k_chunk_rows), in.budget_bytes);
}

TEST(DevicePlan, EveryPlanStaysInsideItsBudget) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 500; ++trial) {
    const std::int64_t users = std::uniform_int_distribution<std::int64_t>(0, 20000000)(rng);
    const std::int64_t tasks = std::uniform_int_distribution<std::int64_t>(1, 2048)(rng);
    const int segments = std::uniform_int_distribution<int>(1, 16)(rng);
    const int particles = std::uniform_int_distribution<int>(1, 512)(rng);
    const std::size_t budget = std::uniform_int_distribution<std::size_t>(16 * k_mib, std::size_t{80} << 30)(rng);
    const auto in = inputs(users, tasks, segments, particles, budget);
    try {
      const device_plan plan = plan_device_memory(in);
      EXPECT_LE(plan.bytes, budget) << users << " x " << tasks;
      EXPECT_EQ(plan.bytes, plan_bytes(in, plan.resident, plan.batch_rows));
      EXPECT_GE(plan.batch_rows, std::min<std::int64_t>(std::max<std::int64_t>(users, 1), k_min_batch_rows));
      EXPECT_LE(plan.batch_rows, std::max<std::int64_t>(users, 1));
    } catch (const unavailable_error& e) {
      // refused only when not even the smallest streamed batch fits
      const std::int64_t floor = std::min<std::int64_t>(std::max<std::int64_t>(users, 1), k_min_batch_rows);
      EXPECT_GT(plan_bytes(in, false, floor), budget) << e.what();
    }
  }
}

TEST(DevicePlan, TheFusedPathsNeedNoDensities) {
  // a budget that holds one batch of every user with the fused kernels' partials alone; the
  // cuBLAS path's densities (P floats a user) then make the batches smaller
  auto in = inputs(200000, 16, 1, 2048, 0);
  in.densities = false;
  in.budget_bytes = plan_bytes(in, true, 200000) + 1;
  const device_plan fused = plan_device_memory(in);
  EXPECT_TRUE(fused.resident);
  EXPECT_EQ(fused.batch_rows, 200000);
  in.densities = true;
  const device_plan cublas = plan_device_memory(in);
  EXPECT_TRUE(cublas.resident);
  EXPECT_LT(cublas.batch_rows, 200000 / 10);
  EXPECT_LE(cublas.bytes, in.budget_bytes);
  device_plan_inputs without = in;
  without.densities = false;
  EXPECT_EQ(batch_workspace_bytes(in, 1000), batch_workspace_bytes(without, 1000) + 1000 * 4 * 2048);
}

TEST(DevicePlan, TooSmallABudgetNamesWhatIsNeeded) {
  const auto in = inputs(1000000, 512, 1, 256, 8 * k_mib);
  try {
    plan_device_memory(in);
    FAIL() << "8 MiB cannot hold 512 tasks x 256 particles";
  } catch (const unavailable_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("8 MiB"), std::string::npos) << what;
    EXPECT_NE(what.find("--device-memory"), std::string::npos) << what;
  }
}

TEST(DevicePlan, ZeroUsersPlanOneRow) {
  const device_plan plan = plan_device_memory(inputs(0, 5, 1, 16, 64 * k_mib));
  EXPECT_TRUE(plan.resident);
  EXPECT_EQ(plan.batch_rows, 1);
}

TEST(DevicePlan, ByteSizes) {
  EXPECT_EQ(parse_byte_size("4096", "--device-memory"), 4096u);
  EXPECT_EQ(parse_byte_size("64M", "--device-memory"), 64 * k_mib);
  EXPECT_EQ(parse_byte_size("64MiB", "--device-memory"), 64 * k_mib);
  EXPECT_EQ(parse_byte_size("2g", "--device-memory"), std::size_t{2} << 30);
  EXPECT_EQ(parse_byte_size("1.5GB", "--device-memory"), std::size_t{3} << 29);
  EXPECT_EQ(parse_byte_size("1T", "--device-memory"), std::size_t{1} << 40);
  EXPECT_EQ(parse_byte_size("10k", "--device-memory"), 10240u);
  for (const char* bad : {"", "0", "-5M", "M", "12X", "64MB2", "nan", "inf", "0.1"}) {
    try {
      parse_byte_size(bad, "--device-memory");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const input_error& e) {
      EXPECT_NE(std::string(e.what()).find("--device-memory"), std::string::npos) << e.what();
    }
  }
}

TEST(RowLayout, SegmentOrderIsStableAndBatchesNeverMixSegments) {
  temp_dir tmp;
  std::mt19937_64 rng(3);
  testing::instance_options o = testing::sized(1037, 5, 4);
  const auto in = testing::random_instance(rng, o);
  const problem p = testing::load_instance(tmp, in);
  for (std::int64_t batch : {1, 7, 100, 1037, 5000}) {
    const row_layout l = make_row_layout(p, batch);
    ASSERT_EQ(l.order.size(), static_cast<std::size_t>(p.users));
    std::vector<std::int64_t> sorted = l.order;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t k = 0; k < p.users; ++k) ASSERT_EQ(sorted[k], k);  // a permutation
    ASSERT_EQ(l.seg_begin.size(), static_cast<std::size_t>(p.segments) + 1);
    for (int s = 0; s < p.segments; ++s)
      for (std::int64_t k = l.seg_begin[s]; k < l.seg_begin[s + 1]; ++k) {
        EXPECT_EQ(p.segment[l.order[k]], s);
        if (k > l.seg_begin[s]) {
          EXPECT_LT(l.order[k - 1], l.order[k]);  // stable within a segment
        }
      }
    std::int64_t next = 0;
    for (const row_batch& b : l.batches) {
      EXPECT_EQ(b.begin, next);
      EXPECT_GT(b.rows, 0);
      EXPECT_LE(b.rows, batch);
      EXPECT_GE(b.begin, l.seg_begin[b.segment]);
      EXPECT_LE(b.begin + b.rows, l.seg_begin[b.segment + 1]);
      next += b.rows;
    }
    EXPECT_EQ(next, p.users);
  }
}

TEST(RowLayout, NoUsersNoBatches) {
  temp_dir tmp;
  std::mt19937_64 rng(4);
  testing::instance_options o;
  o.users = 0;
  const problem p = testing::load_instance(tmp, testing::random_instance(rng, o));
  const row_layout l = make_row_layout(p, 256);
  EXPECT_TRUE(l.order.empty());
  EXPECT_TRUE(l.batches.empty());
  EXPECT_THROW(make_row_layout(p, 0), std::invalid_argument);
}

TEST(RowLayout, PackedRowsAreTheUsersRowsInSegmentOrder) {
  for (dtype type : {dtype::f32, dtype::f64}) {
    temp_dir tmp;
    std::mt19937_64 rng(5);
    testing::instance_options o = testing::sized(301, 9, 3);
    const auto in = testing::random_instance(rng, o);
    const problem p = testing::load_instance(tmp, in, type);
    const row_layout l = make_row_layout(p, 50);
    const std::int64_t begin = 17, rows = 200;
    std::vector<float> f(rows * p.tasks, -1.0f), a(rows * p.tasks, -1.0f);
    std::vector<double> mass(rows, -1.0);
    pack_rows(p, l, begin, rows, f.data(), a.data(), mass.data());
    for (std::int64_t k = 0; k < rows; ++k) {
      const std::int64_t user = l.order[begin + k];
      EXPECT_EQ(mass[k], p.mass[user]);
      for (std::int64_t j = 0; j < p.tasks; ++j) {
        EXPECT_EQ(f[k * p.tasks + j], static_cast<float>(in.fitness[user * p.tasks + j])) << k << "," << j;
        EXPECT_EQ(a[k * p.tasks + j], static_cast<float>(in.attraction[user * p.tasks + j])) << k << "," << j;
      }
    }
  }
}

}  // namespace
}  // namespace attnswarm
