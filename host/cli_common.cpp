#include <omp.h>

#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <string>
#include <type_traits>

#include "cli.hpp"
#include "device_plan.hpp"
#include "errors.hpp"

namespace attnswarm::cli {

namespace {
std::atomic<bool> g_interrupted{false};
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "set from a signal handler");

extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_interrupted.store(true);
  // a second signal ends the process at once
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}
}  // namespace

interrupt_guard::interrupt_guard() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}
interrupt_guard::~interrupt_guard() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}
const std::atomic<bool>* interrupt_guard::flag() { return &g_interrupted; }
int interrupt_guard::exit_code() {
  const int sig = g_signal.load();
  return sig == 0 ? 0 : 128 + sig;
}

void add_common_options(CLI::App* cmd, common_flags& c) {
  cmd->add_option("--problem", c.problem_dir, "bundle folder (default: the built-in instance)");
  cmd->add_option("--threads", c.threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--json", c.json, "print JSON on stdout");
  cmd->add_flag("--quiet", c.quiet, "no progress line or notes on stderr");
}

void add_backend_options(CLI::App* cmd, backend_flags& b) {
  cmd->add_option("--backend", b.backend, "auto (CUDA when a device is usable, else CPU), cpu or cuda")
      ->capture_default_str();
  cmd->add_option("--device", b.device,
                  "CUDA: the device to run on, by CUDA's index (after CUDA_VISIBLE_DEVICES; default: the first)");
  cmd->add_flag("--tf32", b.tf32, "CUDA: cuBLAS products on TF32 tensor cores (faster, less exact)");
  cmd->add_option("--device-memory", b.device_memory,
                  "CUDA: device memory the driver may use, e.g. 64M or 20G (default: 90% of what is free); "
                  "a problem larger than this streams from pinned host memory");
  cmd->add_option("--eval-path", b.eval_path,
                  "CUDA: batched evaluation by auto, fused (FP32), tensor (fused on tensor cores, 3xTF32) or cublas")
      ->capture_default_str();
}

backend_options check_backend_flags(const backend_flags& b, int threads, int particles) {
  backend_options o;
  o.threads = threads;
  o.device = b.device;
  o.tf32 = b.tf32;
  o.particles = particles;
  o.eval_path = b.eval_path;
  if (!b.device_memory.empty()) o.device_memory_bytes = parse_byte_size(b.device_memory, "--device-memory");
  check_backend_choice(b.backend, o);
  return o;
}

void add_bound_method_option(CLI::App* cmd, const std::string& name, std::string& method) {
  cmd->add_option(name, method,
                  "how the bound finds its prices: auto (flow on small instances, else gradient), "
                  "flow (exact min-cost flow, small instances) or gradient")
      ->capture_default_str();
}

bound_method parse_bound_method(const std::string& method, const std::string& name) {
  for (bound_method m : {bound_method::automatic, bound_method::flow, bound_method::gradient})
    if (method == bound_method_name(m)) return m;
  throw input_error(name + ": unknown method '" + method + "' (expected auto, flow or gradient)");
}

template <class T>
CLI::Option* add_int64_option(CLI::App* cmd, const std::string& name, T& value, const std::string& help) {
  static_assert(sizeof(T) == 8 && std::is_integral_v<T>);
  constexpr bool is_signed = std::is_signed_v<T>;
  return cmd
      ->add_option_function<std::string>(
          name,
          [&value, name](const std::string& text) {
            const char* end = text.data() + text.size();
            const auto [at, ec] = std::from_chars(text.data(), end, value);
            if (text.empty() || ec != std::errc() || at != end)
              throw CLI::ValidationError(name, "'" + text + "' is not an integer in " +
                                                   (is_signed ? "[-2^63, 2^63)" : "[0, 2^64)"));
          },
          help)
      ->type_name(is_signed ? "INT" : "UINT")
      ->default_str(std::to_string(value));
}
template CLI::Option* add_int64_option(CLI::App*, const std::string&, std::int64_t&, const std::string&);
template CLI::Option* add_int64_option(CLI::App*, const std::string&, std::uint64_t&, const std::string&);

void check_shape_flags(const std::optional<double>& tau, const std::optional<double>& beta) {
  if (tau && !(*tau > 0.0 && std::isfinite(*tau))) throw input_error("--tau: must be a finite number > 0");
  if (beta && !(*beta >= 0.0 && std::isfinite(*beta))) throw input_error("--beta: must be a finite number >= 0");
}

void add_seed_option(CLI::App* cmd, std::uint64_t& seed, const std::string& help) {
  add_int64_option(cmd, "--seed", seed, help);
}

void apply_threads(int threads) {
  if (threads < 0 || threads > k_max_threads)
    throw input_error("--threads: must be in [0, " + std::to_string(k_max_threads) + "] (0 = all cores)");
  if (threads > 0) omp_set_num_threads(threads);
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace attnswarm::cli
