// What a solve leaves behind (DESIGN §4): summary.json, convergence.csv, tasks.csv,
// policy.npy and the top-k allocation, and segments.csv, the labels of policy.npy's rows
// (beyond DESIGN §4, for a warm start to line them up), all committed together through a
// staged_dir.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "solver.hpp"
#include "staged_dir.hpp"

namespace attnswarm {

struct run_info {
  std::string backend;
  std::string device;
  std::string problem;
  int threads = 0;
  std::string init_policy;  // solve --init-policy, empty when none
};

nlohmann::ordered_json summary_json(const problem& p, const solve_options& o, const run_info& info,
                                    const solve_result& r);

// Every file a solve may write (segments.csv only when the problem names its segments, the
// top-k only with --topk).
inline const output_kind k_solve_outputs{"solve",
                                         {"summary.json", "convergence.csv", "tasks.csv", "segments.csv", "policy.npy",
                                          "topk_task.npy", "topk_share.npy"}};

// Writes every file into `out` (made before the solve, so that an output folder that cannot
// be made fails before the work) and commits them together.
void write_solve_outputs(staged_dir& out, const problem& p, const nlohmann::ordered_json& summary,
                         const solve_result& r);

// Numbers of one policy as printed by `eval` (keys utilization, served, idle_users, load, value).
nlohmann::ordered_json report_json(const problem& p, const shape& s, const policy_report& rep);

// The files of `bound --out`.
inline const output_kind k_bound_outputs{"bound", {"prices.npy", "bound.json"}};

// What `bound` prints: upper_bound, bound_iterations, passes, converged, gamma, prices.
nlohmann::ordered_json bound_json(const problem& p, const bound_result& b);

// JSON has no infinity: capacities that are unbounded are written as null.
nlohmann::ordered_json finite_or_null(double v);

}  // namespace attnswarm
