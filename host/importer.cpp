#include "importer.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "csv_reader.hpp"
#include "errors.hpp"
#include "import_tables.hpp"
#include "npy.hpp"
#include "problem.hpp"
#include "staged_dir.hpp"

namespace attnswarm {

namespace {

using detail::key_index;
using detail::pair_accumulator;

std::vector<std::string> header_of(csv_reader& r) {
  if (!r.next()) throw input_error(r.path() + ": empty file (no header line)");
  std::vector<std::string> h;
  for (auto f : r.fields()) h.emplace_back(csv_trim(f));
  if (!h.empty() && h[0].rfind("\xEF\xBB\xBF", 0) == 0) h[0].erase(0, 3);  // UTF-8 BOM
  return h;
}

int require_column(const std::vector<std::string>& header, const std::string& name, const std::string& path,
                   const char* option) {
  const int c = csv_reader::column(header, name);
  if (c < 0) {
    std::string cols;
    for (const auto& h : header) cols += (cols.empty() ? "" : ", ") + h;
    throw input_error(path + ": no column '" + name + "' in the header line (columns: " + cols + "; set " + option + ")");
  }
  return c;
}

bool blank(const csv_reader& r) { return r.fields().size() == 1 && csv_trim(r.fields()[0]).empty(); }

// Counts bad records by reason, keeps the first line numbers, or stops at the first (--strict).
class bad_records {
 public:
  bad_records(std::string path, bool strict) : path_(std::move(path)), strict_(strict) {}
  void add(const std::string& reason, std::int64_t line) {
    if (strict_) throw input_error(path_ + ": " + reason + " at line " + std::to_string(line) + " (--strict)");
    auto& e = seen_[reason];
    ++e.first;
    if (e.second.size() < 5) e.second.push_back(line);
  }
  std::int64_t total() const {
    std::int64_t t = 0;
    for (const auto& [k, v] : seen_) t += v.first;
    return t;
  }
  const std::map<std::string, std::pair<std::int64_t, std::vector<std::int64_t>>>& seen() const { return seen_; }

 private:
  std::string path_;
  bool strict_;
  std::map<std::string, std::pair<std::int64_t, std::vector<std::int64_t>>> seen_;
};

struct event_columns {
  int user = -1, item = -1, value = -1, time = -1, kind = -1;
  std::size_t needed = 0;  // fields a record must have
};

// The weights of --kind-weights "view=1,click=3,purchase=10", by kind id.
// Bundles store F and A as float32, so a value or weight past its range could only become inf.
constexpr double k_largest_float32 = std::numeric_limits<float>::max();

struct kind_weights {
  key_index kinds;
  std::vector<double> weight;
};

kind_weights parse_kind_weights(const std::string& text) {
  kind_weights w;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    const auto eq = item.find('=');
    double v = 0.0;
    if (eq == std::string::npos || !parse_csv_number(std::string_view(item).substr(eq + 1), v) || !(v >= 0.0) ||
        !(v <= k_largest_float32))
      throw input_error("--kind-weights: '" + item + "' is not NAME=WEIGHT with a weight >= 0 (and in float32's range)");
    const int id = w.kinds.insert(csv_trim(std::string_view(item).substr(0, eq)));
    w.weight.resize(w.kinds.size());
    w.weight[static_cast<std::size_t>(id)] = v;
  }
  if (w.weight.empty()) throw input_error("--kind-weights: no NAME=WEIGHT pairs");
  return w;
}

// item -> label indices, each item sending an equal share of its weight to each label.
struct task_map {
  key_index items;                      // item key -> row of `labels_of`
  std::vector<std::vector<int>> labels_of;
  key_index labels;
};

task_map read_task_map(const import_options& o) {
  csv_reader r(o.task_map);
  const auto header = header_of(r);
  const int from = require_column(header, o.map_from_col, o.task_map, "--map-from-col");
  const int to = require_column(header, o.map_to_col, o.task_map, "--map-to-col");
  task_map m;
  while (r.next()) {
    if (blank(r)) continue;
    const auto& f = r.fields();
    if (static_cast<int>(f.size()) <= std::max(from, to))
      throw input_error(o.task_map + ": missing field at line " + std::to_string(r.line()));
    std::vector<int> labels;
    std::string_view rest = f[to];
    for (;;) {
      const std::size_t cut = o.map_split.empty() ? std::string_view::npos : rest.find(o.map_split);
      const std::string_view label = csv_trim(rest.substr(0, cut));
      if (!label.empty()) {
        const int id = m.labels.insert(label);
        if (std::find(labels.begin(), labels.end(), id) == labels.end()) labels.push_back(id);
      }
      if (cut == std::string_view::npos) break;
      rest.remove_prefix(cut + o.map_split.size());
    }
    if (labels.empty()) throw input_error(o.task_map + ": empty '" + o.map_to_col + "' at line " + std::to_string(r.line()));
    const auto row = static_cast<std::size_t>(m.items.insert(csv_trim(f[from])));
    m.labels_of.resize(m.items.size());
    m.labels_of[row] = std::move(labels);
  }
  return m;
}

// Hands the contributions to the pair table on a second thread, in file order, so the sums
// are exactly those of one thread: the reading thread parses and looks up keys while this
// one updates the table, whose random accesses miss the caches.
class pair_feeder {
 public:
  explicit pair_feeder(pair_accumulator& pairs) : pairs_(pairs), worker_([this] { run(); }) {}
  ~pair_feeder() {
    try {
      finish();
    } catch (...) {  // the reading thread is already failing; its error is the one to report
    }
  }
  pair_feeder(const pair_feeder&) = delete;
  pair_feeder& operator=(const pair_feeder&) = delete;

  void add(std::uint64_t user, std::uint32_t task, double w, double value, double time) {
    current_.push_back(contribution{user, task, w, value, time});
    if (current_.size() == k_chunk) flush();
  }

  // Waits until every contribution is in the table; rethrows the worker's error, if any.
  void finish() {
    if (worker_.joinable()) {
      flush();
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        done_ = true;
      }
      ready_.notify_all();
      worker_.join();
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  struct contribution {
    std::uint64_t user;
    std::uint32_t task;
    double w, value, time;
  };
  static constexpr std::size_t k_chunk = 4096, k_depth = 8;

  void flush() {
    if (current_.empty()) return;
    std::unique_lock<std::mutex> lock(mutex_);
    space_.wait(lock, [this] { return queue_.size() < k_depth; });
    queue_.push_back(std::move(current_));
    lock.unlock();
    ready_.notify_one();
    current_ = {};
    current_.reserve(k_chunk);
  }

  void run() {
    for (;;) {
      std::vector<contribution> chunk;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return !queue_.empty() || done_; });
        if (queue_.empty()) return;
        chunk = std::move(queue_.front());
        queue_.pop_front();
      }
      space_.notify_one();
      if (error_) continue;  // keep draining so that the reader never blocks
      try {
        for (const contribution& c : chunk) pairs_.add(c.user, c.task, c.w, c.value, c.time);
      } catch (...) {
        error_ = std::current_exception();
      }
    }
  }

  pair_accumulator& pairs_;
  std::vector<contribution> current_;
  std::deque<std::vector<contribution>> queue_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  bool done_ = false;
  std::exception_ptr error_;
  std::thread worker_;  // last: it starts after everything it uses exists
};

void check_dense_size(const import_options& o, std::size_t users, std::size_t tasks) {
  const auto n = static_cast<std::int64_t>(users), m = static_cast<std::int64_t>(tasks);
  if (m > 0 && n > o.max_cells / m)
    throw input_error(o.events + ": " + std::to_string(n) + " users x " + std::to_string(m) + " tasks = " +
                      std::to_string(n * m) + " cells is more than the dense bundle limit of " +
                      std::to_string(o.max_cells) +
                      " (--max-cells); map items to fewer tasks with --task-map (sparse bundles are not supported yet)");
}

}  // namespace

import_report import_events(const import_options& o) {
  const auto start = std::chrono::steady_clock::now();
  if (o.events.empty()) throw input_error("import: --events FILE is required");
  if (o.half_life_days < 0.0 || !std::isfinite(o.half_life_days)) throw input_error("--half-life: must be >= 0 days");
  if (!(o.prior_strength > 0.0) || !std::isfinite(o.prior_strength)) throw input_error("--prior-strength: must be > 0");
  if (!o.task_map.empty() && (o.map_from_col.empty() || o.map_to_col.empty()))
    throw input_error("--task-map needs --map-from-col and --map-to-col");
  if (o.kind_col.empty() != o.kind_weights.empty())
    throw input_error("--kind-col and --kind-weights go together");
  if (o.half_life_days > 0.0 && o.time_col.empty()) throw input_error("--half-life needs a --time-col");
  // made now: a target that cannot be written, or holds a file attnswarm did not write, fails
  // before the log is read, not after
  staged_dir out(o.out, k_bundle_outputs);

  const kind_weights kinds = o.kind_col.empty() ? kind_weights{} : parse_kind_weights(o.kind_weights);
  task_map map;
  const bool mapped = !o.task_map.empty();
  if (mapped) map = read_task_map(o);

  bad_records bad(o.events, o.strict);
  key_index users, tasks;
  std::vector<int> label_task;  // map label -> task id, -1 until used
  if (mapped) label_task.assign(map.labels.size(), -1);

  event_columns cols;
  struct parsed {
    std::string_view user, item;
    double value = 1.0, time = 0.0, weight = 1.0;
    const std::vector<int>* labels = nullptr;
  };
  // Validates one record; false (after counting it) when it is skipped.
  const auto parse = [&](const csv_reader& r, parsed& e) {
    const auto& f = r.fields();
    const auto reject = [&](const char* reason) {
      bad.add(reason, r.line());
      return false;
    };
    if (f.size() < cols.needed) return reject("missing field");
    e.user = csv_trim(f[cols.user]);
    e.item = csv_trim(f[cols.item]);
    if (e.user.empty() || e.item.empty()) return reject("missing field");
    if (cols.value >= 0) {
      if (!parse_csv_number(f[cols.value], e.value)) return reject("unparsable value");
      if (!(e.value >= 0.0) || !std::isfinite(e.value)) return reject("negative, infinite or NaN value");
      if (e.value > k_largest_float32) return reject("value past float32's range");
    }
    if (cols.time >= 0 && !parse_csv_time(f[cols.time], e.time)) return reject("unparsable time");
    if (cols.kind >= 0) {
      const int kind = kinds.kinds.find(csv_trim(f[cols.kind]));
      if (kind < 0) return reject("unknown kind");
      e.weight = kinds.weight[static_cast<std::size_t>(kind)];
    }
    if (mapped) {
      const int row = map.items.find(e.item);
      if (row < 0) return reject("unknown task-map key");
      e.labels = &map.labels_of[static_cast<std::size_t>(row)];
    }
    return true;
  };
  const auto open_events = [&](csv_reader& r) {
    const auto header = header_of(r);
    cols.user = require_column(header, o.user_col, o.events, "--user-col");
    cols.item = require_column(header, o.task_col, o.events, "--task-col");
    cols.value = o.value_col.empty() ? -1 : require_column(header, o.value_col, o.events, "--value-col");
    cols.time = o.time_col.empty() ? -1 : require_column(header, o.time_col, o.events, "--time-col");
    cols.kind = o.kind_col.empty() ? -1 : require_column(header, o.kind_col, o.events, "--kind-col");
    cols.needed = static_cast<std::size_t>(std::max({cols.user, cols.item, cols.value, cols.time, cols.kind}) + 1);
  };

  import_report rep;
  // One pass: validate, assign dense ids, accumulate the distinct (user, task) pairs (on a
  // second thread, fed in file order).
  const double half_life_s = o.half_life_days * 86400.0;
  double newest = -std::numeric_limits<double>::infinity(), oldest = std::numeric_limits<double>::infinity();
  pair_accumulator pairs(half_life_s);
  {
    pair_feeder feeder(pairs);
    csv_reader r(o.events);
    open_events(r);
    parsed e;
    while (r.next()) {
      if (blank(r)) continue;
      ++rep.lines;
      if (!parse(r, e)) continue;
      ++rep.events;
      const std::uint64_t u = static_cast<std::uint64_t>(users.insert(e.user));
      newest = std::max(newest, e.time);
      oldest = std::min(oldest, e.time);
      if (mapped) {
        const double share = 1.0 / static_cast<double>(e.labels->size());
        for (int l : *e.labels) {
          if (label_task[l] < 0) label_task[l] = tasks.insert(map.labels.key(static_cast<std::size_t>(l)));
          feeder.add(u, static_cast<std::uint32_t>(label_task[l]), e.weight * share, e.value, e.time);
        }
      } else {
        feeder.add(u, static_cast<std::uint32_t>(tasks.insert(e.item)), e.weight, e.value, e.time);
      }
      if ((rep.events & 0xffff) == 0) check_dense_size(o, users.size(), tasks.size());
    }
    feeder.finish();
  }
  const std::int64_t n = static_cast<std::int64_t>(users.size()), m = static_cast<std::int64_t>(tasks.size());
  if (n == 0 || m == 0)
    throw input_error(o.events + ": no valid events (" + std::to_string(rep.lines) + " records, " +
                      std::to_string(bad.total()) + " bad)");
  check_dense_size(o, users.size(), tasks.size());
  // Interest and value of each pair, decayed to the newest event.
  struct cell {
    std::uint64_t key;  // user * M + task: sorts by user, then task
    double f, v;
  };
  std::vector<cell> cells;
  cells.reserve(pairs.size());
  pairs.for_each([&](std::uint64_t user, std::uint32_t task, double f, double v) {
    cells.push_back(cell{user * static_cast<std::uint64_t>(m) + task, f, v});
  }, newest);
  std::sort(cells.begin(), cells.end(), [](const cell& a, const cell& b) { return a.key < b.key; });

  // Per-user activity (mass) and per-task rates (the attraction prior).
  std::vector<double> activity(n, 0.0), task_f(m, 0.0), task_v(m, 0.0);
  for (const cell& c : cells) {
    activity[c.key / m] += c.f;
    task_f[c.key % m] += c.f;
    task_v[c.key % m] += c.v;
  }
  double all_f = 0.0, all_v = 0.0, mean_activity = 0.0;
  for (std::int64_t t = 0; t < m; ++t) {
    all_f += task_f[t];
    all_v += task_v[t];
  }
  for (double a : activity) mean_activity += a / static_cast<double>(n);
  const double global_rate = all_f > 0.0 ? all_v / all_f : 0.0;
  std::vector<double> prior(m);
  for (std::int64_t t = 0; t < m; ++t) prior[t] = task_f[t] > 0.0 ? task_v[t] / task_f[t] : global_rate;

  out.require_space(static_cast<double>(n) * (2.0 * 4.0 * static_cast<double>(m) + 8.0));
  {
    npy_writer fitness(out.path("fitness.npy"), dtype::f32, {n, m});
    npy_writer attraction(out.path("attraction.npy"), dtype::f32, {n, m});
    std::vector<float> frow(m), arow(m);
    std::size_t k = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      std::fill(frow.begin(), frow.end(), 0.0f);
      for (std::int64_t t = 0; t < m; ++t) arow[t] = static_cast<float>(prior[t]);
      for (; k < cells.size() && cells[k].key / m == static_cast<std::uint64_t>(i); ++k) {
        const cell& c = cells[k];
        const std::int64_t t = static_cast<std::int64_t>(c.key % m);
        frow[t] = static_cast<float>(c.f);
        // Shrinkage toward the task's rate: (V + a * rate_t) / (F + a), never 0/0.
        arow[t] = static_cast<float>((c.v + o.prior_strength * prior[t]) / (c.f + o.prior_strength));
      }
      for (std::int64_t t = 0; t < m; ++t)
        if (!std::isfinite(frow[t]) || !std::isfinite(arow[t]))
          throw input_error(o.events + ": the " + (std::isfinite(frow[t]) ? "attraction" : "interest") + " of user '" +
                            users.key(static_cast<std::size_t>(i)) + "' in task '" + tasks.key(static_cast<std::size_t>(t)) +
                            "' is past float32's range (scale the values or --kind-weights down)");
      fitness.write(frow.data(), m);
      attraction.write(arow.data(), m);
    }
    fitness.finish();
    attraction.finish();
  }
  std::vector<double> mass(n);
  for (std::int64_t i = 0; i < n; ++i) mass[i] = mean_activity > 0.0 ? activity[i] / mean_activity : 1.0;
  write_npy(out.path("mass.npy"), dtype::f64, {n}, mass.data());

  const auto write_keys = [&](const std::string& name, const char* header, const std::vector<std::string>& k) {
    std::string text = std::string(header) + "\n";
    for (std::size_t i = 0; i < k.size(); ++i) text += std::to_string(i) + "," + csv_quote(k[i]) + "\n";
    write_text_file(out.path(name), text);
  };
  write_keys("users.csv", "user,key", users.keys());
  write_keys("tasks.csv", "task,name", tasks.keys());

  if (!o.segments_file.empty()) {
    csv_reader r(o.segments_file);
    header_of(r);
    key_index labels;
    std::vector<int> seg(n, -1);
    while (r.next()) {
      if (blank(r)) continue;
      const auto& f = r.fields();
      if (f.size() < 2) throw input_error(o.segments_file + ": missing field at line " + std::to_string(r.line()));
      const int u = users.find(csv_trim(f[0]));
      const int s = labels.insert(csv_trim(f[1]));
      if (u >= 0) seg[u] = s;
    }
    int none = -1;
    for (auto& s : seg)
      if (s < 0) s = none >= 0 ? none : (none = labels.insert("(none)"));
    write_npy(out.path("segment.npy"), dtype::i32, {n}, seg.data());
    write_keys("segments.csv", "segment,label", labels.keys());
    rep.segments = static_cast<std::int64_t>(labels.size());
  }
  if (!o.capacity_file.empty()) {
    csv_reader r(o.capacity_file);
    header_of(r);
    std::vector<double> cap(m, std::numeric_limits<double>::infinity());
    while (r.next()) {
      if (blank(r)) continue;
      const auto& f = r.fields();
      double c = 0.0;
      const std::string_view text = f.size() >= 2 ? csv_trim(f[1]) : std::string_view();
      const bool unbounded = text == "inf" || text == "Inf" || text == "infinity";
      if (f.size() < 2 || (!unbounded && (!parse_csv_number(text, c) || !(c > 0.0) || !std::isfinite(c))))
        throw input_error(o.capacity_file + ": capacity must be a number > 0 or inf at line " + std::to_string(r.line()));
      const int t = tasks.find(csv_trim(f[0]));
      if (t >= 0) cap[t] = unbounded ? std::numeric_limits<double>::infinity() : c;
    }
    write_npy(out.path("capacity.npy"), dtype::f64, {m}, cap.data());
  }

  rep.users = n;
  rep.tasks = m;
  rep.newest_time = newest;
  rep.oldest_time = oldest;
  for (const auto& [reason, v] : bad.seen()) rep.bad.push_back(bad_record_summary{reason, v.first, v.second});
  rep.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  nlohmann::ordered_json j;
  j["events_file"] = o.events;
  j["records"] = rep.lines;
  j["events_used"] = rep.events;
  j["users"] = n;
  j["tasks"] = m;
  j["segments"] = rep.segments;
  j["half_life_days"] = o.half_life_days;
  j["prior_strength"] = o.prior_strength;
  j["attraction_estimator"] = "(value + prior_strength * task_rate) / (interest + prior_strength)";
  nlohmann::ordered_json b = nlohmann::ordered_json::object();
  for (const auto& [reason, v] : bad.seen()) b[reason] = {{"count", v.first}, {"first_lines", v.second}};
  j["bad_records"] = b;
  write_text_file(out.path("import.json"), j.dump(2) + "\n");
  out.commit();
  return rep;
}

}  // namespace attnswarm
