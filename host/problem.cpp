#include "problem.hpp"

#include <omp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <unordered_map>

#include "csv_reader.hpp"
#include "errors.hpp"

namespace attnswarm {

namespace fs = std::filesystem;

namespace {

void require_float(const npy_array& a) {
  if (a.type() != dtype::f32 && a.type() != dtype::f64)
    throw input_error(a.path() + ": dtype " + dtype_name(a.type()) +
                      " not accepted (expected float32 or float64)");
}

void require_shape(const npy_array& a, const std::vector<std::int64_t>& want) {
  if (a.shape() != want)
    throw input_error(a.path() + ": shape " + shape_text(a.shape()) + " does not match " +
                      shape_text(want) + " expected from fitness.npy");
}

std::string value_problem(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return "infinite value";
  if (v > std::numeric_limits<float>::max()) {
    char text[64];
    std::snprintf(text, sizeof text, "value %.6g past float32's range (3.4e+38)", v);
    return text;
  }
  return "negative value";
}

struct matrix_scan {
  std::int64_t first_bad = -1;  // lowest index of a NaN, infinite, negative or too large value
  double largest = 0.0;
};

// F and A are float32 to the model (DESIGN §1): a float64 value that float32 cannot hold is
// as bad as an infinite one.
template <typename T>
matrix_scan scan_matrix(const T* x, std::int64_t n) {
  std::int64_t first = std::numeric_limits<std::int64_t>::max();
  T largest = 0;
  constexpr std::int64_t block = 1 << 16;
  constexpr T limit = std::numeric_limits<float>::max();
#pragma omp parallel for schedule(dynamic, 1) reduction(min : first) reduction(max : largest)
  for (std::int64_t b = 0; b < n; b += block) {
    if (b >= first) continue;
    const std::int64_t e = std::min(n, b + block);
    for (std::int64_t k = b; k < e; ++k) {
      const T v = x[k];
      // !(v >= 0) catches NaN; v > limit catches +inf.
      if (!(v >= T(0)) || v > limit) {
        first = std::min(first, k);
        break;
      }
      largest = std::max(largest, v);
    }
  }
  matrix_scan scan;
  if (first != std::numeric_limits<std::int64_t>::max()) scan.first_bad = first;
  scan.largest = static_cast<float>(largest);
  return scan;
}

// The matrix's largest value; throws input_error at its first bad one.
double check_matrix(const npy_array& a, std::int64_t cols) {
  const matrix_scan scan = a.type() == dtype::f32 ? scan_matrix(static_cast<const float*>(a.data()), a.size())
                                                  : scan_matrix(static_cast<const double*>(a.data()), a.size());
  const std::int64_t k = scan.first_bad;
  if (k >= 0)
    throw input_error(a.path() + ": " + value_problem(a.get_f64(k)) + " at row " + std::to_string(k / cols) +
                      ", column " + std::to_string(k % cols));
  return scan.largest;
}

// The names in a bundle's id,name table by id: tasks.csv (task,name) or segments.csv
// (segment,label). A segment id past the problem's is skipped: import gives a label to every
// segment its --segments file names, also to one none of the events' users is in.
std::vector<std::string> read_names(const fs::path& file, std::int64_t count, const char* what, bool skip_past) {
  csv_reader in(file.string());
  std::vector<std::string> names(static_cast<std::size_t>(count));
  std::vector<std::int64_t> named_at(static_cast<std::size_t>(count), 0);  // line of each id's name
  std::unordered_map<std::string, std::int64_t> line_of_name;
  const std::string expected = std::string(" (expected ") + what + (skip_past ? ",label)" : ",name)");
  in.next();  // header
  while (in.next()) {
    const auto& f = in.fields();
    if (f.size() == 1 && f[0].empty()) continue;
    const std::string at = " at line " + std::to_string(in.line());
    if (f.size() < 2) throw input_error(file.string() + ": no name" + at + expected);
    std::int64_t id = -1;
    const auto r = std::from_chars(f[0].data(), f[0].data() + f[0].size(), id);
    const bool number = r.ec == std::errc() && r.ptr == f[0].data() + f[0].size() && id >= 0;
    if (number && id >= count && skip_past) continue;
    if (!number || id >= count)
      throw input_error(file.string() + ": " + what + " id '" + std::string(f[0]) + "'" + at + " is not in [0, " +
                        std::to_string(count) + ")");
    auto& seen = named_at[static_cast<std::size_t>(id)];
    if (seen > 0)
      throw input_error(file.string() + ": " + what + " " + std::to_string(id) + " named twice (lines " +
                        std::to_string(seen) + " and " + std::to_string(in.line()) + ")");
    seen = in.line();
    names[static_cast<std::size_t>(id)] = std::string(f[1]);
    // a warm start lines segments up by label, which must then say which segment it is
    if (skip_past && !line_of_name.emplace(names[static_cast<std::size_t>(id)], in.line()).second)
      throw input_error(file.string() + ": label '" + std::string(f[1]) + "' twice (lines " +
                        std::to_string(line_of_name[names[static_cast<std::size_t>(id)]]) + " and " +
                        std::to_string(in.line()) + ")");
  }
  if (skip_past && std::find(named_at.begin(), named_at.end(), 0) != named_at.end()) return {};  // positions, then
  return names;
}

}  // namespace

void validate_values(problem& p) {
  check_matrix(p.fitness, p.tasks);
  p.largest_attraction = check_matrix(p.attraction, p.tasks);
  std::int64_t idle = 0;
  const auto* f32 = static_cast<const float*>(p.fitness.data());
  const auto* f64 = static_cast<const double*>(p.fitness.data());
  const bool is32 = p.fitness.type() == dtype::f32;
  const std::int64_t m = p.tasks;
#pragma omp parallel for schedule(static) reduction(+ : idle)
  for (std::int64_t i = 0; i < p.users; ++i) {
    bool any = false;
    for (std::int64_t j = 0; j < m && !any; ++j)
      any = is32 ? f32[i * m + j] > 0.0f : static_cast<float>(f64[i * m + j]) > 0.0f;
    idle += any ? 0 : 1;
  }
  p.idle_users = idle;
}

problem load_problem(const std::string& dir_text) {
  const fs::path dir(dir_text);
  if (!fs::is_directory(dir)) throw input_error(dir_text + ": not a bundle folder (no such directory)");
  problem p;
  p.source = dir_text;
  const auto file = [&](const char* name) { return (dir / name).string(); };
  if (!fs::exists(dir / "fitness.npy")) throw input_error(file("fitness.npy") + ": missing (required)");
  if (!fs::exists(dir / "attraction.npy"))
    throw input_error(file("attraction.npy") + ": missing (required)");
  p.fitness = npy_array(file("fitness.npy"));
  require_float(p.fitness);
  if (p.fitness.shape().size() != 2)
    throw input_error(p.fitness.path() + ": shape " + shape_text(p.fitness.shape()) +
                      " is not 2-D (users x tasks)");
  p.users = p.fitness.shape()[0];
  p.tasks = p.fitness.shape()[1];
  if (p.tasks < 1) throw input_error(p.fitness.path() + ": no tasks (0 columns)");
  p.attraction = npy_array(file("attraction.npy"));
  require_float(p.attraction);
  require_shape(p.attraction, {p.users, p.tasks});

  p.mass.assign(static_cast<std::size_t>(p.users), 1.0);
  if (fs::exists(dir / "mass.npy")) {
    npy_array r(file("mass.npy"));
    require_float(r);
    require_shape(r, {p.users});
    for (std::int64_t i = 0; i < p.users; ++i) {
      const double v = r.get_f64(i);
      if (!(v >= 0.0) || v > std::numeric_limits<float>::max())
        throw input_error(r.path() + ": " + value_problem(v) + " at row " + std::to_string(i));
      p.mass[static_cast<std::size_t>(i)] = v;
    }
  }
  for (double r : p.mass) p.largest_mass = std::max(p.largest_mass, r);

  p.segment.assign(static_cast<std::size_t>(p.users), 0);
  if (fs::exists(dir / "segment.npy")) {
    npy_array s(file("segment.npy"));
    if (s.type() != dtype::i32 && s.type() != dtype::i64)
      throw input_error(s.path() + ": dtype " + dtype_name(s.type()) +
                        " not accepted (expected int32 or int64)");
    require_shape(s, {p.users});
    std::int64_t largest = 0;
    for (std::int64_t i = 0; i < p.users; ++i) {
      const std::int64_t v = s.get_i64(i);
      if (v < 0 || v > max_segment_id)
        throw input_error(s.path() + ": segment id " + std::to_string(v) + " out of range [0, " +
                          std::to_string(max_segment_id) + "] at row " + std::to_string(i));
      p.segment[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(v);
      largest = std::max(largest, v);
    }
    p.segments = static_cast<int>(largest + 1);
  }

  p.capacity.assign(static_cast<std::size_t>(p.tasks), std::numeric_limits<double>::infinity());
  if (fs::exists(dir / "capacity.npy")) {
    npy_array c(file("capacity.npy"));
    require_float(c);
    require_shape(c, {p.tasks});
    for (std::int64_t j = 0; j < p.tasks; ++j) {
      const double v = c.get_f64(j);
      if (std::isnan(v) || v <= 0.0 || v == -std::numeric_limits<double>::infinity())
        throw input_error(c.path() + ": capacity " + (std::isnan(v) ? std::string("NaN") : std::to_string(v)) +
                          " is not > 0 at row " + std::to_string(j));
      p.capacity[static_cast<std::size_t>(j)] = v;
    }
  }

  if (fs::exists(dir / "tasks.csv")) p.task_names = read_names(dir / "tasks.csv", p.tasks, "task", false);
  if (fs::exists(dir / "segments.csv"))
    p.segment_names = read_names(dir / "segments.csv", p.segments, "segment", true);
  validate_values(p);
  return p;
}

}  // namespace attnswarm
