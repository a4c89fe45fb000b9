// Error types that the CLI maps to exit codes: bad input (a file, a value, an option) is
// exit 2 with one line naming the file, the problem and the place.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace attnswarm {

// Bad input from the user: a file that cannot be read or fails validation, a bad option.
class input_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A backend that was asked for but is not available in this build or on this machine.
class unavailable_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `text` made fit to print as one line of a terminal or log: control characters (newlines
// included) and bytes that are not UTF-8 become \xNN. Messages quote what a file holds, and
// a corrupt file holds anything.
std::string one_line(std::string_view text);

}  // namespace attnswarm
