// The attnswarm command line: solve, eval, bound, import, generate, info. Bad input is one line on stderr
// and exit code 2; an internal failure is exit code 1.
#include <omp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <cmath>

#include "../kernels/attn_math.hpp"

#include "backend.hpp"
#include "builtin.hpp"
#include "devices.hpp"
#include "errors.hpp"
#include "generator.hpp"
#include "importer.hpp"
#include "outputs.hpp"
#include "solver.hpp"
#include "staged_dir.hpp"
#include "trace.hpp"
#include "bound.hpp"

#ifndef ATTNSWARM_VERSION
#define ATTNSWARM_VERSION "0.0.0"
#endif

namespace attnswarm {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

struct common_flags {
  std::string problem_dir;
  bool json = false;
  bool quiet = false;
  int threads = 0;
};

void apply_threads(int threads) {
  if (threads < 0) throw input_error("--threads: must be >= 0 (0 = all cores)");
  if (threads > 0) omp_set_num_threads(threads);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// ---------------------------------------------------------------- solve
struct solve_flags {
  common_flags c;
  std::string backend = "auto";
  std::string topology = "global";
  std::string inertia = "constant";
  std::string out;
  std::optional<double> tau, beta;
  bool profile = false;
  bool tf32 = false;
  solve_options o;
};

void check_solve_flags(solve_flags& f) {
  if (f.o.particles < 1) throw input_error("--particles: must be >= 1");
  if (f.o.iterations < 0) throw input_error("--iterations: must be >= 0");
  if (f.o.search_iterations < 0) throw input_error("--search-iterations: must be >= 0");
  if (!(f.o.w_max > 0.0) || !std::isfinite(f.o.w_max)) throw input_error("--w-max: must be a finite number > 0");
  if (f.o.stall < 0) throw input_error("--stall: must be >= 0 (0 = never)");
  if (f.o.time_limit_s < 0) throw input_error("--time-limit: must be >= 0 (0 = none)");
  if (f.o.topk < 0) throw input_error("--topk: must be >= 0");
  if (f.o.bound_opts.iterations < 0) throw input_error("--bound-iterations: must be >= 0");
  if (f.tau && !(*f.tau > 0.0 && std::isfinite(*f.tau))) throw input_error("--tau: must be a finite number > 0");
  if (f.beta && !(*f.beta >= 0.0 && std::isfinite(*f.beta))) throw input_error("--beta: must be a finite number >= 0");
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
  apply_threads(f.c.threads);
  problem p = load_problem_or_builtin(f.c.problem_dir, f.c.quiet);
  auto b = make_backend(f.backend, p, backend_options{f.c.threads, f.tf32});
  const bool progress = !f.c.quiet && ::isatty(STDERR_FILENO);
  double baseline_served = 0.0;
  f.o.interrupt = &g_interrupted;
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
  std::signal(SIGINT, on_sigint);
  if (f.profile) profiler_start();
  const solve_result r = solve(p, *b, f.o);
  if (f.profile) profiler_stop();
  std::signal(SIGINT, SIG_DFL);
  if (progress) std::fprintf(stderr, "\n");
  run_info info{b->name(), b->device_description(), p.source, f.c.threads > 0 ? f.c.threads : omp_get_max_threads()};
  const auto summary = summary_json(p, f.o, info, r);
  if (!f.out.empty()) write_solve_outputs(f.out, p, summary, r);
  if (f.c.json) {
    std::cout << summary.dump(2) << std::endl;
  } else {
    std::cout << "problem        " << p.source << "\n"
              << "size           " << p.users << " users x " << p.tasks << " tasks x " << p.segments << " segments ("
              << p.idle_users << " idle)\n"
              << "backend        " << info.device << "\n"
              << "shape          tau " << r.best_shape.tau << ", beta " << r.best_shape.beta
              << (r.shape_search.empty() ? " (given)" : " (searched)") << "\n"
              << "baseline       served " << fmt("%.6g", r.baseline.served) << " of utilization "
              << fmt("%.6g", r.baseline.utilization) << "\n"
              << "best           served " << fmt("%.6g", r.best.served) << " of utilization "
              << fmt("%.6g", r.best.utilization) << "\n"
              << "improvement    "
              << (r.baseline.served > 0 ? fmt("%+.3f%%", (r.best.served / r.baseline.served - 1) * 100)
                                        : std::string("n/a (the baseline serves nothing)"))
              << (r.fell_back_to_baseline ? " (no gain found: baseline kept)" : "") << "\n"
              << (r.bound ? "upper bound    " + fmt("%.6g", r.bound->upper_bound) + " (gap " +
                                fmt("%.3f%%", 100.0 * optimality_gap(r.bound->upper_bound, r.best.served)) +
                                " to the best allocation of any kind)\n"
                          : std::string())
              << "iterations     " << r.swarm.iterations_run << " (stopped: " << stop_reason_name(r.swarm.reason) << ")\n"
              << "elapsed        " << fmt("%.2f s", r.elapsed_s) << "\n";
    if (!f.out.empty()) std::cout << "written        " << f.out << "\n";
  }
  return r.swarm.reason == stop_reason::interrupted ? 130 : 0;
}

// ---------------------------------------------------------------- eval
struct eval_flags {
  common_flags c;
  std::string policy;
  std::optional<double> tau, beta;
};

int run_eval(eval_flags& f) {
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
      if (!std::isfinite(w[k]))
        throw input_error(f.policy + ": non-finite value at row " + std::to_string(k / p.tasks) + ", column " +
                          std::to_string(k % p.tasks));
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
  auto b = make_backend("cpu", p, backend_options{f.c.threads, false});
  const policy_report rep = b->report(w.data(), s, 0);
  const auto j = report_json(p, s, rep);
  if (f.c.json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "policy       " << (f.policy.empty() ? std::string("baseline (W = 0)") : f.policy) << ", tau " << s.tau
              << ", beta " << s.beta << "\n"
              << "utilization  " << fmt("%.9g", rep.utilization) << "\n"
              << "served       " << fmt("%.9g", rep.served) << "\n"
              << "idle users   " << rep.idle_users << "\n"
              << "task  capacity  load  value  served_fraction\n";
    for (std::int64_t t = 0; t < p.tasks; ++t)
      std::cout << t << "  " << fmt("%.6g", p.capacity[t]) << "  " << fmt("%.6g", rep.load[t]) << "  "
                << fmt("%.6g", rep.value[t]) << "  " << fmt("%.4f", capacity_factor(p.capacity[t], rep.load[t])) << "\n";
  }
  return 0;
}

// ---------------------------------------------------------------- bound
struct bound_flags {
  common_flags c;
  bound_options o;
  std::string out;
};

int run_bound(bound_flags& f) {
  if (f.o.iterations < 0) throw input_error("--iterations: must be >= 0");
  if (!(f.o.tolerance > 0.0)) throw input_error("--tolerance: must be > 0");
  apply_threads(f.c.threads);
  problem p = load_problem_or_builtin(f.c.problem_dir, f.c.quiet);
  auto b = make_backend("cpu", p, backend_options{f.c.threads, false});
  f.o.interrupt = &g_interrupted;
  std::signal(SIGINT, on_sigint);
  const bound_result r = compute_bound(p, *b, f.o);
  std::signal(SIGINT, SIG_DFL);
  const auto j = bound_json(p, r);
  if (!f.out.empty()) {
    staged_dir out(f.out);
    write_npy(out.path("prices.npy"), dtype::f64, {p.tasks}, r.prices.data());
    write_text_file(out.path("bound.json"), j.dump(2) + "\n");
    out.commit();
  }
  if (f.c.json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "upper_bound       " << fmt("%.9g", r.upper_bound) << "\n"
              << "bound_iterations  " << r.iterations << " (" << r.passes << " passes, "
              << (r.converged ? "converged" : "iteration limit reached") << ", " << fmt("%.2f s", r.elapsed_s) << ")\n"
              << "prices           ";
    for (double v : r.prices) std::cout << " " << fmt("%.6g", v);
    std::cout << "\n";
  }
  return 0;
}

// ---------------------------------------------------------------- import
int run_import(const import_options& o, bool quiet) {
  const import_report r = import_events(o);
  if (quiet) return 0;
  std::int64_t bad = 0;
  for (const auto& b : r.bad) bad += b.count;
  std::printf("wrote %s: %lld users x %lld tasks x %lld segments from %lld events (%lld records, %lld bad) in %.2f s\n",
              o.out.c_str(), static_cast<long long>(r.users), static_cast<long long>(r.tasks),
              static_cast<long long>(r.segments), static_cast<long long>(r.events), static_cast<long long>(r.lines),
              static_cast<long long>(bad), r.elapsed_s);
  for (const auto& b : r.bad) {
    std::string lines;
    for (auto l : b.first_lines) lines += (lines.empty() ? "" : ", ") + std::to_string(l);
    std::printf("  skipped %lld records: %s (first at lines %s)\n", static_cast<long long>(b.count), b.reason.c_str(),
                lines.c_str());
  }
  return 0;
}

// ---------------------------------------------------------------- generate
int run_generate(generator_options& g, const std::string& out, int threads, bool quiet) {
  apply_threads(threads);
  const generator_summary s = generate_bundle(g, out);
  if (!quiet)
    std::printf("wrote %s: %lld users x %lld tasks x %d segments, %.1f%% pairs eligible, %lld idle users, "
                "%lld of %lld tasks overloaded under the baseline\n",
                out.c_str(), static_cast<long long>(g.users), static_cast<long long>(g.tasks), g.segments,
                100.0 * s.eligible_fraction, static_cast<long long>(s.idle_users),
                static_cast<long long>(s.overloaded_tasks), static_cast<long long>(g.tasks));
  return 0;
}

// ---------------------------------------------------------------- info
int run_info_cmd(bool json) {
  const device_inventory inv = probe_devices();
  nlohmann::ordered_json j;
  j["version"] = ATTNSWARM_VERSION;
  j["cuda_compiled"] = inv.cuda_compiled;
  nlohmann::ordered_json devs = nlohmann::ordered_json::array();
  for (const auto& d : inv.devices) {
    nlohmann::ordered_json dj{{"index", d.index},
                              {"name", d.name},
                              {"memory_bytes", d.memory_bytes},
                              {"compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor)}};
    const std::string err = run_device_selftest(d.index);
    dj["selftest"] = err.empty() ? "passed" : "FAILED: " + err;
    devs.push_back(dj);
  }
  j["devices"] = devs;
  if (!inv.note.empty()) j["note"] = inv.note;
  j["openmp_threads"] = omp_get_max_threads();
  if (json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "attnswarm " << ATTNSWARM_VERSION << "\n"
              << "CUDA compiled in: " << (inv.cuda_compiled ? "yes" : "no") << "\n"
              << "OpenMP threads:   " << omp_get_max_threads() << "\n";
    for (const auto& d : devs)
      std::cout << "device " << d["index"] << ": " << d["name"].get<std::string>() << ", "
                << d["memory_bytes"].get<std::size_t>() / (1u << 20) << " MiB, sm "
                << d["compute_capability"].get<std::string>() << ", self-test " << d["selftest"].get<std::string>()
                << "\n";
    if (!inv.note.empty()) std::cout << inv.note << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace attnswarm

int main(int argc, char** argv) {
  using namespace attnswarm;
  CLI::App app{"attnswarm: attention allocation with a particle swarm, and a bound on how far from optimal it is"};
  app.require_subcommand(1);
  app.set_version_flag("--version", ATTNSWARM_VERSION);

  solve_flags sf;
  auto* solve_cmd = app.add_subcommand("solve", "find the policy that maximizes served utilization");
  solve_cmd->add_option("--problem", sf.c.problem_dir, "bundle folder (default: the built-in instance)");
  solve_cmd->add_option("--backend", sf.backend, "auto, cpu or cuda")->capture_default_str();
  solve_cmd->add_option("--particles", sf.o.particles, "swarm size P")->capture_default_str();
  solve_cmd->add_option("--iterations", sf.o.iterations, "iteration limit of the main swarm")->capture_default_str();
  solve_cmd->add_option("--search-iterations", sf.o.search_iterations, "iterations per shape of the shape search")
      ->capture_default_str();
  solve_cmd->add_option("--seed", sf.o.seed, "seed of the swarm's random stream")->capture_default_str();
  solve_cmd->add_option("--topology", sf.topology, "global or ring")->capture_default_str();
  solve_cmd->add_option("--inertia", sf.inertia, "constant (0.7298) or linear (0.9 -> 0.4)")->capture_default_str();
  solve_cmd->add_option("--tau", sf.tau, "fix the sharpness tau (> 0); searched unless tau and beta are both given");
  solve_cmd->add_option("--beta", sf.beta, "fix the value weight beta (>= 0)");
  solve_cmd->add_option("--w-max", sf.o.w_max, "bound on |W| (log-boosts)")->capture_default_str();
  solve_cmd->add_option("--stall", sf.o.stall, "stop after K iterations without relative gain --tol (0 = never)")
      ->capture_default_str();
  solve_cmd->add_option("--tol", sf.o.tol, "relative improvement that counts as progress")->capture_default_str();
  solve_cmd->add_option("--time-limit", sf.o.time_limit_s, "seconds (0 = none); the best so far is kept")
      ->capture_default_str();
  solve_cmd->add_option("--threads", sf.c.threads, "CPU threads (0 = all cores)")->capture_default_str();
  solve_cmd->add_option("--topk", sf.o.topk, "write each user's K largest allocations")->capture_default_str();
  solve_cmd->add_option("--out", sf.out, "output folder (written only when the solve succeeded)");
  solve_cmd->add_flag("--no-bound", [&sf](std::int64_t) { sf.o.bound = false; }, "skip the certified upper bound");
  solve_cmd->add_option("--bound-iterations", sf.o.bound_opts.iterations, "gradient steps of the bound")
      ->capture_default_str();
  solve_cmd->add_flag("--tf32", sf.tf32, "CUDA: batched products on TF32 tensor cores (faster, less exact)");
  solve_cmd->add_flag("--profile", sf.profile, "bracket the solve with cudaProfilerStart/Stop (Nsight)");
  solve_cmd->add_flag("--json", sf.c.json, "print the summary as JSON on stdout");
  solve_cmd->add_flag("--quiet", sf.c.quiet, "no progress line or notes on stderr");

  eval_flags ef;
  auto* eval_cmd = app.add_subcommand("eval", "the exact numbers of one policy (the baseline without --policy)");
  eval_cmd->add_option("--problem", ef.c.problem_dir, "bundle folder (default: the built-in instance)");
  eval_cmd->add_option("--policy", ef.policy, "policy.npy (segments x tasks); its shape is read from summary.json "
                                              "beside it unless --tau/--beta are given");
  eval_cmd->add_option("--tau", ef.tau, "sharpness tau (default 1)");
  eval_cmd->add_option("--beta", ef.beta, "value weight beta (default 0)");
  eval_cmd->add_option("--threads", ef.c.threads, "CPU threads (0 = all cores)");
  eval_cmd->add_flag("--json", ef.c.json, "print JSON on stdout");
  eval_cmd->add_flag("--quiet", ef.c.quiet, "no notes on stderr");

  generator_options go;
  std::string gen_out;
  int gen_threads = 0;
  bool gen_quiet = false;
  auto* gen_cmd = app.add_subcommand("generate", "write a deterministic synthetic bundle");
  gen_cmd->add_option("--users", go.users, "number of users N")->required();
  gen_cmd->add_option("--tasks", go.tasks, "number of tasks M")->required();
  gen_cmd->add_option("--segments", go.segments, "number of segments S")->capture_default_str();
  gen_cmd->add_option("--seed", go.seed, "generator seed")->capture_default_str();
  gen_cmd->add_option("--capacity-ratio", go.capacity_ratio,
                      "capacity / baseline load, times a per-task factor (inf: no capacities)")
      ->capture_default_str();
  gen_cmd->add_option("--out", gen_out, "bundle folder to write")->required();
  gen_cmd->add_option("--threads", gen_threads, "CPU threads (0 = all cores)");
  gen_cmd->add_flag("--quiet", gen_quiet, "print nothing");

  bound_flags bf;
  auto* bound_cmd = app.add_subcommand("bound", "the certified upper bound on served utilization (any allocation)");
  bound_cmd->add_option("--problem", bf.c.problem_dir, "bundle folder (default: the built-in instance)");
  bound_cmd->add_option("--iterations", bf.o.iterations, "gradient steps, all stages together")->capture_default_str();
  bound_cmd->add_option("--tolerance", bf.o.tolerance, "target relative distance to the LP optimum")
      ->capture_default_str();
  bound_cmd->add_option("--threads", bf.c.threads, "CPU threads (0 = all cores)");
  bound_cmd->add_option("--out", bf.out, "folder for prices.npy and bound.json");
  bound_cmd->add_flag("--json", bf.c.json, "print JSON on stdout");
  bound_cmd->add_flag("--quiet", bf.c.quiet, "no notes on stderr");

  import_options io;
  bool import_quiet = false;
  auto* import_cmd = app.add_subcommand("import", "build a bundle from a behaviour log (CSV of events)");
  import_cmd->add_option("--events", io.events, "events CSV with a header line")->required();
  import_cmd->add_option("--out", io.out, "bundle folder to write")->required();
  import_cmd->add_option("--user-col", io.user_col, "user column")->capture_default_str();
  import_cmd->add_option("--task-col", io.task_col, "item/task column")->capture_default_str();
  import_cmd->add_option("--value-col", io.value_col, "value column (empty: every event is worth 1)")
      ->capture_default_str();
  import_cmd->add_option("--time-col", io.time_col, "time column: seconds or ISO 8601 (empty: none)")
      ->capture_default_str();
  import_cmd->add_option("--kind-col", io.kind_col, "event kind column (needs --kind-weights)");
  import_cmd->add_option("--kind-weights", io.kind_weights, "weights per kind, e.g. view=1,click=3,purchase=10");
  import_cmd->add_option("--half-life", io.half_life_days, "recency half-life in days, from the newest event (0: none)")
      ->capture_default_str();
  import_cmd->add_option("--prior-strength", io.prior_strength, "interest units of the attraction prior")
      ->capture_default_str();
  import_cmd->add_option("--segments", io.segments_file, "CSV: user key, segment label");
  import_cmd->add_option("--capacity", io.capacity_file, "CSV: task key, capacity (> 0 or inf)");
  import_cmd->add_option("--task-map", io.task_map, "CSV sending each item to one or more tasks");
  import_cmd->add_option("--map-from-col", io.map_from_col, "item column of the task map");
  import_cmd->add_option("--map-to-col", io.map_to_col, "task column of the task map");
  import_cmd->add_option("--map-split", io.map_split, "separator of several tasks in one field, e.g. '|'");
  import_cmd->add_option("--max-cells", io.max_cells, "largest users x tasks of a dense bundle")->capture_default_str();
  import_cmd->add_flag("--strict", io.strict, "stop at the first bad record (exit 2)");
  import_cmd->add_flag("--quiet", import_quiet, "print nothing");

  bool info_json = false;
  auto* info_cmd = app.add_subcommand("info", "version, whether CUDA was compiled in, devices seen");
  info_cmd->add_flag("--json", info_json, "print JSON on stdout");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    if (*solve_cmd) return run_solve(sf);
    if (*eval_cmd) return run_eval(ef);
    if (*bound_cmd) return run_bound(bf);
    if (*import_cmd) return run_import(io, import_quiet);
    if (*gen_cmd) return run_generate(go, gen_out, gen_threads, gen_quiet);
    if (*info_cmd) return run_info_cmd(info_json);
  } catch (const input_error& e) {
    std::fprintf(stderr, "attnswarm: error: %s\n", e.what());
    return 2;
  } catch (const unavailable_error& e) {
    std::fprintf(stderr, "attnswarm: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnswarm: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
