#include "builtin.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "errors.hpp"
#include "trace.hpp"

namespace attnswarm {

generator_options builtin_instance_options() {
  generator_options o;
  o.users = 200000;
  o.tasks = 32;
  o.segments = 4;
  o.seed = 20261203;
  o.capacity_ratio = 1.0;
  return o;
}

std::string builtin_instance_description() {
  const generator_options o = builtin_instance_options();
  return "built-in instance: " + std::to_string(o.users) + " users x " + std::to_string(o.tasks) + " tasks x " +
         std::to_string(o.segments) + " segments, binding capacities (generator seed " + std::to_string(o.seed) + ")";
}

problem load_builtin_instance() {
  namespace fs = std::filesystem;
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = (fs::path(tmp && *tmp ? tmp : "/tmp") / "attnswarm-builtin-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw input_error(templ + ": cannot create a temporary folder");
  const std::string bundle = templ + "/bundle";
  try {
    generate_bundle(builtin_instance_options(), bundle);
    problem p = load_problem(bundle);
    p.source = builtin_instance_description();
    fs::remove_all(templ);
    return p;
  } catch (...) {
    std::error_code ec;
    fs::remove_all(templ, ec);
    throw;
  }
}

problem load_problem_or_builtin(const std::string& dir, bool quiet) {
  const trace_range range("load");
  if (!dir.empty()) return load_problem(dir);
  if (!quiet) std::fprintf(stderr, "attnswarm: no --problem given: using the %s\n", builtin_instance_description().c_str());
  return load_builtin_instance();
}

}  // namespace attnswarm
