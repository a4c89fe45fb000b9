// Runs the CUDA kernels' own source on the CPU, for tests on machines without a GPU (CI, and
// most development sessions). One std::thread per CUDA thread of a block, the blocks of a grid
// one after another; __syncthreads() is a barrier of the block, and __shfl_xor_sync() trades
// values through a per-warp buffer between two barriers of the warp, so every lane of a warp
// must call it together, as the kernels do. A barrier that some thread never reaches (a
// __syncthreads or a shuffle under divergent control flow: undefined on a GPU) stops all
// progress; a watchdog then aborts the test with a message rather than let it hang. Shared memory is the kernels' extern arrays,
// defined here and poisoned (NaN bytes) before every block so that a read of an unwritten
// element shows. It checks the kernels' indexing, synchronization and arithmetic, not their
// speed, and not what only a GPU decides (warp scheduling, real memory ordering).
//
// Include it, then a kernel header (kernels/row_kernels.cuh, kernels/fused_eval_kernel.cuh);
// the kernels land in attnswarm::emulated.
#pragma once

#include <array>
#include <atomic>
#include <barrier>
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

// Every completed phase of any barrier of the block counts as progress; the watchdog of
// launch() aborts when there has been none for a while.
struct progress_tick {
  std::atomic<std::uint64_t>* phases;
  void operator()() noexcept { phases->fetch_add(1, std::memory_order_relaxed); }
};
using barrier = std::barrier<progress_tick>;

inline thread_local dim3 thread_idx, block_idx;
inline dim3 block_dim, grid_dim;

struct block_state {
  explicit block_state(unsigned threads) : block(threads, progress_tick{&phases}), lanes(threads) {
    for (unsigned w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<barrier>(32, progress_tick{&phases}));
  }
  std::atomic<std::uint64_t> phases{0};
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
      // The watchdog: no barrier phase for 20 s while threads still run means a deadlock.
      std::mutex watch_mutex;
      std::condition_variable watch_cv;
      bool done = false;
      std::thread watchdog([&] {
        std::unique_lock<std::mutex> lock(watch_mutex);
        std::uint64_t seen = state.phases.load();
        auto since = std::chrono::steady_clock::now();
        while (!watch_cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return done; })) {
          const std::uint64_t now_phases = state.phases.load();
          if (now_phases != seen) {
            seen = now_phases;
            since = std::chrono::steady_clock::now();
          } else if (std::chrono::steady_clock::now() - since > std::chrono::seconds(20)) {
            std::fprintf(stderr, "cuda emulator: block (%u, %u) made no progress for 20 s: a __syncthreads or "
                         "__shfl_xor_sync that not every thread reached\n", bx, by);
            std::abort();
          }
        }
      });
      std::vector<std::thread> threads;
      threads.reserve(block.x);
      for (unsigned t = 0; t < block.x; ++t)
        threads.emplace_back([&, t] {
          emulator::thread_idx = dim3(t);
          emulator::block_idx = dim3(bx, by);
          kernel(args...);
        });
      for (auto& th : threads) th.join();
      {
        const std::lock_guard<std::mutex> lock(watch_mutex);
        done = true;
      }
      watch_cv.notify_one();
      watchdog.join();
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
