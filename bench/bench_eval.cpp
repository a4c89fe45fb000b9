// Backend benchmark (CPU reference by default, --backend cuda): one-policy evaluation (GB/s of F and A read) and one batched
// swarm evaluation of P policies (ms), on a bundle. Prints one JSON object on stdout so
// bench/cpu_vs_numpy.sh can put it beside numpy's figures from the same run.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <cmath>

#include "backend.hpp"
#include "bench_backend.hpp"
#include "report_errors.hpp"
#include "devices.hpp"
#include "problem.hpp"
#include "swarm.hpp"

using namespace attnswarm;

namespace {

template <typename F>
double median_seconds(int reps, F&& body) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto a = std::chrono::steady_clock::now();
    body();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The device the CUDA backend ran on: the one asked for, else the first (make_backend's choice).
device_info benched_device(int index) {
  const device_inventory inv = probe_devices();
  for (const device_info& d : inv.devices)
    if (d.index == index) return d;
  return inv.devices.front();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"evaluation benchmark (one policy, batched)"};
  std::string dir;
  int particles = 128, reps = 5, threads = 0;
  double tau = 1.0, beta = 0.0;
  app.add_option("--problem", dir, "bundle folder")->required();
  app.add_option("--particles", particles)->capture_default_str();
  app.add_option("--reps", reps)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--tau", tau)->capture_default_str();
  app.add_option("--beta", beta)->capture_default_str();
  bench::backend_flags flags;
  flags.add_options(app);
  std::string path = "auto";
  app.add_option("--eval-path", path, "CUDA: auto, fused, tensor or cublas")->capture_default_str();
  int swarm_iterations = 5;
  app.add_option("--swarm-iterations", swarm_iterations, "iterations of the timed swarm (0: none)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return bench::report_errors("bench_eval", [&] {

    const problem p = load_problem(dir);
    backend_options bo;
    bo.threads = threads;
    bo.particles = particles;
    bo.eval_path = path;
    auto b = flags.make(p, bo);
    // The same policies as bench/numpy_baseline.py builds: W[q, d] = sin(1 + 0.7 q + 0.3 d).
    std::vector<double> w(static_cast<std::size_t>(particles * p.dims()));
    for (int q = 0; q < particles; ++q)
      for (std::int64_t d = 0; d < p.dims(); ++d) w[q * p.dims() + d] = std::sin(1.0 + 0.7 * q + 0.3 * d);
    const shape s{tau, beta};

    policy_report rep;
    const double t_report = median_seconds(reps, [&] { rep = b->report(w.data(), s, 0); });
    const double bytes = static_cast<double>(p.users) * p.tasks * (dtype_size(p.fitness.type()) + dtype_size(p.attraction.type()));
    b->set_shape(s);
    std::vector<double> served(particles);
    const double t_eval = median_seconds(reps, [&] { b->evaluate(w.data(), particles, served.data()); });
    const double flops = 2.0 * p.users * particles * (p.tasks + 2.0 * p.tasks);
    // The least the batched evaluation must read: H = [G0 | A o G0] (float32) and r, once.
    const double min_bytes = static_cast<double>(p.users) * (2.0 * p.tasks + 1.0) * 4.0;

    // One swarm iteration as solve runs it (move, evaluate, record), the backend's own swarm
    // state; timed from the history, so the initial evaluation is left out.
    double iteration_s = 0.0;
    if (swarm_iterations > 0) {
      swarm_options so;
      so.particles = particles;
      so.iterations = swarm_iterations;
      so.stall = 0;
      so.state = b->device_swarm();
      const swarm_result r = run_swarm(
          static_cast<int>(p.dims()),
          [&](const double* x, int count, int, double* f) {
            b->evaluate(x, count, f);
            for (int q = 0; q < count; ++q) f[q] = -f[q];
          },
          so);
      iteration_s = (r.history.back().elapsed_s - r.history.front().elapsed_s) / r.iterations_run;
    }

    nlohmann::ordered_json j;
    j["backend"] = b->name();
    j["device"] = b->device_description();
    j["users"] = p.users;
    j["tasks"] = p.tasks;
    j["segments"] = p.segments;
    j["particles"] = particles;
    j["threads"] = threads > 0 ? threads : omp_get_max_threads();
    j["one_policy_s"] = t_report;
    j["one_policy_gbps"] = bytes / t_report / 1e9;
    j["batched_eval_ms"] = t_eval * 1e3;
    j["batched_eval_gflops"] = flops / t_eval / 1e9;
    j["batched_eval_min_gbps"] = min_bytes / t_eval / 1e9;
    j["swarm_iteration_ms"] = iteration_s * 1e3;
    j["served_policy0"] = served[0];
    if (b->name() == "cuda") {
      const device_info d = benched_device(flags.device);
      // the ceiling of the one-policy kernel: a device-to-device copy of as many bytes as it reads
      j["copy_gbps"] = measure_copy_bandwidth(d.index, static_cast<std::size_t>(bytes));
      j["one_policy_vs_copy"] = j["one_policy_gbps"].get<double>() / j["copy_gbps"].get<double>();
      j["fp32_peak_gflops"] = d.fp32_peak_gflops;
      j["batched_eval_vs_fp32_peak"] = d.fp32_peak_gflops > 0.0 ? flops / t_eval / 1e9 / d.fp32_peak_gflops : 0.0;
      j["batched_eval_min_bytes_vs_copy"] = j["batched_eval_min_gbps"].get<double>() / j["copy_gbps"].get<double>();
      // the tensor path does three TF32 products (3xTF32) for each FMA counted in `flops`
      j["tf32_tensor_peak_gflops"] = d.tf32_tensor_peak_gflops;
      j["batched_eval_tf32_products_vs_tensor_peak"] =
          path == "tensor" && d.tf32_tensor_peak_gflops > 0.0 ? 3.0 * flops / t_eval / 1e9 / d.tf32_tensor_peak_gflops
                                                              : 0.0;
    }
    std::cout << j.dump() << std::endl;
  });
}
