// Policy files (eval --policy, solve --init-policy): the log-boosts of an earlier solve, lined
// up with today's segments and tasks by name where both sides name them.
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

// The names in the table beside a policy, by id: its tasks.csv (a solve's table with a name
// column, or a bundle's task,name) or its segments.csv (segment,label); empty when there is
// none, it has no such columns, or it does not name every id in [0, count).
std::vector<std::string> names_beside(const fs::path& file, const char* id_key, const char* name_key,
                                      std::int64_t count) {
  if (!fs::exists(file)) return {};
  csv_reader in(file.string());
  if (!in.next()) return {};
  const std::vector<std::string> header(in.fields().begin(), in.fields().end());
  const int id_col = csv_reader::column(header, id_key), name_col = csv_reader::column(header, name_key);
  if (id_col < 0 || name_col < 0) return {};
  std::vector<std::string> names(static_cast<std::size_t>(count));
  std::vector<bool> named(static_cast<std::size_t>(count), false);
  std::unordered_map<std::string, std::int64_t> seen;
  while (in.next()) {
    const auto& f = in.fields();
    if (f.size() == 1 && f[0].empty()) continue;
    const std::string at = " at line " + std::to_string(in.line());
    double id = -1.0;
    if (static_cast<int>(f.size()) <= std::max(id_col, name_col) || !parse_csv_number(f[id_col], id) || id < 0 ||
        id >= static_cast<double>(count) || id != std::floor(id) || named[static_cast<std::size_t>(id)])
      throw input_error(file.string() + ": not a " + id_key + " table of the policy beside it" + at + " (expected each " +
                        id_key + " id in [0, " + std::to_string(count) + ") once, with its " + name_key + ")");
    const auto j = static_cast<std::size_t>(id);
    names[j] = std::string(f[name_col]);
    named[j] = true;
    if (!seen.emplace(names[j], static_cast<std::int64_t>(j)).second)
      throw input_error(file.string() + ": " + id_key + " " + name_key + " '" + names[j] + "' twice" + at);
  }
  for (bool n : named)
    if (!n) return {};  // not every one named: positions are all there is
  return names;
}

// Where each of today's names was in the policy (-1: new), and how many were found.
struct lined_up {
  std::vector<std::int64_t> from;
  std::int64_t matched = 0;
};
lined_up line_up(const std::vector<std::string>& policy_names, const std::vector<std::string>& names) {
  std::unordered_map<std::string, std::int64_t> at;
  for (std::size_t k = 0; k < policy_names.size(); ++k) at.emplace(policy_names[k], static_cast<std::int64_t>(k));
  lined_up l;
  for (const std::string& name : names) {
    const auto it = at.find(name);
    l.from.push_back(it != at.end() ? it->second : -1);
    l.matched += it != at.end() ? 1 : 0;
  }
  return l;
}

void say_lined_up(bool quiet, const std::string& path, const char* what, const lined_up& l, std::int64_t policy_count) {
  if (quiet) return;
  const auto today = static_cast<long long>(l.from.size());
  std::fprintf(stderr, "attnswarm: %s: %s lined up by name: %lld of %lld found, %lld new, %lld gone\n", path.c_str(),
               what, static_cast<long long>(l.matched), today, today - static_cast<long long>(l.matched),
               static_cast<long long>(policy_count - l.matched));
}

}  // namespace

std::vector<double> read_policy(const std::string& path, const problem& p, std::optional<double>& tau,
                                std::optional<double>& beta, bool quiet) {
  npy_array a(path);
  if (a.type() != dtype::f32 && a.type() != dtype::f64)
    throw input_error(path + ": dtype " + dtype_name(a.type()) + " not accepted (expected float32 or float64)");
  const std::string expected = "(" + std::to_string(p.segments) + ", " + std::to_string(p.tasks) + ")";
  if (a.shape().size() != 2)
    throw input_error(path + ": shape does not match " + expected + " = segments x tasks of the problem");
  const std::int64_t policy_segments = a.shape()[0], policy_tasks = a.shape()[1];
  std::vector<double> w(static_cast<std::size_t>(a.size()));
  a.read_f64(0, a.size(), w.data());
  for (std::size_t k = 0; k < w.size(); ++k)
    if (!(std::fabs(w[k]) <= k_max_log_boost))
      throw input_error(path + ": " + (std::isfinite(w[k]) ? "log-boost " + fmt("%g", w[k]) : "non-finite value") +
                        " at row " + std::to_string(k / policy_tasks) + ", column " + std::to_string(k % policy_tasks) +
                        " (a policy holds log-boosts in [-" + fmt("%g", k_max_log_boost) + ", " +
                        fmt("%g", k_max_log_boost) + "]; -" + fmt("%g", k_max_log_boost) + " all but shuts a task out)");
  const fs::path dir = fs::path(path).parent_path();
  const std::string by_name = " (segments and tasks are lined up by name only where both the problem and the "
                              "segments.csv and tasks.csv beside the policy name them)";

  // Segment and task ids are positions, which need not mean the same from one bundle to the
  // next (import numbers both in order of first appearance). Where the policy's and the
  // problem's are both named, rows follow the segments' labels and columns the tasks' names:
  // a segment new to the problem gets the mean row of those found, a task new to it its
  // segment's mean boost (neither favoured nor held back); one gone is dropped.
  const std::vector<std::string> labels =
      p.segment_names.empty() ? std::vector<std::string>{}
                              : names_beside(dir / "segments.csv", "segment", "label", policy_segments);
  if (!labels.empty() && labels != p.segment_names) {
    const lined_up rows = line_up(labels, p.segment_names);
    if (rows.matched == 0)
      throw input_error(path + ": none of its segments (labelled in " + (dir / "segments.csv").string() +
                        ") is a segment of the problem");
    std::vector<double> mean(static_cast<std::size_t>(policy_tasks), 0.0), aligned;
    for (std::int64_t from : rows.from)
      for (std::int64_t j = 0; from >= 0 && j < policy_tasks; ++j)
        mean[j] += w[from * policy_tasks + j] / static_cast<double>(rows.matched);
    for (std::int64_t from : rows.from)
      aligned.insert(aligned.end(), from >= 0 ? w.begin() + from * policy_tasks : mean.begin(),
                     from >= 0 ? w.begin() + (from + 1) * policy_tasks : mean.end());
    w = std::move(aligned);
    say_lined_up(quiet, path, "segments", rows, policy_segments);
  } else if (policy_segments != p.segments) {
    throw input_error(path + ": shape does not match " + expected + " = segments x tasks of the problem" + by_name);
  }

  const std::vector<std::string> names =
      p.task_names.empty() ? std::vector<std::string>{} : names_beside(dir / "tasks.csv", "task", "name", policy_tasks);
  if (!names.empty() && names != p.task_names) {
    const lined_up columns = line_up(names, p.task_names);
    if (columns.matched == 0)
      throw input_error(path + ": none of its tasks (named in " + (dir / "tasks.csv").string() +
                        ") is a task of the problem");
    std::vector<double> aligned(static_cast<std::size_t>(p.dims()));
    for (int s = 0; s < p.segments; ++s) {
      const double* row = w.data() + static_cast<std::size_t>(s) * policy_tasks;
      double mean = 0.0;
      for (std::int64_t from : columns.from)
        if (from >= 0) mean += row[from] / static_cast<double>(columns.matched);
      for (std::int64_t j = 0; j < p.tasks; ++j) {
        const std::int64_t from = columns.from[static_cast<std::size_t>(j)];
        aligned[s * p.tasks + j] = from >= 0 ? row[from] : mean;
      }
    }
    w = std::move(aligned);
    say_lined_up(quiet, path, "tasks", columns, policy_tasks);
  } else if (policy_tasks != p.tasks) {
    throw input_error(path + ": shape does not match " + expected + " = segments x tasks of the problem" + by_name);
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
