#include "backend.hpp"

#include "cpu_backend.hpp"
#ifdef ATTNSWARM_WITH_CUDA
#include "cuda_backend.hpp"
#endif
#include "devices.hpp"
#include "errors.hpp"

namespace attnswarm {

std::unique_ptr<backend> make_backend(const std::string& which, const problem& p, const backend_options& o) {
  if (o.tf32 && which != "cuda") throw input_error("--tf32 needs --backend cuda");
  if (which == "cpu") return make_cpu_backend(p, o.threads);
  if (which == "auto" || which == "cuda") {
    const device_inventory inv = probe_devices();
    if (which == "cuda") {
      if (!inv.cuda_compiled) throw unavailable_error("--backend cuda: " + inv.note);
      if (inv.devices.empty()) throw unavailable_error("--backend cuda: " + inv.note);
#ifdef ATTNSWARM_WITH_CUDA
      return make_cuda_backend(p, inv.devices.front().index, o.tf32);
#endif
    }
    // auto stays on the CPU reference until the CUDA backend has been validated on a GPU
    // (bench/gpu_check.sh); --backend cuda opts in.
    return make_cpu_backend(p, o.threads);
  }
  throw input_error("--backend: unknown backend '" + which + "' (expected auto, cpu or cuda)");
}

}  // namespace attnswarm
