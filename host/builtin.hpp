// The built-in instance that `solve` and `eval` use without --problem: a generated bundle of
// about 200k users x 32 tasks x 4 segments with binding capacities.
#pragma once

#include <string>

#include "generator.hpp"
#include "problem.hpp"

namespace attnswarm {

generator_options builtin_instance_options();
std::string builtin_instance_description();

// Generates the instance into a private temporary folder, maps it and removes the folder
// (the mapping keeps the data alive), so nothing is left on disk.
problem load_builtin_instance();

// --problem DIR when given, else the built-in instance (announced on stderr unless quiet).
problem load_problem_or_builtin(const std::string& dir, bool quiet);

}  // namespace attnswarm
