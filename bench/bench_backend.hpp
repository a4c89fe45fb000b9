// The backend flags both benchmarks take: --backend (the CPU reference by default, the
// baseline of every figure) and --device.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "backend.hpp"

namespace attnswarm::bench {

struct backend_flags {
  std::string which = "cpu";
  int device = -1;  // -1: the first CUDA device

  void add_options(CLI::App& app) {
    app.add_option("--backend", which, "cpu or cuda")->capture_default_str();
    app.add_option("--device", device, "CUDA: the device, by CUDA's index (default: the first)");
  }
  // The backend these flags name, with the benchmark's other options o.
  std::unique_ptr<backend> make(const problem& p, backend_options o) const {
    o.device = device;
    return make_backend(which, p, o);
  }
};

}  // namespace attnswarm::bench
