// The attnswarm command line, one file per subcommand: each add_* declares its options on
// the app and returns what runs it. Bad input is one line on stderr and exit code 2.
#pragma once

#include <cstdint>

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend.hpp"
#include "bound.hpp"
#include "problem.hpp"

namespace attnswarm::cli {

struct subcommand {
  CLI::App* app;
  std::function<int()> run;
};

subcommand add_solve(CLI::App& app);
subcommand add_eval(CLI::App& app);
subcommand add_bound(CLI::App& app);
subcommand add_import(CLI::App& app);
subcommand add_generate(CLI::App& app);
subcommand add_info(CLI::App& app);

// Options most subcommands share.
struct common_flags {
  std::string problem_dir;
  bool json = false;
  bool quiet = false;
  int threads = 0;
};

// --problem, --threads, --json and --quiet, the same on every subcommand that has them.
void add_common_options(CLI::App* cmd, common_flags& c);

// --backend, --device, --tf32, --device-memory and --eval-path: where the numbers are computed.
struct backend_flags {
  std::string backend = "auto";
  int device = -1;  // -1: the first CUDA device
  bool tf32 = false;
  std::string device_memory;  // empty: 90% of the device's free memory
  std::string eval_path = "auto";
};
void add_backend_options(CLI::App* cmd, backend_flags& b);
// The backend options the flags ask for, checked before any problem is loaded (a bad value
// is an input error); `particles` sizes the CUDA workspace. make_backend(b.backend, ...) then.
backend_options check_backend_flags(const backend_flags& b, int threads, int particles);

// A policy file (eval --policy, solve --init-policy): segments x tasks of p, float32 or
// float64, log-boosts within [-k_max_log_boost, k_max_log_boost]. tau and beta not given are
// taken from the summary.json beside it, where `solve` wrote the shape the policy was found
// for (said on stderr unless quiet).
std::vector<double> read_policy(const std::string& path, const problem& p, std::optional<double>& tau,
                                std::optional<double>& beta, bool quiet);
// --tau > 0 and --beta >= 0, finite, where given.
void check_shape_flags(const std::optional<double>& tau, const std::optional<double>& beta);

// --method of bound, --bound-method of solve: auto, flow or gradient (bound_method).
void add_bound_method_option(CLI::App* cmd, const std::string& name, std::string& method);
bound_method parse_bound_method(const std::string& method, const std::string& name);

// A 64-bit integer option read strictly: decimal digits alone (a '-' first where T is
// signed), so that a value past T's range is an error naming the option, not one clamped
// without a word as CLI11 does for 64-bit types (2^64 read as 2^63 - 1). T: std::int64_t or
// std::uint64_t; CLI11 itself refuses what does not fit narrower types.
template <class T>
CLI::Option* add_int64_option(CLI::App* cmd, const std::string& name, T& value, const std::string& help);
// --seed, an unsigned 64-bit integer: -1 or 2^64 is an error, not a seed wrapped or clamped.
void add_seed_option(CLI::App* cmd, std::uint64_t& seed, const std::string& help);
// Most --threads accepted: far past any machine's cores, and short of what makes OpenMP's
// thread creation fail (it crashed at 100,000).
constexpr int k_max_threads = 1024;
void apply_threads(int threads);
std::string fmt(const char* format, double v);

// While one lives, SIGINT (Ctrl-C) or SIGTERM (what a batch scheduler sends before it kills a
// job) sets flag(): the swarm and the bound stop and keep their best, and the outputs are
// written. A second signal ends the process at once.
class interrupt_guard {
 public:
  interrupt_guard();
  ~interrupt_guard();
  interrupt_guard(const interrupt_guard&) = delete;
  interrupt_guard& operator=(const interrupt_guard&) = delete;
  static const std::atomic<bool>* flag();
  // 128 + the signal's number once one came (130 for SIGINT, 143 for SIGTERM), else 0.
  static int exit_code();
};

}  // namespace attnswarm::cli
