// The one interface both backends implement (DESIGN §3). Host-only types: the CUDA backend
// hides its device state behind it, so nothing here needs a CUDA header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "problem.hpp"
#include "swarm.hpp"

namespace attnswarm {

// The shape parameters of a policy (DESIGN §1): F^(1/tau) * A^beta.
struct shape {
  double tau = 1.0;
  double beta = 0.0;
};

// The exact numbers of one policy, accumulated in float64.
struct policy_report {
  double utilization = 0.0;  // C
  double served = 0.0;       // U
  std::int64_t idle_users = 0;
  std::vector<double> load;   // L_j
  std::vector<double> value;  // V_j
  int topk = 0;
  std::vector<std::int32_t> topk_task;  // N x topk, -1 where a user has fewer eligible tasks
  std::vector<float> topk_share;        // N x topk, B_ij
};

// Sums over users of the dual's per-user terms at one price vector (see dual_row in
// kernels/attn_math.hpp): sum_i r_i exact_i, sum_i r_i smooth_i, and per task the load and
// the utilization of the soft allocation x_ij = r_i p_ij (feasible for every user, so cut to
// the capacities it is a feasible allocation of the LP: the bound's certificate).
struct dual_sums {
  double exact = 0.0;
  double smooth = 0.0;
  std::vector<double> soft_load;   // M: sum_i r_i p_ij
  std::vector<double> soft_value;  // M: sum_i r_i p_ij A_ij
};

class backend {
 public:
  virtual ~backend() = default;
  virtual std::string name() const = 0;
  // One line about where it runs (CPU threads, or the device's name and memory).
  virtual std::string device_description() const = 0;
  // Prepares the batched evaluation for one shape; evaluate() uses it until the next call.
  virtual void set_shape(const shape& s) = 0;
  // Served utilization U of `count` policies, each S*M values (row-major S x M), stored
  // one after another. Float32 products with float64 sums (DESIGN §1, Numerics).
  virtual void evaluate(const double* policies, int count, double* served) = 0;
  // Exact float64 report of one policy; with topk > 0 also the per-user top-k allocation.
  virtual policy_report report(const double* policy, const shape& s, int topk) = 0;
  // One pass of the bound's optimizer over all users (float64 throughout).
  virtual dual_sums dual_pass(const double* lambda, double gamma) = 0;
  // The backend's own swarm state (the CUDA backend keeps it on the device), or nullptr for
  // the CPU reference state. run_swarm() restarts it for every run.
  virtual swarm_state* device_swarm() { return nullptr; }
};

struct backend_options {
  int threads = 0;    // CPU threads (0 = all cores)
  // CUDA: the device, by CUDA's index (after CUDA_VISIBLE_DEVICES); -1 = the first one.
  int device = -1;
  bool tf32 = false;  // CUDA: let the batched products use TF32 tensor cores
  // CUDA: the most policies one batched evaluation holds at once (more are evaluated in
  // groups of this many); sizes the device workspace.
  int particles = 256;
  // CUDA: device memory the driver may allocate; 0 = 90% of what is free.
  std::size_t device_memory_bytes = 0;
  // CUDA: the batched evaluation's path: "auto" (fused up to 128 tasks without --tf32, else
  // cuBLAS), "fused" (float32 FMAs), "tensor" (the fused kernel on tensor cores, 3xTF32) or
  // "cublas".
  std::string eval_path = "auto";
  // CUDA, for tests: fill the batched evaluation's device workspaces (densities, chunk
  // partials) with NaN before every batch, so that an element a kernel fails to write makes
  // the result NaN instead of silently reusing the previous batch's value.
  bool poison_workspaces = false;
};

// "cpu", "cuda" or "auto": auto takes the CUDA backend when CUDA is compiled in, a device is
// present, its shared-math self-test passes and the backend takes the problem, else the CPU
// reference, whose description then says why a device that is there was not used. Throws
// unavailable_error when "cuda" cannot be had, or when o.device names a device that is not
// there (auto included: a device asked for by number is never silently swapped for the CPU),
// with the reason; and input_error when --tf32 or an --eval-path other than auto is asked
// for and no CUDA backend can be had (those options mean nothing on the CPU).
std::unique_ptr<backend> make_backend(const std::string& which, const problem& p, const backend_options& o = {});
// The checks of make_backend() that need no problem (backend name, --tf32, --eval-path,
// --device, and the CUDA-only options with --backend cpu), so that a command line can be
// rejected before a problem is loaded. Throws input_error.
void check_backend_choice(const std::string& which, const backend_options& o);

}  // namespace attnswarm
