#include "backend.hpp"

#include "cpu_backend.hpp"
#include "devices.hpp"
#include "errors.hpp"

namespace attnswarm {

std::unique_ptr<backend> make_backend(const std::string& which, const problem& p, int threads) {
  if (which == "cpu") return make_cpu_backend(p, threads);
  if (which == "auto" || which == "cuda") {
    const device_inventory inv = probe_devices();
    if (which == "cuda") {
      if (!inv.cuda_compiled) throw unavailable_error("--backend cuda: " + inv.note);
      if (inv.devices.empty()) throw unavailable_error("--backend cuda: " + inv.note);
      throw unavailable_error(
          "--backend cuda: the CUDA evaluation backend is not part of this version yet "
          "(device " + inv.devices.front().name + " is visible); use --backend cpu");
    }
    return make_cpu_backend(p, threads);
  }
  throw input_error("--backend: unknown backend '" + which + "' (expected auto, cpu or cuda)");
}

}  // namespace attnswarm
