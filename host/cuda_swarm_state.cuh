// The swarm's state on the device (DESIGN §2): positions, velocities and personal bests stay
// in device memory for the whole run. Per iteration the host sends the P objective values and
// gets back the P new positions (for the evaluation), the personal-best values and the index
// of the best of swarm: a few kilobytes next to one batched evaluation.
#pragma once

#include <cstdint>
#include <vector>

#include "../kernels/device_buffer.cuh"
#include "../kernels/swarm_kernels.cuh"
#include "swarm.hpp"

namespace attnswarm::detail {

class cuda_swarm_state final : public swarm_state {
 public:
  explicit cuda_swarm_state(cudaStream_t s) : stream_(s) {}

  void start(int particles, int dims, const double* x, const double* v, const double* f) override {
    const std::size_t n = static_cast<std::size_t>(particles) * dims;
    if (particles != np_ || dims != dims_) {
      np_ = particles;
      dims_ = dims;
      x_ = device_buffer<double>(n);
      v_ = device_buffer<double>(n);
      pbest_ = device_buffer<double>(n);
      f_ = device_buffer<double>(static_cast<std::size_t>(particles));
      pbest_f_ = device_buffer<double>(static_cast<std::size_t>(particles));
      best_value_ = device_buffer<double>(1);
      best_index_ = device_buffer<std::int64_t>(1);
      temp_bytes_ = best_of_swarm_temp_bytes(particles);
      temp_ = device_buffer<unsigned char>(temp_bytes_);
    }
    x_.upload(x, n, stream_);
    v_.upload(v, n, stream_);
    pbest_.copy_from(x_, n, stream_);
    pbest_f_.upload(f, static_cast<std::size_t>(particles), stream_);
    find_best();
  }

  void move(std::uint64_t seed, std::uint32_t t, const pso_coeffs& c, topology topo, double* x) override {
    launch_swarm_move(seed, t, c, np_, dims_, topo == topology::ring, pbest_f_.get(), best_index_.get(), pbest_.get(),
                      x_.get(), v_.get(), stream_);
    x_.download(x, x_.size(), stream_);
    ATTN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void record(const double* f) override {
    f_.upload(f, static_cast<std::size_t>(np_), stream_);
    launch_swarm_record(np_, dims_, f_.get(), x_.get(), pbest_.get(), pbest_f_.get(), stream_);
    find_best();
  }

  const std::vector<double>& personal_best_values() const override { return h_pbest_f_; }
  int best_particle() const override { return best_; }

  std::vector<double> best_position() override {
    std::vector<double> out(static_cast<std::size_t>(dims_));
    pbest_.download(out.data(), out.size(), stream_, static_cast<std::size_t>(best_) * dims_);
    ATTN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return out;
  }

 private:
  void find_best() {
    launch_best_of_swarm(temp_.get(), temp_bytes_, pbest_f_.get(), np_, best_value_.get(), best_index_.get(), stream_);
    h_pbest_f_.resize(static_cast<std::size_t>(np_));
    std::int64_t index = 0;
    pbest_f_.download(h_pbest_f_.data(), h_pbest_f_.size(), stream_);
    best_index_.download(&index, 1, stream_);
    ATTN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    // ArgMin reports an index outside the range only when no value is below the largest
    // double (all +inf); the host reference keeps particle 0 then, and so must the move kernel.
    if (index < 0 || index >= np_) {
      index = 0;
      best_index_.upload(&index, 1, stream_);
      ATTN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
    best_ = static_cast<int>(index);
  }

  cudaStream_t stream_;
  int np_ = 0, dims_ = 0, best_ = 0;
  std::size_t temp_bytes_ = 0;
  device_buffer<double> x_, v_, pbest_, f_, pbest_f_, best_value_;
  device_buffer<std::int64_t> best_index_;
  device_buffer<unsigned char> temp_;
  std::vector<double> h_pbest_f_;
};

}  // namespace attnswarm::detail
