// The users' rows on the device, batch by batch (DESIGN §3). Resident: F, A and mass of
// every user stay on the device in segment order and a batch is a slice of them. Streamed:
// two slots of pinned host memory and device memory; while the compute stream works on batch
// k, the host packs batch k+1 (host/row_layout.cpp) and the copy stream uploads it, so the
// copy overlaps the work. Events order the two streams: a slot is refilled only after the
// work that read it has finished.
#pragma once

#include <array>
#include <cstdint>

#include "../kernels/device_buffer.cuh"
#include "row_layout.hpp"
#include "trace.hpp"

namespace attnswarm::detail {

struct batch_view {
  const row_batch* batch;
  const float* d_f;
  const float* d_a;
  const double* d_mass;
};

class cuda_row_stream {
 public:
  // resident: uploads every row now; else sets up two slots of batch_rows users.
  cuda_row_stream(const problem& p, const row_layout& layout, bool resident, std::int64_t batch_rows,
                  cudaStream_t compute)
      : p_(p), layout_(layout), resident_(resident), compute_(compute) {
    const std::size_t m = static_cast<std::size_t>(p.tasks);
    const std::size_t rows = resident ? static_cast<std::size_t>(p.users) : static_cast<std::size_t>(batch_rows);
    const std::size_t slots = resident ? 1 : 2;
    for (std::size_t k = 0; k < slots; ++k) {
      d_[k].f = device_buffer<float>(rows * m);
      d_[k].a = device_buffer<float>(rows * m);
      d_[k].mass = device_buffer<double>(rows);
    }
    const std::size_t staged = static_cast<std::size_t>(std::min<std::int64_t>(batch_rows, p.users));
    for (std::size_t k = 0; k < (resident ? 1 : 2); ++k) {
      h_[k].f = pinned_buffer<float>(staged * m);
      h_[k].a = pinned_buffer<float>(staged * m);
      h_[k].mass = pinned_buffer<double>(staged);
    }
    if (resident) upload_all();
  }

  bool resident() const { return resident_; }

  // fn(const batch_view&) for every batch in order, its work queued on the compute stream.
  template <typename Fn>
  void for_each(Fn&& fn) {
    const auto& batches = layout_.batches;
    if (resident_) {
      const std::size_t m = static_cast<std::size_t>(p_.tasks);
      for (const row_batch& b : batches) {
        const std::size_t at = static_cast<std::size_t>(b.begin);
        fn(batch_view{&b, d_[0].f.get() + at * m, d_[0].a.get() + at * m, d_[0].mass.get() + at});
      }
      return;
    }
    if (batches.empty()) return;
    stage(0);
    for (std::size_t k = 0; k < batches.size(); ++k) {
      const std::size_t slot = k % 2;
      copied_[slot].wait_on(compute_);
      fn(batch_view{&batches[k], d_[slot].f.get(), d_[slot].a.get(), d_[slot].mass.get()});
      consumed_[slot].record(compute_);
      if (k + 1 < batches.size()) stage(k + 1);
    }
  }

 private:
  struct device_slot {
    device_buffer<float> f, a;
    device_buffer<double> mass;
  };
  struct host_slot {
    pinned_buffer<float> f, a;
    pinned_buffer<double> mass;
  };

  // Packs batch k into its pinned slot and queues its upload on the copy stream.
  void stage(std::size_t k) {
    const trace_range range("upload");
    const row_batch& b = layout_.batches[k];
    const std::size_t slot = k % 2, m = static_cast<std::size_t>(p_.tasks), rows = static_cast<std::size_t>(b.rows);
    copied_[slot].sync();  // the slot's previous upload has left the pinned buffer
    pack_rows(p_, layout_, b.begin, b.rows, h_[slot].f.get(), h_[slot].a.get(), h_[slot].mass.get());
    consumed_[slot].wait_on(copy_.get());  // the work on the slot's previous batch is done
    ATTN_CUDA_CHECK(cudaMemcpyAsync(d_[slot].f.get(), h_[slot].f.get(), rows * m * sizeof(float), cudaMemcpyHostToDevice,
                                    copy_.get()));
    ATTN_CUDA_CHECK(cudaMemcpyAsync(d_[slot].a.get(), h_[slot].a.get(), rows * m * sizeof(float), cudaMemcpyHostToDevice,
                                    copy_.get()));
    ATTN_CUDA_CHECK(cudaMemcpyAsync(d_[slot].mass.get(), h_[slot].mass.get(), rows * sizeof(double),
                                    cudaMemcpyHostToDevice, copy_.get()));
    copied_[slot].record(copy_.get());
  }

  // Every batch through the one pinned slot into the resident arrays.
  void upload_all() {
    const trace_range range("upload");
    const std::size_t m = static_cast<std::size_t>(p_.tasks);
    for (const row_batch& b : layout_.batches) {
      for (std::int64_t off = 0; off < b.rows;) {
        const std::int64_t rows = std::min<std::int64_t>(static_cast<std::int64_t>(h_[0].mass.size()), b.rows - off);
        const std::size_t at = static_cast<std::size_t>(b.begin + off);
        pack_rows(p_, layout_, b.begin + off, rows, h_[0].f.get(), h_[0].a.get(), h_[0].mass.get());
        d_[0].f.upload(h_[0].f.get(), static_cast<std::size_t>(rows) * m, compute_, at * m);
        d_[0].a.upload(h_[0].a.get(), static_cast<std::size_t>(rows) * m, compute_, at * m);
        d_[0].mass.upload(h_[0].mass.get(), static_cast<std::size_t>(rows), compute_, at);
        ATTN_CUDA_CHECK(cudaStreamSynchronize(compute_));  // the pinned slot is reused
        off += rows;
      }
    }
  }

  const problem& p_;
  const row_layout& layout_;
  bool resident_;
  cudaStream_t compute_;
  cuda_stream copy_;
  std::array<device_slot, 2> d_;
  std::array<host_slot, 2> h_;
  std::array<cuda_event, 2> copied_, consumed_;
};

}  // namespace attnswarm::detail
