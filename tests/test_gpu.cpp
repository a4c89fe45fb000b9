// GPU tests (ctest label "gpu"): they skip with the reason when no device is usable, and
// make no CUDA call before a test body runs.
#include <gtest/gtest.h>

#include "devices.hpp"

namespace attnswarm {
namespace {

TEST(Gpu, SharedMathAgreesWithTheHost) {
  const device_inventory inv = probe_devices();
  if (inv.devices.empty()) GTEST_SKIP() << inv.note;
  for (const auto& d : inv.devices) EXPECT_EQ(run_device_selftest(d.index), "") << d.name;
}

}  // namespace
}  // namespace attnswarm
