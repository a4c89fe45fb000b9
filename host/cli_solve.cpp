// `attnswarm solve`: options, the progress line, and the printed or JSON summary.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "backend.hpp"
#include "builtin.hpp"
#include "cli.hpp"
#include "errors.hpp"
#include "outputs.hpp"
#include "solver.hpp"
#include "trace.hpp"

namespace attnswarm::cli {

namespace {

struct solve_flags {
  common_flags c;
  backend_flags b;
  std::string topology = "global";
  std::string inertia = "constant";
  std::string bound_method = "auto";
  std::string out;
  std::string init_policy;
  std::optional<double> tau, beta;
  bool profile = false;
  solve_options o;
};

// " (searched: 23 shapes, 8 of them with a swarm)"
std::string shape_search_line(const std::vector<shape_trial>& trials) {
  const auto swarmed = std::count_if(trials.begin(), trials.end(), [](const shape_trial& t) { return t.best_served.has_value(); });
  return " (searched: " + std::to_string(trials.size()) + " shapes, " + std::to_string(swarmed) + " of them with a swarm)";
}

void check_solve_flags(solve_flags& f) {
  if (f.o.particles < 1) throw input_error("--particles: must be >= 1");
  if (f.o.iterations < 0) throw input_error("--iterations: must be >= 0");
  if (f.o.search_iterations < 0) throw input_error("--search-iterations: must be >= 0");
  if (f.o.search_swarms < 1) throw input_error("--search-swarms: must be >= 1");
  if (!(f.o.w_max > 0.0 && f.o.w_max <= k_max_log_boost))
    throw input_error("--w-max: must be a number in (0, " + fmt("%g", k_max_log_boost) + "]");
  if (f.o.stall < 0) throw input_error("--stall: must be >= 0 (0 = never)");
  if (!(f.o.time_limit_s >= 0)) throw input_error("--time-limit: must be >= 0 (0 = none)");
  if (!(f.o.tol >= 0 && std::isfinite(f.o.tol))) throw input_error("--tol: must be a finite number >= 0");
  if (f.o.topk < 0) throw input_error("--topk: must be >= 0");
  if (f.o.bound_opts.iterations < 0) throw input_error("--bound-iterations: must be >= 0");
  f.o.bound_opts.method = parse_bound_method(f.bound_method, "--bound-method");
  check_shape_flags(f.tau, f.beta);
  if (!f.init_policy.empty() && !std::filesystem::is_regular_file(f.init_policy))
    throw input_error(f.init_policy + ": --init-policy: no such file");
  if (f.topology == "global") f.o.topo = topology::global;
  else if (f.topology == "ring") f.o.topo = topology::ring;
  else throw input_error("--topology: '" + f.topology + "' (expected global or ring)");
  if (f.inertia == "constant") f.o.falling_inertia = false;
  else if (f.inertia == "linear") f.o.falling_inertia = true;
  else throw input_error("--inertia: '" + f.inertia + "' (expected constant or linear)");
  f.o.tau = f.tau;
  f.o.beta = f.beta;
}

int run_solve(solve_flags& f) {
  check_solve_flags(f);
  const backend_options backend_opts = check_backend_flags(f.b, f.c.threads, f.o.particles);
  apply_threads(f.c.threads);
  std::optional<staged_dir> out;  // made now: an output folder that cannot be made fails before the solve
  if (!f.out.empty()) out.emplace(f.out, k_solve_outputs);
  problem p = load_problem_or_builtin(f.c.problem_dir, f.c.quiet);
  if (!f.init_policy.empty()) {
    // its shape, from the summary beside it, fixes the shape unless --tau or --beta say otherwise
    f.o.init_policy = read_policy(f.init_policy, p, f.tau, f.beta, f.c.quiet);
    f.o.tau = f.tau;
    f.o.beta = f.beta;
  }
  auto b = make_backend(f.b.backend, p, backend_opts);
  const bool progress = !f.c.quiet && ::isatty(STDERR_FILENO);
  double baseline_served = 0.0;
  f.o.interrupt = interrupt_guard::flag();
  if (progress) {
    f.o.on_phase = [](const std::string& phase) {
      std::fprintf(stderr, "\r\033[K[attnswarm] %s", phase.c_str());
      std::fflush(stderr);
    };
    f.o.on_progress = [&, last = -1.0](const swarm_progress& pr, const swarm_options& so) mutable {
      if (pr.elapsed_s - last < 0.1 && pr.iteration < so.iterations) return;
      last = pr.elapsed_s;
      const double eta = pr.iteration > 0 ? pr.elapsed_s / pr.iteration * (so.iterations - pr.iteration) : 0.0;
      const double gain = baseline_served > 0.0 ? (-pr.best / baseline_served - 1.0) * 100.0 : 0.0;
      std::fprintf(stderr, "\r\033[K[attnswarm] iter %d/%d  best served %.6g  %+.2f%% vs baseline  ETA %.0fs",
                   pr.iteration, so.iterations, -pr.best, gain, eta);
      std::fflush(stderr);
    };
  }
  f.o.on_baseline = [&](const policy_report& base) { baseline_served = base.served; };
  const interrupt_guard stop_signals;
  if (f.profile) profiler_start();
  const solve_result r = solve(p, *b, f.o);
  if (f.profile) profiler_stop();
  if (progress) std::fprintf(stderr, "\n");
  run_info info{b->name(), b->device_description(), p.source, f.c.threads > 0 ? f.c.threads : omp_get_max_threads(),
                f.init_policy};
  const auto summary = summary_json(p, f.o, info, r);
  if (out) write_solve_outputs(*out, p, summary, r);
  if (f.c.json) {
    std::cout << summary.dump(2) << std::endl;
  } else {
    std::cout << "problem        " << p.source << "\n"
              << "size           " << p.users << " users x " << p.tasks << " tasks x " << p.segments << " segments ("
              << p.idle_users << " idle)\n"
              << "backend        " << info.device << "\n"
              << "shape          tau " << r.best_shape.tau << ", beta " << r.best_shape.beta
              << (r.shape_search.empty() ? std::string(" (given)") : shape_search_line(r.shape_search)) << "\n"
              << "baseline       served " << fmt("%.6g", r.baseline.served) << " of utilization "
              << fmt("%.6g", r.baseline.utilization) << "\n"
              << "best           served " << fmt("%.6g", r.best.served) << " of utilization "
              << fmt("%.6g", r.best.utilization) << "\n"
              << "improvement    "
              << (r.baseline.served > 0 ? fmt("%+.3f%%", (r.best.served / r.baseline.served - 1) * 100)
                                        : std::string("n/a (the baseline serves nothing)"))
              << (r.fell_back_to_baseline ? " (no gain found: baseline kept)" : "") << "\n"
              << (r.init ? "warm start     " + f.init_policy + " serves " + fmt("%.6g", r.init->served) +
                               (r.fell_back_to_init_policy ? " (no gain found: kept)" : "") + "\n"
                         : std::string())
              << (r.bound ? "upper bound    " + fmt("%.6g", r.bound->upper_bound) + " (gap " +
                                fmt("%.3f%%", 100.0 * optimality_gap(r.bound->upper_bound, r.best.served)) +
                                " to the best allocation of any kind)\n" +
                                // LP* >= lp_lower_bound, so the policy is at least this far below LP*
                                "lp optimum     between " + fmt("%.6g", r.bound->lp_lower_bound) + " and " +
                                fmt("%.6g", r.bound->upper_bound) + ": the policy serves at least " +
                                fmt("%.3f%%", 100.0 * std::max(0.0, optimality_gap(r.bound->lp_lower_bound,
                                                                                    r.best.served))) +
                                " less\n"
                          : std::string())
              << (r.seed_from_prices ? "price seed     scale " + fmt("%.3g", r.seed_from_prices->scale) +
                                           " serves " + fmt("%.6g", r.seed_from_prices->served) +
                                           " (float32 products)\n"
                                     : std::string())
              << "iterations     " << r.swarm.iterations_run << " (stopped: " << stop_reason_name(r.swarm.reason) << ")\n"
              << "elapsed        " << fmt("%.2f s", r.elapsed_s) << " (baseline " << fmt("%.2f", r.phases.baseline_s)
              << ", bound " << fmt("%.2f", r.phases.bound_s) << ", shape search "
              << fmt("%.2f", r.phases.shape_search_s) << ", swarm " << fmt("%.2f", r.phases.swarm_s) << ", report " << fmt("%.2f", r.phases.report_s) << ")\n";
    if (!f.out.empty()) std::cout << "written        " << f.out << "\n";
  }
  // 128 + the signal when one stopped any phase (the swarm, or only the bound), else 0
  return interrupt_guard::exit_code();
}

}  // namespace

subcommand add_solve(CLI::App& app) {
  auto f = std::make_shared<solve_flags>();
  auto* solve_cmd = app.add_subcommand("solve", "find the policy that maximizes served utilization");
  add_common_options(solve_cmd, f->c);
  add_backend_options(solve_cmd, f->b);
  solve_cmd->add_option("--particles", f->o.particles, "swarm size P")->capture_default_str();
  solve_cmd->add_option("--iterations", f->o.iterations, "iteration limit of the main swarm")->capture_default_str();
  solve_cmd->add_option("--search-iterations", f->o.search_iterations, "iterations per shape of the shape search")
      ->capture_default_str();
  solve_cmd
      ->add_option("--search-swarms", f->o.search_swarms,
                   "short swarms of the shape search: on the K shapes whose price ladders serve most, then next to "
                   "the best while it gains (every shape tried gets one without price seeds)")
      ->capture_default_str();
  add_seed_option(solve_cmd, f->o.seed, "seed of the swarm's random stream");
  solve_cmd->add_option("--topology", f->topology, "global or ring")->capture_default_str();
  solve_cmd->add_option("--inertia", f->inertia, "constant (0.7298) or linear (0.9 -> 0.4)")->capture_default_str();
  solve_cmd->add_option("--tau", f->tau, "fix the sharpness tau (> 0); searched unless tau and beta are both given");
  solve_cmd->add_option("--beta", f->beta, "fix the value weight beta (>= 0)");
  solve_cmd->add_option("--init-policy", f->init_policy,
                        "warm start: a policy.npy of an earlier solve (its shape from the summary.json beside it); "
                        "the answer is never worse than it");
  solve_cmd->add_option("--w-max", f->o.w_max, "bound on |W| (log-boosts) of the answer; the shape search stays within 4")
      ->capture_default_str();
  solve_cmd->add_option("--stall", f->o.stall, "stop after K iterations without relative gain --tol (0 = never)")
      ->capture_default_str();
  solve_cmd->add_option("--tol", f->o.tol, "relative improvement that counts as progress")->capture_default_str();
  solve_cmd->add_option("--time-limit", f->o.time_limit_s, "seconds (0 = none); the best so far is kept")
      ->capture_default_str();
  solve_cmd->add_option("--topk", f->o.topk, "write each user's K largest allocations")->capture_default_str();
  solve_cmd->add_option("--out", f->out, "output folder (written only when the solve succeeded)");
  solve_cmd->add_flag("--no-bound", [f](std::int64_t) { f->o.bound = false; },
                      "skip the certified upper bound (and the price seeds that come from it)");
  solve_cmd->add_flag("--no-price-seeds", [f](std::int64_t) { f->o.price_seeds = false; },
                      "do not seed the swarms from the bound's prices");
  solve_cmd->add_option("--bound-iterations", f->o.bound_opts.iterations, "gradient steps of the bound")
      ->capture_default_str();
  add_bound_method_option(solve_cmd, "--bound-method", f->bound_method);
  solve_cmd->add_flag("--profile", f->profile, "bracket the solve with cudaProfilerStart/Stop (Nsight)");
  return {solve_cmd, [f] { return run_solve(*f); }};
}

}  // namespace attnswarm::cli
