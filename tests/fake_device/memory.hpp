// The fake device's memory (tests/fake_device/runtime.cpp), for the tests that cap it.
#pragma once

#include <cstddef>

namespace attnswarm::fake_device {
// The device's memory: `total` bytes, of which `taken` are used by "another process".
void set_memory(std::size_t total, std::size_t taken);
// Bytes the driver holds now (for a test that everything it took was given back).
std::size_t allocated_bytes();
}  // namespace attnswarm::fake_device
