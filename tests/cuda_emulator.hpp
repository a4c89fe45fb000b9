// Runs the CUDA kernels' own source on the CPU, for tests on machines without a GPU (CI, and
// most development sessions). Every CUDA thread of a block is a fiber with a stack of its
// own, and one host thread runs them in turns, the blocks of a grid one after another:
// a thread runs until it reaches a barrier (__syncthreads, or the warp barriers that
// __shfl_xor_sync, __syncwarp and the warp matrix functions hold), and a barrier lets its
// threads on once all of them have arrived. The turns go in thread order, then in reverse
// order, by rounds, so a read of another thread's write with no barrier between them sees
// the value from before the write in one direction or the other. A barrier that some thread
// never reaches (undefined on a GPU: a __syncthreads or shuffle under divergent control
// flow, or a thread that has left the kernel) leaves no thread that can run: the launch then
// aborts with a message naming the block. Shared memory is the kernels' extern arrays, defined
// here and poisoned (NaN bytes) before every block so that a read of an unwritten element
// shows. It checks the kernels' indexing, synchronization and arithmetic, not their speed,
// and refuses a launch that an sm_90 device would (launch_config_problem below).
//
// The warp matrix functions (nvcuda::wmma) exist for what the tensor-core kernel uses: TF32
// fragments of 16 x 16 x 8, float accumulators, loads and stores from row- or column-major
// memory. A fragment's elements sit on the lanes in an order of the emulator's own (CUDA
// leaves it unspecified, so a kernel must not depend on it), mma_sync trades the warp's
// elements through a per-warp buffer between two barriers of the warp, reads only the TF32
// bits of its inputs (as the tensor cores do) and accumulates in float32.
//
// Include it, then a kernel header (kernels/row_kernels.cuh, kernels/fused_eval_kernel.cuh,
// kernels/tensor_eval_kernel.cuh); the kernels land in attnswarm::emulated. One host thread
// at a time may launch (launch() holds a lock).
#pragma once

#include <sys/mman.h>
// ATTN_EMULATOR_UCONTEXT takes the portable fiber switch on x86-64 too (CI tests it there).
#if defined(__x86_64__) && !defined(ATTN_EMULATOR_UCONTEXT)
#define ATTN_EMULATOR_SWITCH_STACK 1
#else
#include <ucontext.h>
#endif

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
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

// The CUDA thread that runs now (set by the fiber scheduler at every switch), its block, and
// the launch's shape.
inline dim3 thread_idx, block_idx, block_dim, grid_dim;

// A barrier of `count` threads: the phase advances when the last of them arrives.
struct barrier {
  unsigned count = 0, arrived = 0;
  std::uint64_t phase = 0;
};

struct block_state {
  explicit block_state(unsigned threads)
      : lanes(threads), warps(threads / 32, barrier{32, 0, 0}) {
    block.count = threads;
  }
  barrier block;
  std::vector<std::array<unsigned char, 8>> lanes;
  std::vector<barrier> warps;
  // per warp: the A (128) then B (128) elements of an mma_sync
  std::vector<std::array<float, 256>> mma_inputs = std::vector<std::array<float, 256>>(lanes.size() / 32);
  // one value per thread for the block-wide reductions of the CUB stand-in (cub::BlockReduce)
  std::vector<std::array<unsigned char, 8>> block_values = lanes;
};
inline block_state* current = nullptr;

// Switching between fibers. On x86-64, a few instructions: the callee-saved registers, the
// SSE and x87 control words and the stack pointer (ucontext's swapcontext also saves the
// signal mask, a system call at every switch, which would be most of the emulator's time);
// elsewhere, ucontext.
#ifdef ATTN_EMULATOR_SWITCH_STACK
// Pushes the callee-saved registers and control words, stores the stack pointer in *from,
// loads `to` and pops what that stack holds: the other fiber's state, or a new fiber's frame.
__attribute__((naked, noinline)) static void switch_stack(void** /*from*/, void* /*to*/) {
  asm volatile(
      "pushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n\t"
      "subq $16, %rsp\n\tstmxcsr 8(%rsp)\n\tfnstcw (%rsp)\n\t"
      "movq %rsp, (%rdi)\n\tmovq %rsi, %rsp\n\t"
      "ldmxcsr 8(%rsp)\n\tfldcw (%rsp)\n\taddq $16, %rsp\n\t"
      "popq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n\tret\n\t");
}
struct fiber_context {
  void* sp = nullptr;
  // A frame that switch_stack pops into a call of entry, which must never return.
  void prepare(unsigned char* stack, std::size_t bytes, void (*entry)()) {
    auto* top = reinterpret_cast<std::uint64_t*>(reinterpret_cast<std::uintptr_t>(stack + bytes) & ~std::uintptr_t{15});
    top[-1] = 0;  // entry's return address: none
    top[-2] = reinterpret_cast<std::uint64_t>(entry);
    for (int r = 3; r <= 8; ++r) top[-r] = 0;  // rbp, rbx, r12 .. r15
    top[-9] = 0x1f80;                          // MXCSR: the default
    top[-10] = 0x037f;                         // x87 control word: the default
    sp = top - 10;
  }
  static void jump(fiber_context& from, fiber_context& to) { switch_stack(&from.sp, to.sp); }
};
#else
struct fiber_context {
  ucontext_t uc{};
  void prepare(unsigned char* stack, std::size_t bytes, void (*entry)()) {
    if (getcontext(&uc) != 0) std::abort();
    uc.uc_stack.ss_sp = stack;
    uc.uc_stack.ss_size = bytes;
    uc.uc_link = nullptr;  // entry never returns
    makecontext(&uc, entry, 0);
  }
  static void jump(fiber_context& from, fiber_context& to) {
    if (swapcontext(&from.uc, &to.uc) != 0) std::abort();
  }
};
#endif

// The fibers that play one block's threads, with their stacks kept from launch to launch.
class fibers {
 public:
  static fibers& get() {
    static fibers f;
    return f;
  }
  fibers() = default;
  fibers(const fibers&) = delete;
  fibers& operator=(const fibers&) = delete;
  ~fibers() {
    for (fiber& f : all_) munmap(f.stack, k_stack_bytes + k_guard_bytes);
  }

  // Runs body() as threads 0 .. n - 1 of block (bx, by) until every one has returned.
  void run(unsigned n, const std::function<void()>& body, unsigned bx, unsigned by) {
    while (all_.size() < n) {
      all_.emplace_back();
      all_.back().stack = new_stack();
    }
    body_ = &body;
    for (unsigned t = 0; t < n; ++t) {
      fiber& f = all_[t];
      f.context.prepare(f.stack + k_guard_bytes, k_stack_bytes, &fibers::entry);
      f.done = false;
      f.waiting = nullptr;
    }
    unsigned finished = 0;
    for (bool forward = true; finished < n; forward = !forward) {
      bool ran = false;
      for (unsigned k = 0; k < n; ++k) {
        const unsigned t = forward ? k : n - 1 - k;
        fiber& f = all_[t];
        if (f.done || (f.waiting != nullptr && f.waiting->phase < f.until)) continue;
        f.waiting = nullptr;
        now_ = t;
        thread_idx = dim3(t);
        fiber_context::jump(scheduler_, f.context);
        ran = true;
        if (f.done) ++finished;
      }
      if (!ran) {
        std::fprintf(stderr, "cuda emulator: block (%u, %u): every thread that has not left the kernel waits in a "
                     "__syncthreads or warp barrier that some thread never reaches\n", bx, by);
        std::abort();
      }
    }
    body_ = nullptr;
  }

  // The running thread arrives at b; unless it is the last, it waits for the others.
  void arrive_and_wait(barrier& b) {
    const std::uint64_t phase = b.phase;
    if (++b.arrived == b.count) {
      b.arrived = 0;
      ++b.phase;
      return;
    }
    fiber& f = all_[now_];
    f.waiting = &b;
    f.until = phase + 1;
    fiber_context::jump(f.context, scheduler_);
  }

 private:
  // Kernels keep their arrays in registers and shared memory, so small stacks do; a guard
  // page under each turns an overflow into a crash at the overflow.
  static constexpr std::size_t k_stack_bytes = std::size_t{256} << 10, k_guard_bytes = 4096;
  struct fiber {
    unsigned char* stack = nullptr;
    fiber_context context;
    bool done = false;
    const barrier* waiting = nullptr;
    std::uint64_t until = 0;
  };
  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "cuda emulator: %s\n", what);
    std::abort();
  }
  static unsigned char* new_stack() {
    void* p = mmap(nullptr, k_stack_bytes + k_guard_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p, k_guard_bytes, PROT_NONE) != 0) fail("no memory for a thread's stack");
    return static_cast<unsigned char*>(p);
  }
  // A thread's whole life: the kernel, then back to the scheduler for good.
  static void entry() {
    fibers& self = get();
    (*self.body_)();
    fiber& f = self.all_[self.now_];
    f.done = true;
    fiber_context::jump(f.context, self.scheduler_);
    fail("a finished thread was resumed");
  }
  std::vector<fiber> all_;
  fiber_context scheduler_;
  const std::function<void()>* body_ = nullptr;
  unsigned now_ = 0;
};

inline std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace emulator

// The launch limits of the device the kernels are built for (sm_90, an H100 or H200), so that
// a launch a GPU would refuse fails here too: threads per block, the grid's extent (no
// dimension 0), and dynamic shared memory, past 48 KiB only up to a kernel's opt-in
// (cudaFuncSetAttribute; the fake device keeps track of it) and never past 227 KiB.
constexpr unsigned k_max_block_threads = 1024;
constexpr unsigned k_max_grid_x = 2147483647u, k_max_grid_yz = 65535;
constexpr std::size_t k_default_dynamic_shared = 48 * 1024;
constexpr std::size_t k_max_dynamic_shared = 227 * 1024;

// What is wrong with a launch of this shape on the device, or nullptr.
inline const char* launch_config_problem(dim3 grid, dim3 block, std::size_t shared_bytes) {
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x * block.y * block.z > k_max_block_threads)
    return "a block of 0 or more than 1024 threads";
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > k_max_grid_x || grid.y > k_max_grid_yz ||
      grid.z > k_max_grid_yz)
    return "a grid with a dimension of 0, or y or z past 65535";
  if (shared_bytes > k_max_dynamic_shared) return "more than 227 KiB of dynamic shared memory";
  return nullptr;
}

// kernel<<<grid, block, shared_bytes>>>(args...), run to the end: the blocks one after
// another, each on block.x fibers, with the shared memory poisoned before it starts.
template <typename Kernel, typename... Args>
void launch(dim3 grid, dim3 block, std::size_t shared_bytes, Kernel kernel, Args... args) {
  if (const char* problem = launch_config_problem(grid, block, shared_bytes))
    throw std::invalid_argument(std::string("emulator: a launch the device would refuse: ") + problem);
  if (block.y != 1 || block.z != 1 || block.x % 32 != 0)
    throw std::invalid_argument("emulator: blocks must be whole warps along x");
  if (shared_bytes > sizeof(smem) || shared_bytes > sizeof(smem4))
    throw std::invalid_argument("emulator: more dynamic shared memory than it holds");
  const std::lock_guard<std::mutex> lock(emulator::launch_mutex());
  emulator::grid_dim = grid;
  emulator::block_dim = block;
  emulator::block_state state(block.x);
  emulator::current = &state;
  const std::function<void()> body = [&] { kernel(args...); };
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::memset(smem, 0xff, sizeof(smem));  // all of it: a read past what was asked for shows too
      std::memset(smem4, 0xff, sizeof(smem4));
      emulator::block_idx = dim3(bx, by);
      emulator::fibers::get().run(block.x, body, bx, by);
    }
  emulator::current = nullptr;
}

// ATTN_LAUNCH(kernel, grid, block, shared, stream)(args...): the launchers' spelling of
// kernel<<<grid, block, shared, stream>>>(args...) (kernels/cuda_check.cuh), run here: at once,
// or, where ATTN_EMULATOR_ENQUEUE(stream, work) is defined before this header (the fake
// device's runtime, tests/fake_device), queued on the stream with its arguments copied, as a
// real launch is, to run when the host waits for that stream; there
// ATTN_EMULATOR_ACCEPT_LAUNCH(kernel, grid, block, shared) and
// ATTN_EMULATOR_ACCEPT_ARGUMENTS(args...) decide first whether the device takes the launch
// at all.
template <typename Kernel, typename Stream>
struct kernel_launch {
  Kernel kernel;
  dim3 grid, block;
  std::size_t shared;
  Stream stream;
  template <typename... Args>
  void operator()(Args... args) const {
#ifdef ATTN_EMULATOR_ENQUEUE
    // as on a GPU, a launch it refuses does not run and leaves its error for cudaGetLastError
    if (!ATTN_EMULATOR_ACCEPT_LAUNCH(reinterpret_cast<const void*>(kernel), grid, block, shared) ||
        !ATTN_EMULATOR_ACCEPT_ARGUMENTS(args...))
      return;
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

inline void __syncthreads() {
  attnswarm::emulated::emulator::fibers::get().arrive_and_wait(attnswarm::emulated::emulator::current->block);
}

template <typename T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  static_assert(sizeof(T) <= 8, "emulator: shuffles of at most 8 bytes");
  auto& state = *attnswarm::emulated::emulator::current;
  const unsigned t = threadIdx.x, warp = t / 32, lane = t % 32;
  std::memcpy(state.lanes[t].data(), &v, sizeof(T));
  auto& fibers = attnswarm::emulated::emulator::fibers::get();
  fibers.arrive_and_wait(state.warps[warp]);  // every lane has written
  T out;
  std::memcpy(&out, state.lanes[warp * 32 + (lane ^ static_cast<unsigned>(lane_mask))].data(), sizeof(T));
  fibers.arrive_and_wait(state.warps[warp]);  // every lane has read before the next shuffle writes
  return out;
}

inline void __syncwarp(unsigned = 0xffffffffu) {
  auto& state = *attnswarm::emulated::emulator::current;
  attnswarm::emulated::emulator::fibers::get().arrive_and_wait(state.warps[threadIdx.x / 32]);
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

// Element i of a lane is the tile's element lane * num_elements + i in row-major order (rows x
// cols): a lane holds a run of the tile, so a kernel that reads the tile back element by lane
// (k = lane + 32 j) reads other lanes' elements and needs its __syncwarp, as on a GPU.
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 8, "emulator: wmma fragments of 16 x 16 x 8 only");
  static constexpr int rows = emulated_detail::extent<Use, M, N, K>::rows;
  static constexpr int cols = emulated_detail::extent<Use, M, N, K>::cols;
  static constexpr int num_elements = rows * cols / 32;
  float x[num_elements];
  static int row(int i) { return (static_cast<int>(emulated_detail::lane()) * num_elements + i) / cols; }
  static int col(int i) { return (static_cast<int>(emulated_detail::lane()) * num_elements + i) % cols; }
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
  // no barrier: as on a GPU, the loads are not ordered with the other lanes' later stores
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  emulated_detail::check_pointer(p, ldm);
  using frag = fragment<accumulator, M, N, K, float>;
  for (int i = 0; i < frag::num_elements; ++i) {
    const std::size_t r = static_cast<std::size_t>(frag::row(i)), c = static_cast<std::size_t>(frag::col(i));
    (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[i];
  }
  // no barrier: as on a GPU, the other lanes see these stores only after a __syncwarp
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
