// `attnswarm import` and `attnswarm generate`: the two ways to make a bundle.
#include <cstdio>
#include <memory>

#include "cli.hpp"
#include "generator.hpp"
#include "importer.hpp"

namespace attnswarm::cli {

namespace {

struct import_flags {
  import_options o;
  bool quiet = false;
};

struct generate_flags {
  generator_options o;
  std::string out;
  int threads = 0;
  bool quiet = false;
};

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

}  // namespace

subcommand add_import(CLI::App& app) {
  auto f = std::make_shared<import_flags>();
  auto* import_cmd = app.add_subcommand("import", "build a bundle from a behaviour log (CSV of events)");
  import_cmd->add_option("--events", f->o.events, "events CSV with a header line")->required();
  import_cmd->add_option("--out", f->o.out, "bundle folder to write")->required();
  import_cmd->add_option("--user-col", f->o.user_col, "user column")->capture_default_str();
  import_cmd->add_option("--task-col", f->o.task_col, "item/task column")->capture_default_str();
  import_cmd->add_option("--value-col", f->o.value_col, "value column (empty: every event is worth 1)")
      ->capture_default_str();
  import_cmd->add_option("--time-col", f->o.time_col, "time column: seconds or ISO 8601 (empty: none)")
      ->capture_default_str();
  import_cmd->add_option("--kind-col", f->o.kind_col, "event kind column (needs --kind-weights)");
  import_cmd->add_option("--kind-weights", f->o.kind_weights, "weights per kind, e.g. view=1,click=3,purchase=10");
  import_cmd->add_option("--half-life", f->o.half_life_days, "recency half-life in days, from the newest event (0: none)")
      ->capture_default_str();
  import_cmd->add_option("--prior-strength", f->o.prior_strength, "interest units of the attraction prior")
      ->capture_default_str();
  import_cmd->add_option("--segments", f->o.segments_file, "CSV: user key, segment label");
  import_cmd->add_option("--capacity", f->o.capacity_file, "CSV: task key, capacity (> 0 or inf)");
  import_cmd->add_option("--task-map", f->o.task_map, "CSV sending each item to one or more tasks");
  import_cmd->add_option("--map-from-col", f->o.map_from_col, "item column of the task map");
  import_cmd->add_option("--map-to-col", f->o.map_to_col, "task column of the task map");
  import_cmd->add_option("--map-split", f->o.map_split, "separator of several tasks in one field, e.g. '|'");
  add_int64_option(import_cmd, "--max-cells", f->o.max_cells, "largest users x tasks of a dense bundle");
  import_cmd->add_flag("--strict", f->o.strict, "stop at the first bad record (exit 2)");
  import_cmd->add_flag("--quiet", f->quiet, "print nothing");
  return {import_cmd, [f] { return run_import(f->o, f->quiet); }};
}

subcommand add_generate(CLI::App& app) {
  auto f = std::make_shared<generate_flags>();
  auto* gen_cmd = app.add_subcommand("generate", "write a deterministic synthetic bundle");
  add_int64_option(gen_cmd, "--users", f->o.users, "number of users N")->required();
  add_int64_option(gen_cmd, "--tasks", f->o.tasks, "number of tasks M")->required();
  gen_cmd->add_option("--segments", f->o.segments, "number of segments S")->capture_default_str();
  add_seed_option(gen_cmd, f->o.seed, "generator seed");
  gen_cmd->add_option("--capacity-ratio", f->o.capacity_ratio,
                      "capacity / baseline load, times a per-task factor (inf: no capacities)")
      ->capture_default_str();
  gen_cmd->add_option("--out", f->out, "bundle folder to write")->required();
  gen_cmd->add_option("--threads", f->threads, "CPU threads (0 = all cores)");
  gen_cmd->add_flag("--quiet", f->quiet, "print nothing");
  return {gen_cmd, [f] { return run_generate(f->o, f->out, f->threads, f->quiet); }};
}

}  // namespace attnswarm::cli
