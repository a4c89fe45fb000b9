// `attnswarm import`: behaviour logs (views, clicks, purchases, ratings) to a problem bundle.
// One streaming pass over the events file accumulates the distinct (user, task) pairs (memory
// grows with the pairs, not the file); rows are then written densely.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnswarm {

struct import_options {
  std::string events;
  std::string out;
  std::string user_col = "user", task_col = "task", value_col = "value", time_col = "time";
  std::string kind_col;      // empty: every event has weight 1
  std::string kind_weights;  // "view=1,click=3,purchase=10"
  double half_life_days = 0.0;  // > 0: recency weight 0.5^(age / half-life); 0: none
  double prior_strength = 1.0;  // interest units of the attraction prior
  std::string segments_file;    // CSV: user key, segment label
  std::string capacity_file;    // CSV: task key, capacity
  std::string task_map, map_from_col, map_to_col, map_split;
  bool strict = false;
  std::int64_t max_cells = 250'000'000;  // users x tasks of the dense output
};

struct bad_record_summary {
  std::string reason;
  std::int64_t count = 0;
  std::vector<std::int64_t> first_lines;  // up to 5
};

struct import_report {
  std::int64_t lines = 0;    // data records read (header excluded)
  std::int64_t events = 0;   // records used
  std::int64_t users = 0, tasks = 0, segments = 1;
  std::vector<bad_record_summary> bad;
  double newest_time = 0.0, oldest_time = 0.0;
  double elapsed_s = 0.0;
};

import_report import_events(const import_options& o);

}  // namespace attnswarm
