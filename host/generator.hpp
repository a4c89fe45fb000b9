// Deterministic synthetic bundles with the structure of a real platform (latent-factor
// interest, ineligible pairs, attraction correlated with interest, lognormal attention,
// segment-dependent popularity, capacities that bind under the baseline). Every value is a
// pure function of (seed, indices), so rows are generated in parallel and streamed to disk.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace attnswarm {

struct generator_options {
  std::int64_t users = 0;
  std::int64_t tasks = 0;
  int segments = 1;
  std::uint64_t seed = 1;
  // Capacity of task j = ratio * baseline load of j * a task-specific factor (median ~0.78),
  // so most tasks are overloaded at ratio 1; +inf writes no capacity.npy.
  double capacity_ratio = 1.0;
};

struct generator_summary {
  std::int64_t idle_users = 0;
  std::int64_t overloaded_tasks = 0;  // tasks whose baseline load exceeds their capacity
  double eligible_fraction = 0.0;
};

// Writes fitness.npy, attraction.npy (float32), mass.npy (float64), segment.npy (int32) and
// capacity.npy (float64) into out_dir, which appears only when complete.
generator_summary generate_bundle(const generator_options& o, const std::string& out_dir);

}  // namespace attnswarm
