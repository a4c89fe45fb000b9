// `attnswarm eval`: the exact numbers of one policy.
#include <cmath>
#include <cstdio>
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
  if (!f.policy.empty()) w = read_policy(f.policy, p, f.tau, f.beta, f.c.quiet);
  check_shape_flags(f.tau, f.beta);
  if (f.tau) s.tau = *f.tau;
  if (f.beta) s.beta = *f.beta;
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
