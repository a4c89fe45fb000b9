#include "backend.hpp"

#include "cpu_backend.hpp"
#ifdef ATTNSWARM_WITH_CUDA
#include "cuda_backend.hpp"
#endif
#include "devices.hpp"
#include "errors.hpp"

namespace attnswarm {

void check_backend_choice(const std::string& which, const backend_options& o) {
  if (which != "auto" && which != "cpu" && which != "cuda")
    throw input_error("--backend: unknown backend '" + which + "' (expected auto, cpu or cuda)");
  if (which == "cpu" && o.tf32) throw input_error("--tf32 needs the CUDA backend (--backend cuda or auto)");
  if (o.eval_path != "auto" && o.eval_path != "fused" && o.eval_path != "cublas")
    throw input_error("--eval-path: unknown path '" + o.eval_path + "' (expected auto, fused or cublas)");
}

std::unique_ptr<backend> make_backend(const std::string& which, const problem& p, const backend_options& o) {
  check_backend_choice(which, o);
  if (which == "cpu") return make_cpu_backend(p, o.threads);
  const device_inventory inv = probe_devices();
  if (which == "cuda" && inv.devices.empty()) throw unavailable_error("--backend cuda: " + inv.note);
#ifdef ATTNSWARM_WITH_CUDA
  if (!inv.devices.empty()) {
    const int device = inv.devices.front().index;
    if (which == "cuda") return make_cuda_backend(p, device, o);
    // auto: a device counts as usable when the shared math runs on it and agrees with the
    // host (a build without code for its architecture fails here), and the CUDA backend
    // takes the problem (at most k_max_shared_tasks tasks, memory).
    if (run_device_selftest(device).empty()) {
      try {
        return make_cuda_backend(p, device, o);
      } catch (const unavailable_error&) {
        if (o.tf32) throw;
      }
    }
  }
#endif
  if (o.tf32) throw input_error("--tf32 needs the CUDA backend, and none is usable here" +
                                (inv.note.empty() ? std::string() : ": " + inv.note));
  return make_cpu_backend(p, o.threads);
}

}  // namespace attnswarm
