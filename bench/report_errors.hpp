// A benchmark's body run so that an error (no device, a bad bundle) is one line on stderr
// and exit code 2, as the CLI reports it, instead of std::terminate.
#pragma once

#include <exception>
#include <iostream>

namespace attnswarm::bench {

template <typename Body>
int report_errors(const char* program, Body&& body) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace attnswarm::bench
