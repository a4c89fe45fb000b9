// `attnswarm eval`: the exact numbers of one policy.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "../kernels/attn_math.hpp"
#include "backend.hpp"
#include "builtin.hpp"
#include "cli.hpp"
#include "errors.hpp"
#include "outputs.hpp"
#include "solver.hpp"

namespace attnswarm::cli {

namespace {

struct eval_flags {
  common_flags c;
  backend_flags b;
  std::string policy;
  std::optional<double> tau, beta;
};

int run_eval(eval_flags& f) {
  const backend_options backend_opts = check_backend_flags(f.b, f.c.threads, 1);
  apply_threads(f.c.threads);
  problem p = load_problem_or_builtin(f.c.problem_dir, f.c.quiet);
  std::vector<double> w(static_cast<std::size_t>(p.dims()), 0.0);
  shape s;
  if (!f.policy.empty()) {
    npy_array a(f.policy);
    if (a.type() != dtype::f32 && a.type() != dtype::f64)
      throw input_error(f.policy + ": dtype " + dtype_name(a.type()) + " not accepted (expected float32 or float64)");
    if (a.size() != p.dims() || a.shape().size() != 2 || a.shape()[0] != p.segments || a.shape()[1] != p.tasks)
      throw input_error(f.policy + ": shape does not match (" + std::to_string(p.segments) + ", " +
                        std::to_string(p.tasks) + ") = segments x tasks of the problem");
    a.read_f64(0, a.size(), w.data());
    for (std::size_t k = 0; k < w.size(); ++k)
      if (!(std::fabs(w[k]) <= k_max_log_boost))
        throw input_error(f.policy + ": " + (std::isfinite(w[k]) ? "log-boost " + fmt("%g", w[k]) : "non-finite value") +
                          " at row " + std::to_string(k / p.tasks) + ", column " + std::to_string(k % p.tasks) +
                          " (a policy holds log-boosts in [-" + fmt("%g", k_max_log_boost) + ", " +
                          fmt("%g", k_max_log_boost) + "]; -" + fmt("%g", k_max_log_boost) +
                          " all but shuts a task out)");
    // A policy written by `solve` has its shape in the summary.json beside it.
    const auto summary = std::filesystem::path(f.policy).parent_path() / "summary.json";
    if ((!f.tau || !f.beta) && std::filesystem::exists(summary)) {
      std::ifstream in(summary);
      const auto j = nlohmann::json::parse(in, nullptr, false);
      if (!j.is_discarded() && j.contains("tau") && j.contains("beta")) {
        if (!f.tau) f.tau = j["tau"].get<double>();
        if (!f.beta) f.beta = j["beta"].get<double>();
        if (!f.c.quiet)
          std::fprintf(stderr, "attnswarm: shape tau %g, beta %g from %s\n", *f.tau, *f.beta, summary.c_str());
      }
    }
  }
  if (f.tau) s.tau = *f.tau;
  if (f.beta) s.beta = *f.beta;
  if (!(s.tau > 0.0) || !std::isfinite(s.tau)) throw input_error("--tau: must be a finite number > 0");
  if (!(s.beta >= 0.0) || !std::isfinite(s.beta)) throw input_error("--beta: must be a finite number >= 0");
  auto b = make_backend(f.b.backend, p, backend_opts);
  const policy_report rep = b->report(w.data(), s, 0);
  auto j = report_json(p, s, rep);
  j["backend"] = b->name();
  j["device"] = b->device_description();
  if (f.c.json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "backend      " << b->device_description() << "\n"
              << "policy       " << (f.policy.empty() ? std::string("baseline (W = 0)") : f.policy) << ", tau " << s.tau
              << ", beta " << s.beta << "\n"
              << "utilization  " << fmt("%.9g", rep.utilization) << "\n"
              << "served       " << fmt("%.9g", rep.served) << "\n"
              << "idle users   " << rep.idle_users << "\n"
              << "task  capacity  load  value  served_fraction" << (p.task_names.empty() ? "" : "  name") << "\n";
    for (std::int64_t t = 0; t < p.tasks; ++t)
      std::cout << t << "  " << fmt("%.6g", p.capacity[t]) << "  " << fmt("%.6g", rep.load[t]) << "  "
                << fmt("%.6g", rep.value[t]) << "  " << fmt("%.4f", capacity_factor(p.capacity[t], rep.load[t]))
                << (p.task_names.empty() ? std::string() : "  " + p.task_names[t]) << "\n";
  }
  return 0;
}

}  // namespace

subcommand add_eval(CLI::App& app) {
  auto f = std::make_shared<eval_flags>();
  auto* eval_cmd = app.add_subcommand("eval", "the exact numbers of one policy (the baseline without --policy)");
  add_common_options(eval_cmd, f->c);
  add_backend_options(eval_cmd, f->b);
  eval_cmd->add_option("--policy", f->policy, "policy.npy (segments x tasks); its shape is read from summary.json "
                                              "beside it unless --tau/--beta are given");
  eval_cmd->add_option("--tau", f->tau, "sharpness tau (default 1)");
  eval_cmd->add_option("--beta", f->beta, "value weight beta (default 0)");
  return {eval_cmd, [f] { return run_eval(*f); }};
}

}  // namespace attnswarm::cli
