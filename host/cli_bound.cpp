// `attnswarm bound`: the certified upper bound and its prices.
#include <iostream>
#include <memory>
#include <optional>

#include "backend.hpp"
#include "bound.hpp"
#include "builtin.hpp"
#include "cli.hpp"
#include "errors.hpp"
#include "npy.hpp"
#include "outputs.hpp"
#include "staged_dir.hpp"

namespace attnswarm::cli {

namespace {

struct bound_flags {
  common_flags c;
  backend_flags b;
  bound_options o;
  std::string method = "auto";
  std::string out;
};

int run_bound(bound_flags& f) {
  if (f.o.iterations < 0) throw input_error("--iterations: must be >= 0");
  if (!(f.o.tolerance > 0.0)) throw input_error("--tolerance: must be > 0");
  if (!(f.o.time_limit_s >= 0.0)) throw input_error("--time-limit: must be >= 0 (0 = none)");
  f.o.method = parse_bound_method(f.method, "--method");
  const backend_options backend_opts = check_backend_flags(f.b, f.c.threads, 1);
  apply_threads(f.c.threads);
  std::optional<staged_dir> out;  // made now: an output folder that cannot be made fails before the bound
  if (!f.out.empty()) out.emplace(f.out, k_bound_outputs);
  problem p = load_problem_or_builtin(f.c.problem_dir, f.c.quiet);
  auto b = make_backend(f.b.backend, p, backend_opts);
  f.o.interrupt = interrupt_guard::flag();
  const interrupt_guard stop_signals;
  const bound_result r = compute_bound(p, *b, f.o);
  // stopped by a signal: still a valid bound (the exact D at the best prices so far)
  const bool interrupted = !r.converged && f.o.interrupt->load();
  auto j = bound_json(p, r);
  j["interrupted"] = interrupted;
  j["backend"] = b->name();
  j["device"] = b->device_description();
  if (out) {
    write_npy(out->path("prices.npy"), dtype::f64, {p.tasks}, r.prices.data());
    write_text_file(out->path("bound.json"), j.dump(2) + "\n");
    out->commit();
  }
  if (f.c.json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "backend           " << b->device_description() << "\n"
              << "upper_bound       " << fmt("%.9g", r.upper_bound) << "\n"
              << "lp_lower_bound    " << fmt("%.9g", r.lp_lower_bound)
              << " (served by a feasible allocation: the best of any kind lies between the two)\n"
              << "method            " << bound_method_name(r.method) << "\n"
              << "bound_iterations  " << r.iterations << " (" << r.passes << " passes, "
              << (r.converged                       ? "converged"
                  : interrupted                     ? "interrupted"
                  : r.iterations >= f.o.iterations ? "iteration limit reached"
                                                    : "time limit reached") << ", "
              << fmt("%.2f s", r.elapsed_s) << ")\n"
              << "prices           ";
    for (double v : r.prices) std::cout << " " << fmt("%.6g", v);
    std::cout << "\n";
  }
  return interrupt_guard::exit_code();  // 128 + the signal when one came, else 0
}

}  // namespace

subcommand add_bound(CLI::App& app) {
  auto f = std::make_shared<bound_flags>();
  auto* bound_cmd = app.add_subcommand("bound", "the certified upper bound on served utilization (any allocation)");
  add_common_options(bound_cmd, f->c);
  add_backend_options(bound_cmd, f->b);
  bound_cmd->add_option("--iterations", f->o.iterations, "gradient steps, all stages together")->capture_default_str();
  bound_cmd
      ->add_option("--tolerance", f->o.tolerance, "stop once the bound is shown this close to the LP optimum (relative)")
      ->capture_default_str();
  add_bound_method_option(bound_cmd, "--method", f->method);
  bound_cmd->add_option("--time-limit", f->o.time_limit_s, "seconds (0 = none); the best bound so far is kept")
      ->capture_default_str();
  bound_cmd->add_option("--out", f->out, "folder for prices.npy and bound.json");
  return {bound_cmd, [f] { return run_bound(*f); }};
}

}  // namespace attnswarm::cli
