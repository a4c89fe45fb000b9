// The bound's cost against the swarm's, on one bundle and in one run: the time of one
// batched swarm evaluation (P policies), the time until the bound is within 0.1% of its
// limit (the limit taken from a run at tolerance 1e-6), and the default run's total time.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bound.hpp"
#include "backend.hpp"
#include "bench_backend.hpp"
#include "report_errors.hpp"

using namespace attnswarm;

int main(int argc, char** argv) {
  CLI::App app{"bound vs swarm iteration"};
  std::string dir;
  int particles = 128, threads = 0;
  app.add_option("--problem", dir, "bundle folder")->required();
  app.add_option("--particles", particles)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  bench::backend_flags flags;
  flags.add_options(app);
  CLI11_PARSE(app, argc, argv);
  return bench::report_errors("bench_bound", [&] {
    const problem p = load_problem(dir);
    backend_options bo;
    bo.threads = threads;
    bo.particles = particles;
    auto b = flags.make(p, bo);
    const auto now = [] { return std::chrono::steady_clock::now(); };
    const auto secs = [](auto a, auto z) { return std::chrono::duration<double>(z - a).count(); };

    std::vector<double> w(static_cast<std::size_t>(particles * p.dims()));
    for (std::size_t k = 0; k < w.size(); ++k) w[k] = std::sin(1.0 + 0.3 * static_cast<double>(k));
    b->set_shape(shape{});
    std::vector<double> served(particles);
    b->evaluate(w.data(), particles, served.data());  // warm-up
    std::vector<double> t;
    for (int r = 0; r < 5; ++r) {
      const auto a = now();
      b->evaluate(w.data(), particles, served.data());
      t.push_back(secs(a, now()));
    }
    std::sort(t.begin(), t.end());
    const double swarm_iteration = t[2];

    bound_options tight;
    tight.tolerance = 1e-6;
    tight.iterations = 100000;
    const bound_result limit_run = compute_bound(p, *b, tight);
    const double limit = limit_run.upper_bound;

    bound_options o;
    double within = -1.0;
    const auto start = now();
    o.on_pass = [&](int, double best) {
      if (within < 0.0 && best <= limit * (1.0 + 1e-3)) within = secs(start, now());
    };
    const bound_result r = compute_bound(p, *b, o);

    nlohmann::ordered_json j;
    j["backend"] = b->name();
    j["device"] = b->device_description();
    j["users"] = p.users;
    j["tasks"] = p.tasks;
    j["particles"] = particles;
    j["swarm_iteration_s"] = swarm_iteration;
    j["bound_limit"] = limit;
    j["bound_limit_lp_lower_bound"] = limit_run.lp_lower_bound;  // LP* lies between the two
    j["bound_limit_passes"] = limit_run.passes;
    j["bound_default"] = r.upper_bound;
    j["bound_default_lp_lower_bound"] = r.lp_lower_bound;
    j["bound_default_method"] = bound_method_name(r.method);
    j["bound_default_converged"] = r.converged;
    j["bound_default_s"] = r.elapsed_s;
    j["bound_default_passes"] = r.passes;
    j["within_0.1pct_s"] = within;
    j["within_0.1pct_in_swarm_iterations"] = within / swarm_iteration;
    std::cout << j.dump(2) << std::endl;
  });
}
