#include "test_util.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

namespace attnswarm::testing {

namespace fs = std::filesystem;

temp_dir::temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = (fs::path(tmp && *tmp ? tmp : "/tmp") / "attnswarm-test-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

int instance::segments() const {
  int s = 0;
  for (auto v : segment) s = std::max(s, v + 1);
  return std::max(s, 1);
}

instance_options sized(std::int64_t users, std::int64_t tasks, int segments) {
  instance_options o;
  o.users = users;
  o.tasks = tasks;
  o.segments = segments;
  return o;
}

instance random_instance(std::mt19937_64& rng, const instance_options& o) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  instance in;
  in.users = o.users;
  in.tasks = o.tasks;
  const auto n = static_cast<std::size_t>(o.users), m = static_cast<std::size_t>(o.tasks);
  in.fitness.assign(n * m, 0.0);
  in.attraction.assign(n * m, 0.0);
  const auto value = [&](double v) { return o.float32_values ? static_cast<float>(v) : v; };
  for (std::size_t i = 0; i < n; ++i) {
    const bool zero_row = u(rng) < o.zero_rows;
    for (std::size_t j = 0; j < m; ++j) {
      if (!zero_row && u(rng) >= o.ineligible) in.fitness[i * m + j] = value(0.05 + 2.95 * u(rng));
      if (u(rng) >= o.zero_attraction) in.attraction[i * m + j] = value(u(rng) * o.attraction_scale);
    }
  }
  in.mass.resize(n);
  for (auto& r : in.mass) r = (0.2 + 1.6 * u(rng)) * o.mass_scale;
  if (o.segments > 1) {
    in.segment.resize(n);
    for (auto& s : in.segment) s = static_cast<std::int32_t>(u(rng) * o.segments);
    in.segment[0] = o.segments - 1;  // S = 1 + the largest id: make it exact
  }
  if (o.with_capacity) {
    in.capacity.resize(m);
    const double per_task = std::max(1.0, static_cast<double>(n) / static_cast<double>(m));
    for (auto& c : in.capacity)
      c = u(rng) < o.infinite_capacity ? std::numeric_limits<double>::infinity()
                                         : per_task * (0.2 + 0.8 * u(rng)) * o.mass_scale;
  }
  return in;
}

std::uint64_t fresh_seed() {
  if (const char* s = std::getenv("ATTNSWARM_TEST_SEED"); s && *s) return std::stoull(s);
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

std::string replay_note(std::uint64_t seed) {
  return "seed " + std::to_string(seed) + " (ATTNSWARM_TEST_SEED=" + std::to_string(seed) + " replays it)";
}

std::int64_t fresh_case_count(std::int64_t fallback) {
  const char* s = std::getenv("ATTNSWARM_TEST_CASES");
  return s && *s ? std::max<std::int64_t>(1, std::stoll(s)) : fallback;
}

std::string describe(const instance_options& o) {
  std::ostringstream os;
  os << o.users << " users x " << o.tasks << " tasks x " << o.segments << " segments, ineligible " << o.ineligible
     << ", idle rows " << o.zero_rows << ", infinite capacities " << o.infinite_capacity
     << (o.with_capacity ? "" : ", no capacity.npy") << ", attraction scale " << o.attraction_scale
     << ", mass scale " << o.mass_scale << (o.float32_values ? "" : ", values not float32");
  return os.str();
}

void write_bundle(const std::string& dir, const instance& in, dtype type) {
  fs::create_directories(dir);
  const std::vector<std::int64_t> nm{in.users, in.tasks};
  const auto write_matrix = [&](const std::string& name, const std::vector<double>& v) {
    if (type == dtype::f32) {
      std::vector<float> f(v.begin(), v.end());
      write_npy(dir + "/" + name, dtype::f32, nm, f.data());
    } else {
      write_npy(dir + "/" + name, dtype::f64, nm, v.data());
    }
  };
  write_matrix("fitness.npy", in.fitness);
  write_matrix("attraction.npy", in.attraction);
  if (!in.mass.empty()) write_npy(dir + "/mass.npy", dtype::f64, {in.users}, in.mass.data());
  if (!in.segment.empty()) write_npy(dir + "/segment.npy", dtype::i32, {in.users}, in.segment.data());
  if (!in.capacity.empty()) write_npy(dir + "/capacity.npy", dtype::f64, {in.tasks}, in.capacity.data());
}

problem load_instance(const temp_dir& tmp, const instance& in, dtype type) {
  write_bundle(tmp / "b", in, type);
  return load_problem(tmp / "b");
}

command_result run_cli(const std::string& args, const std::string& env) {
  return run_shell((env.empty() ? "" : env + " ") + ATTNSWARM_BIN + " " + args);
}

command_result run_shell(const std::string& command) {
  temp_dir tmp;
  const std::string out = tmp / "stdout", err = tmp / "stderr";
  const std::string cmd = "( " + command + " ) >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(cmd.c_str());
  command_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace attnswarm::testing
