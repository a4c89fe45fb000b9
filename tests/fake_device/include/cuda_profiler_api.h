// cudaProfilerStart/Stop as the fake-device tests see them: written to the trace log
// (tests/fake_device/control.hpp), as NVTX ranges are.
#pragma once

#include "cuda_runtime.h"

cudaError_t cudaProfilerStart();
cudaError_t cudaProfilerStop();
