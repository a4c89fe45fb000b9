// The shared math header: Philox known answers, the swarm stream, the update and the model
// formulas at their edges.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "attn_math.hpp"

namespace attnswarm {
namespace {

struct kat {
  philox_ctr ctr;
  philox_key key;
  philox_ctr want;
};

// Random123 kat_vectors, "philox4x32 10" lines: counter, key, expected output.
TEST(Philox, KnownAnswerVectors) {
  const kat cases[] = {
      {{{0, 0, 0, 0}}, {{0, 0}}, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
       {{0xffffffffu, 0xffffffffu}},
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
       {{0xa4093822u, 0x299f31d0u}},
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (const auto& c : cases) {
    const philox_ctr got = philox4x32_10(c.ctr, c.key);
    for (int k = 0; k < 4; ++k) EXPECT_EQ(got.v[k], c.want.v[k]) << "word " << k;
  }
}

TEST(Philox, SeedSplitsIntoBothKeyWords) {
  const philox_key k = philox_key_from_seed(0xa4093822299f31d0ull);
  EXPECT_EQ(k.v[0], 0x299f31d0u);
  EXPECT_EQ(k.v[1], 0xa4093822u);
}

TEST(SwarmDraw, IsAPureFunctionInTheUnitInterval) {
  double sum = 0.0;
  const int n = 20000;
  for (int d = 0; d < n; ++d) {
    const swarm_uniforms a = swarm_draw(42, 3, 5, d), b = swarm_draw(42, 3, 5, d);
    EXPECT_EQ(a.u1, b.u1);
    EXPECT_EQ(a.u2, b.u2);
    ASSERT_GE(a.u1, 0.0);
    ASSERT_LT(a.u1, 1.0);
    ASSERT_GE(a.u2, 0.0);
    ASSERT_LT(a.u2, 1.0);
    sum += a.u1 + a.u2;
  }
  EXPECT_NEAR(sum / (2 * n), 0.5, 0.01);
  EXPECT_NE(swarm_draw(42, 3, 5, 0).u1, swarm_draw(43, 3, 5, 0).u1);
  EXPECT_NE(swarm_draw(42, 3, 5, 0).u1, swarm_draw(42, 4, 5, 0).u1);
  EXPECT_NE(swarm_draw(42, 3, 5, 0).u1, swarm_draw(42, 3, 6, 0).u1);
}

TEST(PsoUpdate, FollowsTheFormula) {
  const pso_coeffs c{0.5, 1.0, 2.0, 10.0, -100.0, 100.0};
  double x = 1.0, v = 2.0;
  pso_update(x, v, 3.0, -1.0, swarm_uniforms{0.25, 0.5}, c);
  // v = 0.5*2 + 1*0.25*(3-1) + 2*0.5*(-1-1) = 1 + 0.5 - 2 = -0.5
  EXPECT_DOUBLE_EQ(v, -0.5);
  EXPECT_DOUBLE_EQ(x, 0.5);
}

TEST(PsoUpdate, ClampsVelocityAndPosition) {
  const pso_coeffs c{1.0, 2.0, 2.0, 0.5, -1.0, 1.0};
  double x = 0.0, v = 0.0;
  pso_update(x, v, 10.0, 10.0, swarm_uniforms{0.9, 0.9}, c);
  EXPECT_DOUBLE_EQ(v, 0.5);
  EXPECT_DOUBLE_EQ(x, 0.5);
  x = 0.9;
  v = 0.4;
  pso_update(x, v, 10.0, 10.0, swarm_uniforms{0.9, 0.9}, c);
  EXPECT_DOUBLE_EQ(x, 1.0);  // clamped at the wall ...
  EXPECT_DOUBLE_EQ(v, 0.0);  // ... and stopped
  x = -0.9;
  v = -0.4;
  pso_update(x, v, -10.0, -10.0, swarm_uniforms{0.9, 0.9}, c);
  EXPECT_DOUBLE_EQ(x, -1.0);
  EXPECT_DOUBLE_EQ(v, 0.0);
}

TEST(PsoInit, DrawsInsideTheRanges) {
  for (int d = 0; d < 1000; ++d) {
    double x, v;
    pso_init(x, v, swarm_draw(7, 0, 1, d), -100.0, 50.0, 3.0);
    ASSERT_GE(x, -100.0);
    ASSERT_LT(x, 50.0);
    ASSERT_GE(v, -3.0);
    ASSERT_LT(v, 3.0);
  }
}

TEST(CapacityFactor, Cases) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(capacity_factor(10.0, 0.0), 1.0);  // no load
  EXPECT_EQ(capacity_factor(10.0, 5.0), 1.0);  // under capacity
  EXPECT_EQ(capacity_factor(10.0, 10.0), 1.0);
  EXPECT_DOUBLE_EQ(capacity_factor(10.0, 40.0), 0.25);
  EXPECT_EQ(capacity_factor(inf, 1e300), 1.0);
}

TEST(ShapeWeight, EligibilityAndPowers) {
  const double ninf = -HUGE_VAL;
  EXPECT_EQ(shape_log_weight(0.0, 0.5, 1.0, 0.0), ninf);  // F = 0: never attention
  EXPECT_EQ(shape_log_weight(2.0, 0.0, 1.0, 1.0), ninf);  // A = 0 with beta > 0
  EXPECT_DOUBLE_EQ(shape_log_weight(2.0, 0.0, 1.0, 0.0), std::log(2.0));  // A^0 = 1
  EXPECT_DOUBLE_EQ(shape_log_weight(2.0, 0.5, 2.0, 3.0), 2.0 * std::log(2.0) + 3.0 * std::log(0.5));
  EXPECT_EQ(shape_weight(ninf, 0.0, 4.0), 0.0);
  EXPECT_DOUBLE_EQ(shape_weight(1.0, 1.0, 0.5), std::exp(0.5));
  // Large exponents do not overflow once the row maximum is subtracted.
  const double lw = shape_log_weight(1e30, 1.0, 1.0 / 0.01, 0.0);
  EXPECT_DOUBLE_EQ(shape_weight(lw, lw, 0.0), 1.0);
}

}  // namespace
}  // namespace attnswarm
