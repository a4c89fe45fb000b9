// A problem bundle (DESIGN §4) loaded and validated (DESIGN §5). F and A stay memory-mapped;
// the small per-user and per-task vectors are held as doubles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "npy.hpp"
#include "staged_dir.hpp"

namespace attnswarm {

struct problem {
  std::string source;  // the bundle folder, or a description of a built-in instance
  std::int64_t users = 0;
  std::int64_t tasks = 0;
  int segments = 1;
  npy_array fitness;     // N x M
  npy_array attraction;  // N x M
  std::vector<double> mass;           // N
  std::vector<std::int32_t> segment;  // N, in [0, segments)
  std::vector<double> capacity;       // M, +inf where unbounded
  std::vector<std::string> task_names;  // M, from tasks.csv when the bundle has one
  // S, from segments.csv when the bundle has one naming every segment (import --segments)
  std::vector<std::string> segment_names;
  std::int64_t idle_users = 0;          // users with no eligible task (F_i = 0)
  double largest_mass = 0.0;            // max r_i
  double largest_attraction = 0.0;      // max A_ij

  std::int64_t dims() const { return static_cast<std::int64_t>(segments) * tasks; }
  // Row i of F (or A) in out[0..M): the model's values, which are float32 (DESIGN §1), so
  // a float64 bundle is rounded here just as the CUDA backend's upload rounds it.
  void fitness_row(std::int64_t i, double* out) const { float32_row(fitness, i, out); }
  void attraction_row(std::int64_t i, double* out) const { float32_row(attraction, i, out); }

 private:
  void float32_row(const npy_array& a, std::int64_t i, double* out) const {
    a.read_f64(i * tasks, tasks, out);
    if (a.type() == dtype::f64)
      for (std::int64_t j = 0; j < tasks; ++j) out[j] = static_cast<float>(out[j]);
  }
};

// Largest segment id accepted: policies are segments x tasks, so ids are dense labels.
constexpr std::int64_t max_segment_id = (1 << 20) - 1;

// Every file a bundle may hold, as `generate` and `import` write it.
inline const output_kind k_bundle_outputs{"bundle",
                                          {"fitness.npy", "attraction.npy", "mass.npy", "segment.npy", "capacity.npy",
                                           "tasks.csv", "users.csv", "segments.csv", "import.json"}};

// Loads and validates a bundle folder; throws input_error with "file: problem at place".
problem load_problem(const std::string& dir);

// Validates an assembled problem (shapes already consistent); exposed for load_problem.
void validate_values(problem& p);

}  // namespace attnswarm
