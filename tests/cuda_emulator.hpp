// Runs the CUDA kernels' own source on the CPU, for tests on machines without a GPU (CI, and
// most development sessions). One std::thread per CUDA thread of a block, the blocks of a grid
// one after another; __syncthreads() is a barrier of the block, and __shfl_xor_sync() trades
// values through a per-warp buffer between two barriers of the warp, so every lane of a warp
// must call it together, as the kernels do. A barrier that some thread never reaches (a
// __syncthreads or a shuffle under divergent control flow: undefined on a GPU) aborts the
// test after a few seconds with a message, rather than hanging it. Shared memory is the kernels' extern arrays,
// defined here and poisoned (NaN bytes) before every block so that a read of an unwritten
// element shows. It checks the kernels' indexing, synchronization and arithmetic, not their
// speed, and not what only a GPU decides (warp scheduling, real memory ordering).
//
// Include it, then a kernel header (kernels/row_kernels.cuh, kernels/fused_eval_kernel.cuh);
// the kernels land in attnswarm::emulated.
#pragma once

#include <array>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#define ATTN_KERNELS_NS emulated
#define __global__
#define __device__
#define __host__
#define __shared__
#define __launch_bounds__(...)

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

namespace attnswarm::emulated {

// Shared memory: the extern arrays the kernels declare (row kernels: doubles; fused: float4).
alignas(16) inline double smem[1 << 16];
alignas(16) inline float4 smem4[1 << 15];

namespace emulator {

// A barrier of `count` threads that aborts when a wait lasts past the deadline.
class barrier {
 public:
  explicit barrier(unsigned count) : count_(count) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const unsigned generation = generation_;
    if (++arrived_ == count_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    if (!cv_.wait_for(lock, std::chrono::seconds(20), [&] { return generation_ != generation; })) {
      std::fprintf(stderr, "cuda emulator: a barrier of %u threads waited 20 s with %u arrived: a __syncthreads or "
                   "__shfl_xor_sync that not every thread reached\n", count_, arrived_);
      std::abort();
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  unsigned count_, arrived_ = 0, generation_ = 0;
};

inline thread_local dim3 thread_idx, block_idx;
inline dim3 block_dim, grid_dim;

struct block_state {
  explicit block_state(unsigned threads) : block(threads), lanes(threads) {
    for (unsigned w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<barrier>(32));
  }
  barrier block;
  std::vector<std::unique_ptr<barrier>> warps;
  std::vector<std::array<unsigned char, 8>> lanes;
};
inline block_state* current = nullptr;

}  // namespace emulator

// kernel<<<grid, block, shared_bytes>>>(args...), run to the end.
template <typename Kernel, typename... Args>
void launch(dim3 grid, dim3 block, std::size_t shared_bytes, Kernel kernel, Args... args) {
  if (block.y != 1 || block.z != 1 || block.x % 32 != 0 || block.x == 0)
    throw std::invalid_argument("emulator: blocks must be whole warps along x");
  if (shared_bytes > sizeof(smem) || shared_bytes > sizeof(smem4))
    throw std::invalid_argument("emulator: more dynamic shared memory than it holds");
  emulator::grid_dim = grid;
  emulator::block_dim = block;
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::memset(smem, 0xff, sizeof(smem));
      std::memset(smem4, 0xff, sizeof(smem4));
      emulator::block_state state(block.x);
      emulator::current = &state;
      std::vector<std::thread> threads;
      threads.reserve(block.x);
      for (unsigned t = 0; t < block.x; ++t)
        threads.emplace_back([&, t] {
          emulator::thread_idx = dim3(t);
          emulator::block_idx = dim3(bx, by);
          kernel(args...);
        });
      for (auto& th : threads) th.join();
      emulator::current = nullptr;
    }
}

}  // namespace attnswarm::emulated

#define threadIdx ::attnswarm::emulated::emulator::thread_idx
#define blockIdx ::attnswarm::emulated::emulator::block_idx
#define blockDim ::attnswarm::emulated::emulator::block_dim
#define gridDim ::attnswarm::emulated::emulator::grid_dim

inline void __syncthreads() { attnswarm::emulated::emulator::current->block.arrive_and_wait(); }

template <typename T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  static_assert(sizeof(T) <= 8, "emulator: shuffles of at most 8 bytes");
  auto& state = *attnswarm::emulated::emulator::current;
  const unsigned t = threadIdx.x, warp = t / 32, lane = t % 32;
  std::memcpy(state.lanes[t].data(), &v, sizeof(T));
  state.warps[warp]->arrive_and_wait();  // every lane has written
  T out;
  std::memcpy(&out, state.lanes[warp * 32 + (lane ^ static_cast<unsigned>(lane_mask))].data(), sizeof(T));
  state.warps[warp]->arrive_and_wait();  // every lane has read before the next shuffle writes
  return out;
}
