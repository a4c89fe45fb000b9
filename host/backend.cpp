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
  if (o.eval_path != "auto" && o.eval_path != "fused" && o.eval_path != "tensor" && o.eval_path != "cublas")
    throw input_error("--eval-path: unknown path '" + o.eval_path + "' (expected auto, fused, tensor or cublas)");
  if (o.device < -1) throw input_error("--device: must be a CUDA device index >= 0");
  if (which == "cpu" && o.device >= 0) throw input_error("--device needs the CUDA backend (--backend cuda or auto)");
  if (which == "cpu" && o.eval_path != "auto")
    throw input_error("--eval-path " + o.eval_path + " needs the CUDA backend (--backend cuda or auto)");
  if (which == "cpu" && o.device_memory_bytes > 0)
    throw input_error("--device-memory needs the CUDA backend (--backend cuda or auto)");
}

#ifdef ATTNSWARM_WITH_CUDA
namespace {

// Options that only the CUDA backend can honour: under auto, the CPU does not stand in.
bool asks_for_cuda(const backend_options& o) { return o.tf32 || o.device >= 0 || o.eval_path != "auto"; }

// The device o.device asks for (the first when none is named). Throws unavailable_error when
// it is not there, listing what is.
int chosen_device(const device_inventory& inv, const backend_options& o) {
  if (o.device < 0) return inv.devices.front().index;
  for (const device_info& d : inv.devices)
    if (d.index == o.device) return d.index;
  std::string there;
  for (const device_info& d : inv.devices) there += (there.empty() ? "" : ", ") + std::to_string(d.index) + " " + d.name;
  throw unavailable_error("--device " + std::to_string(o.device) + ": no such CUDA device (this machine has " +
                          std::to_string(inv.devices.size()) + ": " + there + ")");
}

}  // namespace
#endif

std::unique_ptr<backend> make_backend(const std::string& which, const problem& p, const backend_options& o) {
  check_backend_choice(which, o);
  if (which == "cpu") return make_cpu_backend(p, o.threads);
  const device_inventory inv = probe_devices();
  if (which == "cuda" && inv.devices.empty()) throw unavailable_error("--backend cuda: " + inv.note);
  if (o.device >= 0 && inv.devices.empty()) throw unavailable_error("--device " + std::to_string(o.device) + ": " + inv.note);
  std::string why_not_cuda;  // auto with a device present that it does not use: why
#ifdef ATTNSWARM_WITH_CUDA
  if (!inv.devices.empty()) {
    const int device = chosen_device(inv, o);
    if (which == "cuda") return make_cuda_backend(p, device, o);
    // auto: a device counts as usable when the shared math runs on it and agrees with the
    // host (a build without code for its architecture fails here), and the CUDA backend
    // takes the problem (at most k_max_shared_tasks tasks, memory).
    const std::string unused = "CUDA device " + std::to_string(device) + " not used: ";
    const std::string selftest = run_device_selftest(device);
    if (!selftest.empty() && o.device >= 0)
      throw unavailable_error("--device " + std::to_string(o.device) + ": the device failed its self-test: " + selftest);
    if (selftest.empty()) {
      try {
        return make_cuda_backend(p, device, o);
      } catch (const unavailable_error& e) {
        if (asks_for_cuda(o)) throw;
        why_not_cuda = unused + e.what();
      }
    } else {
      why_not_cuda = unused + "it failed its self-test: " + selftest;
    }
  }
#endif
  if (o.tf32 || o.eval_path != "auto") {
    const std::string why = !why_not_cuda.empty() ? why_not_cuda : inv.note;
    throw input_error((o.tf32 ? std::string("--tf32") : "--eval-path " + o.eval_path) +
                      " needs the CUDA backend, and none is usable here" + (why.empty() ? std::string() : ": " + why));
  }
  return make_cpu_backend(p, o.threads, why_not_cuda);
}

}  // namespace attnswarm
