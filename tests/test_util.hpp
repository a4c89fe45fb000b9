// Helpers shared by the tests: temporary folders, random bundles, running the CLI.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "npy.hpp"
#include "problem.hpp"

namespace attnswarm::testing {

// A fresh folder under the system temp dir, removed with everything in it.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A problem held in plain vectors, the way a test builds it.
struct instance {
  std::int64_t users = 0, tasks = 0;
  std::vector<double> fitness, attraction;  // N x M, rounded to float32 unless float32_values is false
  std::vector<double> mass;                 // N (empty: no mass.npy)
  std::vector<std::int32_t> segment;        // N (empty: no segment.npy)
  std::vector<double> capacity;             // M (empty: no capacity.npy), may hold +inf
  int segments() const;
};

struct instance_options {
  std::int64_t users = 100, tasks = 7;
  int segments = 1;
  double ineligible = 0.3;   // share of F entries that are 0
  double zero_attraction = 0.1;
  double zero_rows = 0.05;   // share of users with no eligible task
  double infinite_capacity = 0.2;
  bool with_capacity = true;
  double attraction_scale = 1.0;  // A in [0, scale)
  double mass_scale = 1.0;        // r in [0.2, 1.8) x scale
  bool float32_values = true;     // F and A rounded to float32 (false: any double, for float64 bundles)
};

instance random_instance(std::mt19937_64& rng, const instance_options& o);
// "N users x M tasks x S segments, ineligible ..., ...": the options, for a failure message.
std::string describe(const instance_options& o);
// Options of that size, the rest at their defaults.
instance_options sized(std::int64_t users, std::int64_t tasks, int segments = 1);

// Fresh random inputs: a test that draws them takes its seed from fresh_seed() (the
// environment's ATTNSWARM_TEST_SEED, to replay a failure, else a new one every run) and names
// it in every failure with replay_note(seed); it draws fresh_case_count(k) cases
// (ATTNSWARM_TEST_CASES, else k).
std::uint64_t fresh_seed();
std::string replay_note(std::uint64_t seed);
std::int64_t fresh_case_count(std::int64_t fallback);

// Writes a bundle folder; F and A in `type` (f32 or f64).
void write_bundle(const std::string& dir, const instance& in, dtype type = dtype::f32);

// Writes the instance as a bundle in tmp/"b" and loads it back.
problem load_instance(const temp_dir& tmp, const instance& in, dtype type = dtype::f32);

struct command_result {
  int exit_code = -1;
  std::string out, err;
};

// Runs a shell command line, capturing its stdout and stderr; no standard input.
command_result run_shell(const std::string& command);
// Runs the attnswarm binary built beside the tests with the given arguments; `env`, when
// given, is put before it (VAR=value ... for that run alone).
command_result run_cli(const std::string& args, const std::string& env = "");

}  // namespace attnswarm::testing
