// The fake device's controls (tests/fake_device/runtime.cpp), for the tests.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace attnswarm::fake_device {

// The device's memory: `total` bytes, of which `taken` are used by "another process".
void set_memory(std::size_t total, std::size_t taken);
// Bytes the driver holds now (for a test that everything it took was given back).
std::size_t allocated_bytes();

// The storage the fake CUB's ArgMin asks for.
constexpr std::size_t k_argmin_temp_bytes = 16;

// In which order queued work runs when the host waits, among the orders CUDA allows:
// lazy: only what the wait needs, the waited-for stream's work first (a stream's work that
//   is not waited for on the device, or a host read not synchronized, sees stale data);
// others_first: before each step of the waited-for stream, everything the other streams can
//   run (a stream that overwrites what another has yet to read, unordered by an event,
//   clobbers it).
// A program starts under lazy, or under others_first when ATTNSWARM_FAKE_SCHEDULE says so.
enum class schedule { lazy, others_first };
void set_schedule(schedule s);
const char* schedule_name(schedule s);
inline void PrintTo(schedule s, std::ostream* os) { *os << schedule_name(s); }
// Work queued on any stream and not yet run.
std::size_t pending_operations();

// The NVTX ranges pushed so far, by name, and cudaProfilerStart/Stop, in order (the process's
// whole run; with ATTNSWARM_FAKE_TRACE_LOG=FILE each is also appended to FILE as a line, so a
// test can read what an attnswarm_on_fake_device process traced).
std::vector<std::string> trace_log();
// NVTX ranges pushed and not yet popped.
int open_ranges();

}  // namespace attnswarm::fake_device
