// Runs the CUDA kernels' own source on the CPU, for tests on machines without a GPU (CI, and
// most development sessions). One std::thread per CUDA thread of a block, the blocks of a grid
// one after another; __syncthreads() is a barrier of the block, and __shfl_xor_sync() trades
// values through a per-warp buffer between two barriers of the warp, so every lane of a warp
// must call it together, as the kernels do. A barrier that some thread never reaches (a
// __syncthreads or a shuffle under divergent control flow: undefined on a GPU) stops all
// progress; a watchdog then aborts the test with a message rather than let it hang. Shared memory is the kernels' extern arrays,
// defined here and poisoned (NaN bytes) before every block so that a read of an unwritten
// element shows. The threads come from a pool kept between launches. It checks the kernels' indexing, synchronization and arithmetic, not their
// speed, and not what only a GPU decides (warp scheduling, real memory ordering).
//
// The warp matrix functions (nvcuda::wmma) exist for what the tensor-core kernel uses: TF32
// fragments of 16 x 16 x 8, float accumulators, loads and stores from row- or column-major
// memory. A fragment's elements sit on the lanes in an order of the emulator's own (CUDA
// leaves it unspecified, so a kernel must not depend on it), mma_sync trades the warp's
// elements through a per-warp buffer between two barriers of the warp, reads only the TF32
// bits of its inputs (as the tensor cores do) and accumulates in float32.
//
// Include it, then a kernel header (kernels/row_kernels.cuh, kernels/fused_eval_kernel.cuh,
// kernels/tensor_eval_kernel.cuh); the kernels land in attnswarm::emulated.
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
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#define ATTN_KERNELS_NS emulated
#define __global__
#define __device__
#define __host__
#define __shared__
#define __launch_bounds__(...)
#define __align__(n)  // the arrays' one definition below carries the alignment

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

namespace attnswarm::emulated {

// Shared memory: the extern arrays the kernels declare (row kernels: doubles; fused: float4,
// declared 128-byte aligned because wmma needs 32-byte pointers, which the emulator checks).
alignas(128) inline double smem[1 << 16];
alignas(128) inline float4 smem4[1 << 15];

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
  // per warp: the A (128) then B (128) elements of an mma_sync
  std::vector<std::array<float, 256>> mma_inputs = std::vector<std::array<float, 256>>(lanes.size() / 32);
  // one value per thread for the block-wide reductions of the CUB stand-in (cub::BlockReduce)
  std::vector<std::array<unsigned char, 8>> block_values = lanes;
};
inline block_state* current = nullptr;

}  // namespace emulator

namespace emulator {

// The threads that play a block's CUDA threads, kept from launch to launch: starting a
// thread costs far more than most blocks' work. run(n, fn) runs fn(0) .. fn(n - 1) on n of
// them at once (they wait on each other's barriers) and returns when all have finished.
class thread_pool {
 public:
  static thread_pool& get() {
    static thread_pool pool;
    return pool;
  }
  template <typename Fn>
  void run(unsigned n, Fn& fn) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (workers_.size() < n) {
      const unsigned id = static_cast<unsigned>(workers_.size());
      workers_.emplace_back([this, id, seen = generation_] { work(id, seen); });
    }
    job_ = [&fn](unsigned t) { fn(t); };
    active_ = n;
    pending_ = n;
    ++generation_;
    start_.notify_all();
    done_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
  }
  ~thread_pool() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& w : workers_) w.join();
  }

 private:
  void work(unsigned id, std::uint64_t seen) {
    for (;;) {
      std::function<void(unsigned)> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        start_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (id >= active_) continue;
        job = job_;
      }
      job(id);
      const std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_all();
    }
  }
  std::mutex mutex_;
  std::condition_variable start_, done_;
  std::vector<std::thread> workers_;
  std::function<void(unsigned)> job_;
  unsigned active_ = 0, pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace emulator

// kernel<<<grid, block, shared_bytes>>>(args...), run to the end: the blocks one after
// another, each on the pool's first block.x threads, with the shared memory poisoned before
// it starts.
template <typename Kernel, typename... Args>
void launch(dim3 grid, dim3 block, std::size_t shared_bytes, Kernel kernel, Args... args) {
  if (block.y != 1 || block.z != 1 || block.x % 32 != 0 || block.x == 0)
    throw std::invalid_argument("emulator: blocks must be whole warps along x");
  if (shared_bytes > sizeof(smem) || shared_bytes > sizeof(smem4))
    throw std::invalid_argument("emulator: more dynamic shared memory than it holds");
  emulator::grid_dim = grid;
  emulator::block_dim = block;
  emulator::block_state state(block.x);
  emulator::current = &state;
  // between blocks: a barrier of its own, so that a thread that leaves the kernel while others
  // wait in a __syncthreads stops all progress (the watchdog's case) instead of passing it
  emulator::barrier between_blocks(block.x, emulator::progress_tick{&state.phases});
  std::atomic<unsigned> at_x{0}, at_y{0};
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
                     "__shfl_xor_sync that not every thread reached\n", at_x.load(), at_y.load());
        std::abort();
      }
    }
  });
  const auto body = [&](unsigned t) {
    emulator::thread_idx = dim3(t);
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        if (t == 0) {
          at_x = bx;
          at_y = by;
          std::memset(smem, 0xff, sizeof(smem));  // all of it: a read past what was asked for shows too
          std::memset(smem4, 0xff, sizeof(smem4));
        }
        between_blocks.arrive_and_wait();  // the block's shared memory is poisoned
        emulator::block_idx = dim3(bx, by);
        kernel(args...);
        between_blocks.arrive_and_wait();  // every thread has left the block
      }
  };
  emulator::thread_pool::get().run(block.x, body);
  {
    const std::lock_guard<std::mutex> lock(watch_mutex);
    done = true;
  }
  watch_cv.notify_one();
  watchdog.join();
  emulator::current = nullptr;
}

// ATTN_LAUNCH(kernel, grid, block, shared, stream)(args...): the launchers' spelling of
// kernel<<<grid, block, shared, stream>>>(args...) (kernels/cuda_check.cuh), run here: at once,
// or, where ATTN_EMULATOR_ENQUEUE(stream, work) is defined before this header (the fake
// device's runtime, tests/fake_device), queued on the stream with its arguments copied, as a
// real launch is, to run when the host waits for that stream.
template <typename Kernel, typename Stream>
struct kernel_launch {
  Kernel kernel;
  dim3 grid, block;
  std::size_t shared;
  Stream stream;
  template <typename... Args>
  void operator()(Args... args) const {
#ifdef ATTN_EMULATOR_ENQUEUE
    ATTN_EMULATOR_ENQUEUE(stream, [k = kernel, g = grid, b = block, sh = shared, args...] { launch(g, b, sh, k, args...); });
#else
    launch(grid, block, shared, kernel, args...);
#endif
  }
};
template <typename Kernel, typename Stream>
kernel_launch<Kernel, Stream> make_kernel_launch(Kernel kernel, dim3 grid, dim3 block, std::size_t shared, Stream s) {
  return {kernel, grid, block, shared, s};
}

}  // namespace attnswarm::emulated

#define ATTN_LAUNCH(kernel, grid, block, shared, stream) \
  ::attnswarm::emulated::make_kernel_launch(kernel, dim3(grid), dim3(block), shared, stream)

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

inline void __syncwarp(unsigned = 0xffffffffu) {
  auto& state = *attnswarm::emulated::emulator::current;
  state.warps[threadIdx.x / 32]->arrive_and_wait();
}

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

namespace emulated_detail {
template <typename Use, int M, int N, int K>
struct extent;
template <int M, int N, int K>
struct extent<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct extent<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct extent<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};

inline unsigned lane() { return threadIdx.x % 32; }

inline void check_pointer(const void* p, unsigned ldm) {
  if (reinterpret_cast<std::uintptr_t>(p) % 32 != 0 || ldm % 4 != 0) {
    std::fprintf(stderr, "cuda emulator: wmma needs a 32-byte aligned pointer and ldm a multiple of 4 floats\n");
    std::abort();
  }
}

// The bits of a float that the tensor cores read as TF32: sign, exponent, 10 mantissa bits.
inline float tf32_bits(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  b &= 0xffffe000u;
  std::memcpy(&x, &b, 4);
  return x;
}
}  // namespace emulated_detail

// Element i of a lane is the tile's element lane + 32 i in row-major order (rows x cols).
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 8, "emulator: wmma fragments of 16 x 16 x 8 only");
  static constexpr int rows = emulated_detail::extent<Use, M, N, K>::rows;
  static constexpr int cols = emulated_detail::extent<Use, M, N, K>::cols;
  static constexpr int num_elements = rows * cols / 32;
  float x[num_elements];
  static int row(int i) { return static_cast<int>(emulated_detail::lane() + 32 * i) / cols; }
  static int col(int i) { return static_cast<int>(emulated_detail::lane() + 32 * i) % cols; }
};

// Round to nearest, ties away from zero, to 10 mantissa bits (cvt.rna.tf32.f32).
inline float __float_to_tf32(float x) {
  if (!std::isfinite(x)) return x;
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  b = (b + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &b, 4);
  return x;
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float v) {
  for (float& e : f.x) e = v;
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const float* p, unsigned ldm) {
  static_assert(std::is_same_v<Layout, row_major> || std::is_same_v<Layout, col_major>,
                "emulator: matrix_a and matrix_b fragments load with their own layout");
  emulated_detail::check_pointer(p, ldm);
  using frag = fragment<Use, M, N, K, T, Layout>;
  for (int i = 0; i < frag::num_elements; ++i) {
    const std::size_t r = static_cast<std::size_t>(frag::row(i)), c = static_cast<std::size_t>(frag::col(i));
    f.x[i] = std::is_same_v<Layout, row_major> ? p[r * ldm + c] : p[c * ldm + r];
  }
  __syncwarp();  // a warp-wide operation: the lanes arrive together, as on the GPU
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  emulated_detail::check_pointer(p, ldm);
  using frag = fragment<accumulator, M, N, K, float>;
  for (int i = 0; i < frag::num_elements; ++i) {
    const std::size_t r = static_cast<std::size_t>(frag::row(i)), c = static_cast<std::size_t>(frag::col(i));
    (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[i];
  }
  __syncwarp();
}

// d = a b + c over the warp: every lane posts its elements of a and b, then computes its own
// elements of d from the whole tiles.
template <int M, int N, int K, typename LayoutA, typename LayoutB>
void mma_sync(fragment<accumulator, M, N, K, float>& d,
              const fragment<matrix_a, M, N, K, precision::tf32, LayoutA>& a,
              const fragment<matrix_b, M, N, K, precision::tf32, LayoutB>& b,
              const fragment<accumulator, M, N, K, float>& c) {
  using fa = fragment<matrix_a, M, N, K, precision::tf32, LayoutA>;
  using fb = fragment<matrix_b, M, N, K, precision::tf32, LayoutB>;
  using fc = fragment<accumulator, M, N, K, float>;
  auto& state = *attnswarm::emulated::emulator::current;
  float* tiles = state.mma_inputs[threadIdx.x / 32].data();  // A: M x K, then B: K x N, row-major
  for (int i = 0; i < fa::num_elements; ++i) tiles[fa::row(i) * K + fa::col(i)] = emulated_detail::tf32_bits(a.x[i]);
  for (int i = 0; i < fb::num_elements; ++i)
    tiles[M * K + fb::row(i) * N + fb::col(i)] = emulated_detail::tf32_bits(b.x[i]);
  __syncwarp();  // every lane has posted
  float out[fc::num_elements];
  for (int i = 0; i < fc::num_elements; ++i) {
    float sum = c.x[i];
    for (int k = 0; k < K; ++k) sum = std::fmaf(tiles[fc::row(i) * K + k], tiles[M * K + k * N + fc::col(i)], sum);
    out[i] = sum;
  }
  __syncwarp();  // every lane has read before the next mma posts
  for (int i = 0; i < fc::num_elements; ++i) d.x[i] = out[i];
}

}  // namespace nvcuda::wmma
