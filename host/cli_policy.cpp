// Policy files (eval --policy, solve --init-policy): the log-boosts of an earlier solve, lined
// up with today's tasks by name where both sides name them.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "cli.hpp"
#include "csv_reader.hpp"
#include "errors.hpp"
#include "solver.hpp"

namespace attnswarm::cli {

namespace {

namespace fs = std::filesystem;

// The task names of the tasks.csv beside a policy (a solve's table, or a bundle's task,name),
// by column; empty when there is none or it has no name column.
std::vector<std::string> policy_task_names(const fs::path& file, std::int64_t tasks) {
  if (!fs::exists(file)) return {};
  csv_reader in(file.string());
  if (!in.next()) return {};
  const std::vector<std::string> header(in.fields().begin(), in.fields().end());
  const int id_col = csv_reader::column(header, "task"), name_col = csv_reader::column(header, "name");
  if (id_col < 0 || name_col < 0) return {};
  std::vector<std::string> names(static_cast<std::size_t>(tasks));
  std::vector<bool> named(static_cast<std::size_t>(tasks), false);
  std::unordered_map<std::string, std::int64_t> seen;
  while (in.next()) {
    const auto& f = in.fields();
    if (f.size() == 1 && f[0].empty()) continue;
    const std::string at = " at line " + std::to_string(in.line());
    double id = -1.0;
    if (static_cast<int>(f.size()) <= std::max(id_col, name_col) || !parse_csv_number(f[id_col], id) || id < 0 ||
        id >= static_cast<double>(tasks) || id != std::floor(id) || named[static_cast<std::size_t>(id)])
      throw input_error(file.string() + ": not a task table of the policy beside it" + at +
                        " (expected each task id in [0, " + std::to_string(tasks) + ") once, with its name)");
    const auto j = static_cast<std::size_t>(id);
    names[j] = std::string(f[name_col]);
    named[j] = true;
    if (!seen.emplace(names[j], static_cast<std::int64_t>(j)).second)
      throw input_error(file.string() + ": task name '" + names[j] + "' twice" + at);
  }
  for (bool n : named)
    if (!n) return {};  // not every column named: positions are all there is
  return names;
}

}  // namespace

std::vector<double> read_policy(const std::string& path, const problem& p, std::optional<double>& tau,
                                std::optional<double>& beta, bool quiet) {
  npy_array a(path);
  if (a.type() != dtype::f32 && a.type() != dtype::f64)
    throw input_error(path + ": dtype " + dtype_name(a.type()) + " not accepted (expected float32 or float64)");
  const std::string expected = "(" + std::to_string(p.segments) + ", " + std::to_string(p.tasks) + ")";
  if (a.shape().size() != 2 || a.shape()[0] != p.segments)
    throw input_error(path + ": shape does not match " + expected + " = segments x tasks of the problem");
  const std::int64_t policy_tasks = a.shape()[1];
  std::vector<double> w(static_cast<std::size_t>(a.size()));
  a.read_f64(0, a.size(), w.data());
  for (std::size_t k = 0; k < w.size(); ++k)
    if (!(std::fabs(w[k]) <= k_max_log_boost))
      throw input_error(path + ": " + (std::isfinite(w[k]) ? "log-boost " + fmt("%g", w[k]) : "non-finite value") +
                        " at row " + std::to_string(k / policy_tasks) + ", column " + std::to_string(k % policy_tasks) +
                        " (a policy holds log-boosts in [-" + fmt("%g", k_max_log_boost) + ", " +
                        fmt("%g", k_max_log_boost) + "]; -" + fmt("%g", k_max_log_boost) + " all but shuts a task out)");
  const fs::path dir = fs::path(path).parent_path();

  // Task ids are positions, which need not mean the same tasks from one bundle to the next
  // (import numbers them in order of first appearance in the log). Where the policy's tasks
  // and the problem's are both named, columns follow the names: a task new to the problem
  // gets its segment's mean boost (neither favoured nor held back), a task gone is dropped.
  const std::vector<std::string> names =
      p.task_names.empty() ? std::vector<std::string>{} : policy_task_names(dir / "tasks.csv", policy_tasks);
  if (!names.empty() && names != p.task_names) {
    std::unordered_map<std::string, std::int64_t> column;
    for (std::int64_t k = 0; k < policy_tasks; ++k) column.emplace(names[k], k);
    std::vector<std::int64_t> from(static_cast<std::size_t>(p.tasks), -1);
    std::int64_t matched = 0;
    for (std::int64_t j = 0; j < p.tasks; ++j)
      if (const auto it = column.find(p.task_names[j]); it != column.end()) {
        from[j] = it->second;
        ++matched;
      }
    if (matched == 0)
      throw input_error(path + ": none of its tasks (named in " + (dir / "tasks.csv").string() +
                        ") is a task of the problem");
    std::vector<double> aligned(static_cast<std::size_t>(p.dims()));
    for (int s = 0; s < p.segments; ++s) {
      const double* row = w.data() + static_cast<std::size_t>(s) * policy_tasks;
      double mean = 0.0;
      for (std::int64_t j = 0; j < p.tasks; ++j)
        if (from[j] >= 0) mean += row[from[j]] / static_cast<double>(matched);
      for (std::int64_t j = 0; j < p.tasks; ++j) aligned[s * p.tasks + j] = from[j] >= 0 ? row[from[j]] : mean;
    }
    w = std::move(aligned);
    if (!quiet)
      std::fprintf(stderr, "attnswarm: %s: tasks lined up by name: %lld of %lld found, %lld new, %lld gone\n",
                   path.c_str(), static_cast<long long>(matched), static_cast<long long>(p.tasks),
                   static_cast<long long>(p.tasks - matched), static_cast<long long>(policy_tasks - matched));
  } else if (policy_tasks != p.tasks) {
    throw input_error(path + ": shape does not match " + expected +
                      " = segments x tasks of the problem (tasks are lined up by name only where the problem and "
                      "the tasks.csv beside the policy both name them)");
  }

  const auto summary = dir / "summary.json";
  if ((!tau || !beta) && fs::exists(summary)) {
    std::ifstream in(summary);
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("tau") && j.contains("beta")) {
      const auto number = [&](const char* key, bool positive) {
        const auto& v = j[key];
        if (!v.is_number() || !std::isfinite(v.get<double>()) || (positive ? !(v.get<double>() > 0.0) : v.get<double>() < 0.0))
          throw input_error(summary.string() + ": " + key + " " + v.dump() + " is not a shape (tau > 0, beta >= 0); " +
                            "give --tau and --beta");
        return v.get<double>();
      };
      if (!tau) tau = number("tau", true);
      if (!beta) beta = number("beta", false);
      if (!quiet) std::fprintf(stderr, "attnswarm: shape tau %g, beta %g from %s\n", *tau, *beta, summary.c_str());
    }
  }
  return w;
}

}  // namespace attnswarm::cli
