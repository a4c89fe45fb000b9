#include "outputs.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "../kernels/attn_math.hpp"
#include "csv_reader.hpp"
#include "npy.hpp"
#include "staged_dir.hpp"

namespace attnswarm {

nlohmann::ordered_json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

namespace {

std::string csv_number(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

nlohmann::ordered_json summary_json(const problem& p, const solve_options& o, const run_info& info,
                                    const solve_result& r) {
  nlohmann::ordered_json j;
  j["problem"] = info.problem;
  j["users"] = p.users;
  j["tasks"] = p.tasks;
  j["segments"] = p.segments;
  j["backend"] = info.backend;
  j["device"] = info.device;
  j["threads"] = info.threads;
  j["particles"] = o.particles;
  j["seed"] = o.seed;
  j["topology"] = o.topo == topology::ring ? "ring" : "global";
  j["inertia"] = o.falling_inertia ? "linear 0.9->0.4" : "constant 0.7298";
  j["w_max"] = o.w_max;
  j["search_w_max"] = shape_search_w_max(o.w_max);
  j["tau"] = r.best_shape.tau;
  j["beta"] = r.best_shape.beta;
  j["shape_searched"] = !r.shape_search.empty();
  j["search_swarms"] = o.search_swarms;
  const auto or_null = [](const std::optional<double>& v) {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
  };
  nlohmann::ordered_json trials = nlohmann::ordered_json::array();
  for (const auto& t : r.shape_search)
    trials.push_back({{"tau", t.s.tau},
                      {"beta", t.s.beta},
                      {"best_served", or_null(t.best_served)},
                      {"price_seed_served", or_null(t.price_seed_served)}});
  j["shape_search"] = trials;
  j["iterations_run"] = r.swarm.iterations_run;
  j["stop_reason"] = stop_reason_name(r.swarm.reason);
  j["evaluations"] = r.swarm.evaluations;
  j["baseline_utilization"] = r.baseline.utilization;
  j["baseline_served"] = r.baseline.served;
  j["best_utilization"] = r.best.utilization;
  j["best_served"] = r.best.served;
  j["improvement"] = r.baseline.served > 0.0 ? nlohmann::ordered_json(r.best.served / r.baseline.served - 1.0)
                                             : nlohmann::ordered_json(nullptr);
  j["fell_back_to_baseline"] = r.fell_back_to_baseline;
  if (r.init) {
    j["init_policy"] = info.init_policy;
    j["init_served"] = r.init->served;
    j["fell_back_to_init_policy"] = r.fell_back_to_init_policy;
  }
  j["idle_users"] = r.best.idle_users;
  if (r.bound) {
    j["upper_bound"] = r.bound->upper_bound;
    j["gap"] = optimality_gap(r.bound->upper_bound, r.best.served);
    j["lp_lower_bound"] = r.bound->lp_lower_bound;
    j["bound_method"] = bound_method_name(r.bound->method);
    j["bound_iterations"] = r.bound->iterations;
    j["bound_converged"] = r.bound->converged;
    j["bound_elapsed_s"] = r.bound->elapsed_s;
  }
  if (r.seed_from_prices)
    j["price_seed"] = {{"scale", r.seed_from_prices->scale}, {"served", r.seed_from_prices->served}};
  j["phase_s"] = {{"baseline", r.phases.baseline_s},
                  {"bound", r.phases.bound_s},
                  {"shape_search", r.phases.shape_search_s},
                  {"swarm", r.phases.swarm_s},
                  {"report", r.phases.report_s}};
  j["elapsed_s"] = r.elapsed_s;
  return j;
}

nlohmann::ordered_json bound_json(const problem& p, const bound_result& b) {
  nlohmann::ordered_json j;
  j["users"] = p.users;
  j["tasks"] = p.tasks;
  j["upper_bound"] = b.upper_bound;
  j["lp_lower_bound"] = b.lp_lower_bound;
  j["method"] = bound_method_name(b.method);
  j["bound_iterations"] = b.iterations;
  j["passes"] = b.passes;
  j["converged"] = b.converged;
  j["gamma"] = b.gamma;
  j["elapsed_s"] = b.elapsed_s;
  j["prices"] = b.prices;
  return j;
}

nlohmann::ordered_json report_json(const problem& p, const shape& s, const policy_report& rep) {
  nlohmann::ordered_json j;
  j["users"] = p.users;
  j["tasks"] = p.tasks;
  j["segments"] = p.segments;
  j["tau"] = s.tau;
  j["beta"] = s.beta;
  j["utilization"] = rep.utilization;
  j["served"] = rep.served;
  j["idle_users"] = rep.idle_users;
  j["load"] = rep.load;
  j["value"] = rep.value;
  nlohmann::ordered_json cap = nlohmann::ordered_json::array();
  for (double c : p.capacity) cap.push_back(finite_or_null(c));
  j["capacity"] = cap;
  return j;
}

void write_solve_outputs(staged_dir& out, const problem& p, const nlohmann::ordered_json& summary,
                         const solve_result& r) {
  write_text_file(out.path("summary.json"), summary.dump(2) + "\n");

  std::ostringstream conv;
  conv << "iteration,best_served,mean_pbest,elapsed_s\n";
  for (const auto& h : r.swarm.history)
    conv << h.iteration << ',' << csv_number(-h.best) << ',' << csv_number(-h.mean_pbest) << ','
         << csv_number(h.elapsed_s) << '\n';
  write_text_file(out.path("convergence.csv"), conv.str());

  const bool named = !p.task_names.empty();
  std::ostringstream tasks;
  tasks << "task,capacity,baseline_load,best_load,best_value,served_fraction" << (named ? ",name" : "") << '\n';
  for (std::int64_t j = 0; j < p.tasks; ++j) {
    tasks << j << ',' << csv_number(p.capacity[j]) << ',' << csv_number(r.baseline.load[j]) << ','
          << csv_number(r.best.load[j]) << ',' << csv_number(r.best.value[j]) << ','
          << csv_number(capacity_factor(p.capacity[j], r.best.load[j]));
    if (named) tasks << ',' << csv_quote(p.task_names[j]);
    tasks << '\n';
  }
  write_text_file(out.path("tasks.csv"), tasks.str());

  if (!p.segment_names.empty()) {  // the rows of policy.npy, as the bundle's segments.csv names them
    std::ostringstream segments;
    segments << "segment,label\n";
    for (int k = 0; k < p.segments; ++k) segments << k << ',' << csv_quote(p.segment_names[k]) << '\n';
    write_text_file(out.path("segments.csv"), segments.str());
  }
  write_npy(out.path("policy.npy"), dtype::f64, {p.segments, p.tasks}, r.best_policy.data());
  if (r.best.topk > 0) {
    write_npy(out.path("topk_task.npy"), dtype::i32, {p.users, r.best.topk}, r.best.topk_task.data());
    write_npy(out.path("topk_share.npy"), dtype::f32, {p.users, r.best.topk}, r.best.topk_share.data());
  }
  out.commit();
}

}  // namespace attnswarm
