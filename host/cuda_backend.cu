// CUDA backend driver: owns the device copies of F and A (float32), the per-shape matrix
// H = [G0 | A o G0] in segment order, and the workspaces of the batched evaluation.
// Batched evaluation: per segment and per batch of up to k_batch_rows users, two cuBLAS
// SGEMMs (Den = G0 E^T, then R^T H) around an elementwise kernel (R = r / Den), and an
// E-scaled float64 accumulation. The problem stays resident; one that does not fit is a
// clear error (streaming batches from pinned host memory is not implemented yet).
#include "cuda_backend.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "../kernels/attn_math.hpp"
#include "../kernels/cuda_check.cuh"
#include "../kernels/device_buffer.cuh"
#include "../kernels/eval_kernels.cuh"
#include "../kernels/swarm_kernels.cuh"
#include "errors.hpp"
#include "trace.hpp"

namespace attnswarm {

namespace {

using detail::device_buffer;

// Users per SGEMM batch: float32 sums over at most this many users, then float64.
constexpr std::int64_t k_batch_rows = 8192;
// Blocks of the row kernels (grid-stride); also the number of partials the host adds.
constexpr int k_row_blocks = 1024;

// The swarm step on the device. The engine keeps its state on the host, so each step copies
// x, v, the personal bests and the neighbour indices over and back (P x S x M doubles: small
// next to one batched evaluation).
class cuda_mover final : public swarm_mover {
 public:
  explicit cuda_mover(cudaStream_t s) : stream_(s) {}
  void move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, int particles, int dims, const int* neighbour,
            const double* pbest, double* x, double* v) override {
    const std::size_t n = static_cast<std::size_t>(particles) * dims;
    if (x_.size() != n) {
      x_ = device_buffer<double>(n);
      v_ = device_buffer<double>(n);
      pbest_ = device_buffer<double>(n);
      neighbour_ = device_buffer<int>(static_cast<std::size_t>(particles));
    }
    x_.upload(x, n, stream_);
    v_.upload(v, n, stream_);
    pbest_.upload(pbest, n, stream_);
    neighbour_.upload(neighbour, static_cast<std::size_t>(particles), stream_);
    launch_swarm_move(seed, t, c, particles, dims, neighbour_.get(), pbest_.get(), x_.get(), v_.get(), stream_);
    x_.download(x, n, stream_);
    v_.download(v, n, stream_);
    ATTN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

 private:
  cudaStream_t stream_;
  device_buffer<double> x_, v_, pbest_;
  device_buffer<int> neighbour_;
};

// Selects the device before the stream and the cuBLAS handle are made on it.
struct device_select {
  explicit device_select(int device) { ATTN_CUDA_CHECK(cudaSetDevice(device)); }
};

class cuda_backend final : public backend {
 public:
  cuda_backend(const problem& p, int device, bool tf32) : p_(p), select_(device) {
    ATTN_CUBLAS_CHECK(cublasSetMathMode(blas_.get(), tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
    cudaDeviceProp prop{};
    ATTN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    description_ = std::string(prop.name) + ", " + std::to_string(prop.totalGlobalMem >> 20) + " MiB, sm " +
                   std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                   (tf32 ? ", TF32 products" : ", FP32 products") +
                   " (CUDA backend: experimental, not yet validated on a GPU)";
    const std::int64_t n = p.users, m = p.tasks;
    if (m > k_max_shared_tasks)
      throw unavailable_error("--backend cuda: " + std::to_string(m) + " tasks; the CUDA backend handles at most " +
                              std::to_string(k_max_shared_tasks) + " for now");
    const double need = 16.0 * static_cast<double>(n) * m + 32.0 * n;  // F, A, H (float32 x 4 per cell) + per user
    std::size_t free_b = 0, total_b = 0;
    ATTN_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    if (need > 0.9 * static_cast<double>(free_b))
      throw unavailable_error("--backend cuda: the problem needs " + std::to_string(need / (1 << 30)) + " GiB on " +
                              prop.name + " and " + std::to_string(static_cast<double>(free_b) / (1 << 30)) +
                              " GiB are free; streamed batches are not implemented yet: use --backend cpu");
    upload_problem();
  }

  std::string name() const override { return "cuda"; }
  swarm_mover* mover() override { return &mover_; }
  std::string device_description() const override { return description_; }

  void set_shape(const shape& s) override {
    h_.poison(stream_.get());
    r_.poison(stream_.get());
    launch_shape_rows(f_.get(), a_.get(), order_.get(), mass_.get(), p_.users, static_cast<int>(p_.tasks), 1.0 / s.tau,
                      s.beta, h_.get(), r_.get(), stream_.get());
    shaped_ = true;
  }

  void evaluate(const double* policies, int count, double* served) override {
    if (count <= 0) return;
    if (!shaped_) throw std::logic_error("cuda backend: evaluate() before set_shape()");
    const int m = static_cast<int>(p_.tasks), pc = count;
    const std::int64_t d = p_.dims();
    std::vector<float> e32(static_cast<std::size_t>(p_.segments) * pc * m);
    std::vector<double> e64(e32.size());
    for (int s = 0; s < p_.segments; ++s)
      for (int q = 0; q < pc; ++q)
        for (int j = 0; j < m; ++j) {
          const double e = std::exp(policies[q * d + s * m + j]);
          const std::size_t at = (static_cast<std::size_t>(s) * pc + q) * m + j;
          e64[at] = e;
          e32[at] = static_cast<float>(e);
        }
    reserve_workspace(pc);
    e32_.upload(e32.data(), e32.size(), stream_.get());
    e64_.upload(e64.data(), e64.size(), stream_.get());
    acc_.zero(stream_.get());
    const float one = 1.0f, zero = 0.0f;
    for (int s = 0; s < p_.segments; ++s) {
      const float* e = e32_.get() + static_cast<std::size_t>(s) * pc * m;
      for (std::int64_t b = seg_begin_[s]; b < seg_begin_[s + 1]; b += k_batch_rows) {
        const int rows = static_cast<int>(std::min(k_batch_rows, seg_begin_[s + 1] - b));
        const float* h = h_.get() + b * 2 * m;
        // Den^T (P x rows, column-major) = E (P x M) * G0^T: G0 is the first half of H's rows.
        ATTN_CUBLAS_CHECK(cublasSgemm(blas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, pc, rows, m, &one, e, m, h, 2 * m, &zero,
                                      den_.get(), pc));
        launch_inverse_density(den_.get(), r_.get() + b, rows, pc, stream_.get());
        // T^T (2M x P, column-major) = H^T (2M x rows) * R (rows x P)
        ATTN_CUBLAS_CHECK(cublasSgemm(blas_.get(), CUBLAS_OP_N, CUBLAS_OP_T, 2 * m, pc, rows, &one, h, 2 * m,
                                      den_.get(), pc, &zero, t_.get(), 2 * m));
        launch_scale_accumulate(t_.get(), e64_.get() + static_cast<std::size_t>(s) * pc * m, pc, m, acc_.get(),
                                stream_.get());
      }
    }
    std::vector<double> acc(static_cast<std::size_t>(pc) * 2 * m);
    acc_.download(acc.data(), acc.size(), stream_.get());
    stream_.sync();
    for (int q = 0; q < pc; ++q) {
      double u = 0.0;
      for (int j = 0; j < m; ++j)
        u += capacity_factor(p_.capacity[j], acc[q * 2 * m + j]) * acc[q * 2 * m + m + j];
      served[q] = u;
    }
  }

  policy_report report(const double* policy, const shape& s, int topk) override {
    const std::int64_t n = p_.users;
    const int m = static_cast<int>(p_.tasks);
    policy_report rep;
    rep.topk = topk > 0 ? std::min(topk, m) : 0;
    if (rep.topk > k_max_topk)
      throw input_error("--topk " + std::to_string(topk) + ": the CUDA backend writes at most " +
                        std::to_string(k_max_topk) + " tasks per user; use --backend cpu for more");
    std::vector<double> expw(static_cast<std::size_t>(p_.dims()));
    for (std::size_t k = 0; k < expw.size(); ++k) expw[k] = std::exp(policy[k]);
    device_buffer<double> d_expw(expw.size()), d_lv(static_cast<std::size_t>(k_row_blocks) * 2 * m);
    device_buffer<std::int64_t> d_idle(k_row_blocks);
    device_buffer<std::int32_t> d_task(static_cast<std::size_t>(n) * rep.topk);
    device_buffer<float> d_share(static_cast<std::size_t>(n) * rep.topk);
    d_expw.upload(expw.data(), expw.size(), stream_.get());
    d_lv.poison(stream_.get());
    d_idle.poison(stream_.get());
    d_task.poison(stream_.get());
    d_share.poison(stream_.get());
    launch_report(f_.get(), a_.get(), mass_.get(), segment_.get(), n, m, 1.0 / s.tau, s.beta, d_expw.get(), rep.topk,
                  d_task.get(), d_share.get(), d_lv.get(), d_idle.get(), k_row_blocks, stream_.get());
    std::vector<double> lv(d_lv.size());
    std::vector<std::int64_t> idle(k_row_blocks);
    d_lv.download(lv.data(), lv.size(), stream_.get());
    d_idle.download(idle.data(), idle.size(), stream_.get());
    if (rep.topk > 0) {
      rep.topk_task.resize(d_task.size());
      rep.topk_share.resize(d_share.size());
      d_task.download(rep.topk_task.data(), d_task.size(), stream_.get());
      d_share.download(rep.topk_share.data(), d_share.size(), stream_.get());
    }
    stream_.sync();
    rep.load.assign(m, 0.0);
    rep.value.assign(m, 0.0);
    for (int b = 0; b < k_row_blocks; ++b) {
      for (int j = 0; j < m; ++j) {
        rep.load[j] += lv[static_cast<std::size_t>(b) * 2 * m + j];
        rep.value[j] += lv[static_cast<std::size_t>(b) * 2 * m + m + j];
      }
      rep.idle_users += idle[b];
    }
    for (int j = 0; j < m; ++j) {
      rep.utilization += rep.value[j];
      rep.served += capacity_factor(p_.capacity[j], rep.load[j]) * rep.value[j];
    }
    return rep;
  }

  dual_sums dual_pass(const double* lambda, double gamma) override {
    const int m = static_cast<int>(p_.tasks);
    lambda_.upload(lambda, static_cast<std::size_t>(m), stream_.get());
    partials_.poison(stream_.get());
    launch_dual_pass(f_.get(), a_.get(), mass_.get(), p_.users, m, lambda_.get(), gamma, partials_.get(), k_row_blocks,
                     stream_.get());
    std::vector<double> part(partials_.size());
    partials_.download(part.data(), part.size(), stream_.get());
    stream_.sync();
    dual_sums d;
    d.soft_load.assign(m, 0.0);
    for (int b = 0; b < k_row_blocks; ++b) {
      const double* pb = part.data() + static_cast<std::size_t>(b) * (m + 2);
      d.exact += pb[0];
      d.smooth += pb[1];
      for (int j = 0; j < m; ++j) d.soft_load[j] += pb[2 + j];
    }
    return d;
  }

 private:
  // F and A as float32 (converted row by row when the bundle holds float64), mass, segments,
  // and the users in segment order.
  void upload_problem() {
    const trace_range range("upload");
    const std::int64_t n = p_.users, m = p_.tasks;
    ATTN_CUBLAS_CHECK(cublasSetStream(blas_.get(), stream_.get()));
    f_ = device_buffer<float>(static_cast<std::size_t>(n * m));
    a_ = device_buffer<float>(static_cast<std::size_t>(n * m));
    upload_matrix(p_.fitness, f_);
    upload_matrix(p_.attraction, a_);
    mass_ = device_buffer<double>(static_cast<std::size_t>(n));
    mass_.upload(p_.mass.data(), p_.mass.size(), stream_.get());
    segment_ = device_buffer<std::int32_t>(static_cast<std::size_t>(n));
    segment_.upload(p_.segment.data(), p_.segment.size(), stream_.get());
    std::vector<std::int64_t> count(p_.segments + 1, 0);
    for (auto s : p_.segment) ++count[s + 1];
    std::partial_sum(count.begin(), count.end(), count.begin());
    seg_begin_ = count;
    std::vector<std::int64_t> order(static_cast<std::size_t>(n)), next(count.begin(), count.end() - 1);
    for (std::int64_t i = 0; i < n; ++i) order[next[p_.segment[i]]++] = i;
    order_ = device_buffer<std::int64_t>(static_cast<std::size_t>(n));
    order_.upload(order.data(), order.size(), stream_.get());
    h_ = device_buffer<float>(static_cast<std::size_t>(n * 2 * m));
    r_ = device_buffer<float>(static_cast<std::size_t>(n));
    lambda_ = device_buffer<double>(static_cast<std::size_t>(m));
    partials_ = device_buffer<double>(static_cast<std::size_t>(k_row_blocks) * (m + 2));
    stream_.sync();  // the host vectors of upload_matrix go out of scope
  }

  void upload_matrix(const npy_array& src, device_buffer<float>& dst) {
    if (src.type() == dtype::f32) {
      dst.upload(static_cast<const float*>(src.data()), static_cast<std::size_t>(src.size()), stream_.get());
      stream_.sync();
      return;
    }
    constexpr std::int64_t chunk = 1 << 22;
    std::vector<float> staging(static_cast<std::size_t>(std::min<std::int64_t>(chunk, src.size())));
    const double* d = static_cast<const double*>(src.data());
    for (std::int64_t b = 0; b < src.size(); b += chunk) {
      const std::int64_t len = std::min(chunk, src.size() - b);
      for (std::int64_t k = 0; k < len; ++k) staging[k] = static_cast<float>(d[b + k]);
      dst.upload(staging.data(), static_cast<std::size_t>(len), stream_.get(), static_cast<std::size_t>(b));
      stream_.sync();  // staging is reused
    }
  }

  void reserve_workspace(int particles) {
    const std::size_t m = static_cast<std::size_t>(p_.tasks), pc = static_cast<std::size_t>(particles);
    if (acc_.size() == pc * 2 * m) return;
    e32_ = device_buffer<float>(static_cast<std::size_t>(p_.segments) * pc * m);
    e64_ = device_buffer<double>(static_cast<std::size_t>(p_.segments) * pc * m);
    den_ = device_buffer<float>(static_cast<std::size_t>(k_batch_rows) * pc);
    t_ = device_buffer<float>(pc * 2 * m);
    acc_ = device_buffer<double>(pc * 2 * m);
  }

  const problem& p_;
  device_select select_;
  std::string description_;
  detail::cuda_stream stream_;
  detail::cublas_handle blas_;
  device_buffer<float> f_, a_, h_, r_, e32_, den_, t_;
  device_buffer<double> mass_, e64_, acc_, lambda_, partials_;
  device_buffer<std::int32_t> segment_;
  device_buffer<std::int64_t> order_;
  std::vector<std::int64_t> seg_begin_;
  bool shaped_ = false;
  cuda_mover mover_{stream_.get()};
};

}  // namespace

std::unique_ptr<backend> make_cuda_backend(const problem& p, int device, bool tf32) {
  return std::make_unique<cuda_backend>(p, device, tf32);
}

}  // namespace attnswarm
