// CUDA backend driver (DESIGN §3). Owns the device, its streams and cuBLAS handle, the users'
// rows (host/cuda_row_stream.cuh: resident or streamed, per host/device_plan.hpp), the
// per-shape matrix H = [G0 | A o G0] and the workspaces of the batched evaluation.
// Batched evaluation, per user batch (one segment) and per group of up to `particles`
// policies: H of the batch (resident: once per shape), then either a fused kernel
// (kernels/fused_eval.cu: float32 FMAs, or tensor cores in 3xTF32) or two cuBLAS products
// (Den = G0 E^T for the whole batch, R = r / Den, then per chunk of k_chunk_rows users R^T H
// as one strided-batched SGEMM: the sequence is kernels/chunked_products.hpp, run here on
// cuBLAS), all writing float32 partials per chunk that one kernel adds in float64 and scales
// by E.
#include "cuda_backend.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../kernels/attn_math.hpp"
#include "../kernels/chunked_products.hpp"
#include "../kernels/cuda_check.cuh"
#include "../kernels/device_buffer.cuh"
#include "../kernels/eval_kernels.cuh"
#include "../kernels/fused_eval.cuh"
#include "cuda_row_stream.cuh"
#include "cuda_swarm_state.cuh"
#include "device_plan.hpp"
#include "errors.hpp"
#include "row_layout.hpp"
#include "trace.hpp"

namespace attnswarm {

namespace {

using detail::device_buffer;

// Selects the device before the streams and the cuBLAS handle are made on it.
struct device_select {
  explicit device_select(int device) { ATTN_CUDA_CHECK(cudaSetDevice(device)); }
};

// kernels/chunked_products.hpp's BLAS: cuBLAS on the backend's handle and stream.
struct cublas_products {
  cublasHandle_t handle;
  cudaStream_t stream;
  static cublasOperation_t op(blas_op o) { return o == blas_op::n ? CUBLAS_OP_N : CUBLAS_OP_T; }
  void gemm(blas_op op_a, blas_op op_b, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c,
            int ldc) {
    const float one = 1.0f, zero = 0.0f;
    ATTN_CUBLAS_CHECK(cublasSgemm(handle, op(op_a), op(op_b), m, n, k, &one, a, lda, b, ldb, &zero, c, ldc));
  }
  void gemm_strided_batched(blas_op op_a, blas_op op_b, int m, int n, int k, const float* a, int lda, long long stride_a,
                            const float* b, int ldb, long long stride_b, float* c, int ldc, long long stride_c,
                            int count) {
    const float one = 1.0f, zero = 0.0f;
    ATTN_CUBLAS_CHECK(cublasSgemmStridedBatched(handle, op(op_a), op(op_b), m, n, k, &one, a, lda, stride_a, b, ldb,
                                                stride_b, &zero, c, ldc, stride_c, count));
  }
  void inverse_density(float* den, const float* r, std::int64_t rows, int particles) {
    launch_inverse_density(den, r, rows, particles, stream);
  }
};

std::string mib(std::size_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

static_assert(device_plan_inputs{}.topk == k_max_topk, "the memory plan stages the report's largest top-k");

// The batched evaluation's kernels: fused on float32 FMAs, fused on tensor cores (3xTF32),
// or the two cuBLAS products.
enum class eval_kernel { fused, tensor, cublas };

eval_kernel choose_eval_kernel(const std::string& path, bool tf32, std::int64_t m) {
  if (path == "fused" || path == "tensor") {
    if (m > k_fused_max_tasks)
      throw input_error("--eval-path " + path + ": " + std::to_string(m) + " tasks; the fused kernels take at most " +
                        std::to_string(k_fused_max_tasks) + " (use --eval-path cublas or auto)");
    if (tf32) throw input_error("--eval-path " + path + ": --tf32 applies to the cuBLAS path only");
    return path == "fused" ? eval_kernel::fused : eval_kernel::tensor;
  }
  // check_backend_choice() allows no other path than auto and cublas here
  return path == "auto" && !tf32 && m <= k_fused_max_tasks ? eval_kernel::fused : eval_kernel::cublas;
}

const char* eval_kernel_name(eval_kernel k, bool tf32) {
  switch (k) {
    case eval_kernel::fused: return "fused evaluation (FP32)";
    case eval_kernel::tensor: return "fused evaluation on tensor cores (3xTF32)";
    case eval_kernel::cublas: return tf32 ? "cuBLAS evaluation (TF32)" : "cuBLAS evaluation (FP32)";
  }
  return "?";
}

class cuda_backend final : public backend {
 public:
  cuda_backend(const problem& p, int device, const backend_options& o)
      : p_(p),
        select_(device),
        eval_(choose_eval_kernel(o.eval_path, o.tf32, p.tasks)),
        poison_workspaces_(o.poison_workspaces) {
    if (p.tasks > k_max_shared_tasks)
      throw unavailable_error("the CUDA backend handles at most " + std::to_string(k_max_shared_tasks) +
                              " tasks, and this problem has " + std::to_string(p.tasks) + " (use --backend cpu)");
    if (o.particles < 1) throw input_error("CUDA backend: particles must be >= 1");
    ATTN_CUBLAS_CHECK(cublasSetStream(blas_.get(), stream_.get()));
    // Without --tf32, the default mode: FP32 kept in full (cuBLAS never goes below the
    // precision asked for there), the same setting as the PyTorch baseline's allow_tf32 =
    // False; the pedantic mode would give up faster kernels for no extra precision in SGEMM.
    ATTN_CUBLAS_CHECK(cublasSetMathMode(blas_.get(), o.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    cudaDeviceProp prop{};
    ATTN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    if (eval_ == eval_kernel::tensor && prop.major < 8)
      throw unavailable_error("--eval-path tensor: TF32 tensor cores need compute capability 8.0 or newer; " +
                              std::string(prop.name) + " has " + std::to_string(prop.major) + "." +
                              std::to_string(prop.minor));
    std::size_t free_b = 0, total_b = 0;
    ATTN_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));

    device_plan_inputs in;
    in.users = p.users;
    in.tasks = p.tasks;
    in.segments = p.segments;
    in.particles = o.particles;
    in.densities = eval_ == eval_kernel::cublas;
    in.budget_bytes = o.device_memory_bytes > 0 ? o.device_memory_bytes : static_cast<std::size_t>(0.9 * free_b);
    allocate_with_halving(in);

    description_ = std::string(prop.name) + ", " + mib(prop.totalGlobalMem) + ", sm " + std::to_string(prop.major) +
                   "." + std::to_string(prop.minor) + "; " +
                   (rows_->resident() ? "resident" : "streamed in batches of " + std::to_string(batch_rows_) + " users") +
                   ", " + mib(plan_bytes_) + " of a " + mib(in.budget_bytes) + " budget; " +
                   eval_kernel_name(eval_, o.tf32) +
                   " (CUDA backend: experimental, not yet validated on a GPU)";
  }

  std::string name() const override { return "cuda"; }
  std::string device_description() const override { return description_; }
  swarm_state* device_swarm() override { return &swarm_; }

  void set_shape(const shape& s) override {
    shape_ = s;
    if (rows_->resident()) {
      const trace_range range("shape rows");
      h_.poison(stream_.get());
      r_.poison(stream_.get());
      rows_->for_each([&](const detail::batch_view& b) {
        const std::size_t at = static_cast<std::size_t>(b.batch->begin);
        launch_shape_rows(b.d_f, b.d_a, b.d_mass, b.batch->rows, m(), 1.0 / s.tau, s.beta, mass_scale_, value_scale_,
                          h_.get() + at * 2 * m(), r_.get() + at, stream_.get());
      });
    }
  }

  void evaluate(const double* policies, int count, double* served) override {
    if (!shape_) throw std::logic_error("cuda backend: evaluate() before set_shape()");
    const trace_range range("evaluate");
    for (int first = 0; first < count; first += particles_) {
      const int group = std::min(particles_, count - first);
      evaluate_group(policies + static_cast<std::size_t>(first) * p_.dims(), group, served + first);
    }
  }

  policy_report report(const double* policy, const shape& s, int topk) override {
    const trace_range range("report");
    policy_report rep;
    rep.topk = topk > 0 ? static_cast<int>(std::min<std::int64_t>(topk, p_.tasks)) : 0;
    if (rep.topk > k_max_topk)
      throw input_error("--topk " + std::to_string(topk) + ": the CUDA backend writes at most " +
                        std::to_string(k_max_topk) + " tasks per user; use --backend cpu for more");
    std::vector<double> expw(static_cast<std::size_t>(p_.dims()));
    for (std::size_t k = 0; k < expw.size(); ++k) expw[k] = std::exp(policy[k]);
    expw_.upload(expw.data(), expw.size(), stream_.get());
    lv_.zero(stream_.get());
    idle_.zero(stream_.get());
    std::vector<std::int32_t> h_task(static_cast<std::size_t>(k_report_rows) * rep.topk);
    std::vector<float> h_share(h_task.size());
    if (rep.topk > 0) {
      rep.topk_task.assign(static_cast<std::size_t>(p_.users) * rep.topk, -1);
      rep.topk_share.assign(rep.topk_task.size(), 0.0f);
    }
    const int k = rep.topk;
    rows_->for_each([&](const detail::batch_view& b) {
      const double* ew = expw_.get() + static_cast<std::size_t>(b.batch->segment) * m();
      if (k == 0) {
        launch_report(b.d_f, b.d_a, b.d_mass, b.batch->rows, m(), 1.0 / s.tau, s.beta, ew, 0, nullptr, nullptr,
                      lv_.get(), idle_.get(), k_row_blocks, stream_.get());
        return;
      }
      for (std::int64_t off = 0; off < b.batch->rows; off += k_report_rows) {
        const std::int64_t rows = std::min<std::int64_t>(k_report_rows, b.batch->rows - off);
        const std::size_t at = static_cast<std::size_t>(off) * m();
        topk_task_.poison(stream_.get());
        topk_share_.poison(stream_.get());
        launch_report(b.d_f + at, b.d_a + at, b.d_mass + off, rows, m(), 1.0 / s.tau, s.beta, ew, k, topk_task_.get(),
                      topk_share_.get(), lv_.get(), idle_.get(), k_row_blocks, stream_.get());
        topk_task_.download(h_task.data(), static_cast<std::size_t>(rows) * k, stream_.get());
        topk_share_.download(h_share.data(), static_cast<std::size_t>(rows) * k, stream_.get());
        stream_.sync();
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::size_t user = static_cast<std::size_t>(layout_.order[b.batch->begin + off + r]);
          std::copy_n(h_task.begin() + r * k, k, rep.topk_task.begin() + user * k);
          std::copy_n(h_share.begin() + r * k, k, rep.topk_share.begin() + user * k);
        }
      }
    });
    const int mm = m();
    sums_.poison(stream_.get());
    idle_sum_.poison(stream_.get());
    launch_sum_partials(lv_.get(), k_row_blocks, 2 * mm, sums_.get(), stream_.get());
    launch_sum_partials(idle_.get(), k_row_blocks, 1, idle_sum_.get(), stream_.get());
    std::vector<double> lv(static_cast<std::size_t>(2 * mm));
    sums_.download(lv.data(), lv.size(), stream_.get());
    idle_sum_.download(&rep.idle_users, 1, stream_.get());
    stream_.sync();
    rep.load.assign(lv.begin(), lv.begin() + mm);
    rep.value.assign(lv.begin() + mm, lv.end());
    for (int j = 0; j < mm; ++j) rep.utilization += rep.value[j];
    rep.served = served_utilization(p_.capacity.data(), rep.load.data(), rep.value.data(), mm);
    return rep;
  }

  dual_sums dual_pass(const double* lambda, double gamma) override {
    const trace_range range("bound");
    const int mm = m();
    lambda_.upload(lambda, static_cast<std::size_t>(mm), stream_.get());
    partials_.zero(stream_.get());
    rows_->for_each([&](const detail::batch_view& b) {
      launch_dual_pass(b.d_f, b.d_a, b.d_mass, b.batch->rows, mm, lambda_.get(), gamma, partials_.get(), k_row_blocks,
                       stream_.get());
    });
    sums_.poison(stream_.get());
    launch_sum_partials(partials_.get(), k_row_blocks, 2 * mm + 2, sums_.get(), stream_.get());
    std::vector<double> part(static_cast<std::size_t>(2 * mm + 2));
    sums_.download(part.data(), part.size(), stream_.get());
    stream_.sync();
    dual_sums d;
    d.exact = part[0];
    d.smooth = part[1];
    d.soft_load.assign(part.begin() + 2, part.begin() + 2 + mm);
    d.soft_value.assign(part.begin() + 2 + mm, part.end());
    return d;
  }

 private:
  int m() const { return static_cast<int>(p_.tasks); }

  // The plan, then its allocations; a device out-of-memory (another process, or a budget
  // larger than what is free) falls back from resident to streamed and then halves the batch
  // down to k_min_batch_rows.
  void allocate_with_halving(device_plan_inputs in) {
    device_plan plan = plan_device_memory(in);
    for (;;) {
      try {
        allocate(in, plan);
        return;
      } catch (const detail::cuda_error& e) {
        if (!detail::is_out_of_memory(e)) throw;
        release();
        if (plan.resident) {
          plan.resident = false;
          plan.batch_rows = std::min<std::int64_t>(plan.batch_rows, std::max<std::int64_t>(p_.users, 1));
        } else if (plan.batch_rows / 2 >= std::min<std::int64_t>(k_min_batch_rows, std::max<std::int64_t>(p_.users, 1))) {
          plan.batch_rows /= 2;
        } else {
          throw unavailable_error("CUDA backend: the device ran out of memory even with batches of " +
                                  std::to_string(plan.batch_rows) + " users (" + e.what() +
                                  "); free the device, lower --particles, or use --backend cpu");
        }
        plan.bytes = plan_bytes(in, plan.resident, plan.batch_rows);
      }
    }
  }

  void allocate(const device_plan_inputs& in, const device_plan& plan) {
    const std::size_t m = static_cast<std::size_t>(p_.tasks), s = static_cast<std::size_t>(p_.segments);
    const std::size_t pc = static_cast<std::size_t>(in.particles), b = static_cast<std::size_t>(plan.batch_rows);
    particles_ = in.particles;
    batch_rows_ = plan.batch_rows;
    plan_bytes_ = plan.bytes;
    cublas_workspace_ = device_buffer<unsigned char>(k_cublas_workspace_bytes);
    ATTN_CUBLAS_CHECK(cublasSetWorkspace(blas_.get(), cublas_workspace_.get(), cublas_workspace_.size()));
    layout_ = make_row_layout(p_, plan.batch_rows);
    rows_ = std::make_unique<detail::cuda_row_stream>(p_, layout_, plan.resident, plan.batch_rows, stream_.get());
    const std::size_t h_rows = plan.resident ? static_cast<std::size_t>(p_.users) : b;
    h_ = device_buffer<float>(h_rows * 2 * m);
    r_ = device_buffer<float>(h_rows);
    e32_ = device_buffer<float>(s * pc * m);
    e64_ = device_buffer<double>(s * pc * m);
    policies_ = device_buffer<double>(s * pc * m);
    if (eval_ == eval_kernel::cublas) den_ = device_buffer<float>(b * pc);
    t_ = device_buffer<float>(static_cast<std::size_t>(chunks_of(plan.batch_rows)) * pc * 2 * m);
    acc_ = device_buffer<double>(pc * 2 * m);
    expw_ = device_buffer<double>(s * m);
    lv_ = device_buffer<double>(static_cast<std::size_t>(k_row_blocks) * 2 * m);
    idle_ = device_buffer<std::int64_t>(k_row_blocks);
    lambda_ = device_buffer<double>(m);
    partials_ = device_buffer<double>(static_cast<std::size_t>(k_row_blocks) * (2 * m + 2));
    sums_ = device_buffer<double>(2 * m + 2);  // the partials' sums: [L | V], or the dual pass's 2M + 2
    idle_sum_ = device_buffer<std::int64_t>(1);
    // the report's top-k staging, so that no report allocates (and so none runs out of memory)
    const std::size_t staged = static_cast<std::size_t>(std::min<std::int64_t>(k_report_rows, p_.users));
    const std::size_t most_k = static_cast<std::size_t>(std::min<std::int64_t>(k_max_topk, p_.tasks));
    topk_task_ = device_buffer<std::int32_t>(staged * most_k);
    topk_share_ = device_buffer<float>(topk_task_.size());
    stream_.sync();
  }

  void release() {
    stream_.sync();
    rows_.reset();
    for (auto* f : {&h_, &r_, &e32_, &den_, &t_, &topk_share_}) *f = device_buffer<float>();
    topk_task_ = device_buffer<std::int32_t>();
    for (auto* d : {&policies_, &e64_, &acc_, &expw_, &lv_, &lambda_, &partials_, &sums_}) *d = device_buffer<double>();
    idle_ = device_buffer<std::int64_t>();
    idle_sum_ = device_buffer<std::int64_t>();
    ATTN_CUBLAS_CHECK(cublasSetWorkspace(blas_.get(), nullptr, 0));
    cublas_workspace_ = device_buffer<unsigned char>();
  }

  void evaluate_group(const double* policies, int pc, double* served) {
    const int mm = m();
    policies_.upload(policies, static_cast<std::size_t>(pc) * p_.dims(), stream_.get());
    launch_policy_exp(policies_.get(), pc, p_.segments, mm, e64_.get(), e32_.get(), stream_.get());
    acc_.zero(stream_.get());
    const double inv_tau = 1.0 / shape_->tau, beta = shape_->beta;
    rows_->for_each([&](const detail::batch_view& b) {
      const std::int64_t rows = b.batch->rows;
      const float* h = h_.get();
      const float* r = r_.get();
      if (rows_->resident()) {
        h += static_cast<std::size_t>(b.batch->begin) * 2 * mm;
        r += b.batch->begin;
      } else {
        launch_shape_rows(b.d_f, b.d_a, b.d_mass, rows, mm, inv_tau, beta, mass_scale_, value_scale_, h_.get(),
                          r_.get(), stream_.get());
      }
      const std::size_t seg = static_cast<std::size_t>(b.batch->segment) * pc * mm;
      const float* e = e32_.get() + seg;
      if (poison_workspaces_) {
        t_.poison(stream_.get());
        den_.poison(stream_.get());
      }
      switch (eval_) {
        case eval_kernel::fused: launch_fused_eval(h, r, rows, e, pc, mm, t_.get(), stream_.get()); break;
        case eval_kernel::tensor: launch_tensor_eval(h, r, rows, e, pc, mm, t_.get(), stream_.get()); break;
        case eval_kernel::cublas: chunked_products(cublas_, h, r, rows, e, pc, mm, den_.get(), t_.get()); break;
      }
      launch_chunk_reduce_scale(t_.get(), static_cast<int>(chunks_of(rows)), e64_.get() + seg, pc, mm, acc_.get(),
                                stream_.get());
    });
    std::vector<double> acc(static_cast<std::size_t>(pc) * 2 * mm);
    acc_.download(acc.data(), acc.size(), stream_.get());
    stream_.sync();
    for (int q = 0; q < pc; ++q) {
      double* lv = acc.data() + static_cast<std::size_t>(q) * 2 * mm;
      served[q] = served_from_scaled_sums(p_.capacity.data(), lv, lv + mm, mm, mass_scale_, value_scale_);
    }
  }

  const problem& p_;
  device_select select_;
  eval_kernel eval_;
  bool poison_workspaces_;
  // r and A of the batched evaluation's float32 products are scaled by these (shape rows)
  double mass_scale_ = float32_scale(p_.largest_mass), value_scale_ = float32_scale(p_.largest_attraction);
  std::string description_;
  detail::cuda_stream stream_;
  detail::cublas_handle blas_;
  cublas_products cublas_{blas_.get(), stream_.get()};
  int particles_ = 0;
  std::int64_t batch_rows_ = 0;
  std::size_t plan_bytes_ = 0;
  row_layout layout_;
  std::unique_ptr<detail::cuda_row_stream> rows_;
  device_buffer<unsigned char> cublas_workspace_;
  device_buffer<float> h_, r_, e32_, den_, t_, topk_share_;
  device_buffer<std::int32_t> topk_task_;
  device_buffer<double> policies_, e64_, acc_, expw_, lv_, lambda_, partials_, sums_;
  device_buffer<std::int64_t> idle_, idle_sum_;
  std::optional<shape> shape_;
  detail::cuda_swarm_state swarm_{stream_.get()};
};

}  // namespace

std::unique_ptr<backend> make_cuda_backend(const problem& p, int device, const backend_options& o) {
  return std::make_unique<cuda_backend>(p, device, o);
}

}  // namespace attnswarm
