#include <omp.h>

#include <csignal>
#include <cstdio>

#include "cli.hpp"
#include "errors.hpp"

namespace attnswarm::cli {

namespace {
std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}
}  // namespace

sigint_guard::sigint_guard() { std::signal(SIGINT, on_sigint); }
sigint_guard::~sigint_guard() { std::signal(SIGINT, SIG_DFL); }
const std::atomic<bool>* sigint_guard::flag() { return &g_interrupted; }

void add_common_options(CLI::App* cmd, common_flags& c) {
  cmd->add_option("--problem", c.problem_dir, "bundle folder (default: the built-in instance)");
  cmd->add_option("--threads", c.threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--json", c.json, "print JSON on stdout");
  cmd->add_flag("--quiet", c.quiet, "no progress line or notes on stderr");
}

void apply_threads(int threads) {
  if (threads < 0) throw input_error("--threads: must be >= 0 (0 = all cores)");
  if (threads > 0) omp_set_num_threads(threads);
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace attnswarm::cli
