// `attnswarm info`: version, CUDA, devices and their self-test.
#include <omp.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "devices.hpp"

#ifndef ATTNSWARM_VERSION
#define ATTNSWARM_VERSION "0.0.0"
#endif

namespace attnswarm::cli {

namespace {

int run_info_cmd(bool json) {
  const device_inventory inv = probe_devices();
  nlohmann::ordered_json j;
  j["version"] = ATTNSWARM_VERSION;
  j["cuda_compiled"] = inv.cuda_compiled;
  nlohmann::ordered_json devs = nlohmann::ordered_json::array();
  for (const auto& d : inv.devices) {
    nlohmann::ordered_json dj{{"index", d.index},
                              {"name", d.name},
                              {"memory_bytes", d.memory_bytes},
                              {"compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor)},
                              {"multiprocessors", d.multiprocessors},
                              {"fp32_peak_gflops", d.fp32_peak_gflops},
                              {"tf32_tensor_peak_gflops", d.tf32_tensor_peak_gflops}};
    const std::string err = run_device_selftest(d.index);
    dj["selftest"] = err.empty() ? "passed" : "FAILED: " + err;
    devs.push_back(dj);
  }
  j["devices"] = devs;
  if (!inv.note.empty()) j["note"] = inv.note;
  j["openmp_threads"] = omp_get_max_threads();
  if (json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "attnswarm " << ATTNSWARM_VERSION << "\n"
              << "CUDA compiled in: " << (inv.cuda_compiled ? "yes" : "no") << "\n"
              << "OpenMP threads:   " << omp_get_max_threads() << "\n";
    for (const auto& d : devs)
      std::cout << "device " << d["index"] << ": " << d["name"].get<std::string>() << ", "
                << d["memory_bytes"].get<std::size_t>() / (1u << 20) << " MiB, sm "
                << d["compute_capability"].get<std::string>() << ", self-test " << d["selftest"].get<std::string>()
                << "\n";
    if (!inv.note.empty()) std::cout << inv.note << "\n";
  }
  return 0;
}

}  // namespace

subcommand add_info(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* info_cmd = app.add_subcommand("info", "version, whether CUDA was compiled in, devices seen");
  info_cmd->add_flag("--json", *json, "print JSON on stdout");
  return {info_cmd, [json] { return run_info_cmd(*json); }};
}

}  // namespace attnswarm::cli
