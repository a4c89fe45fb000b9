// NVTX ranges as the fake-device tests see them: each push is written to the trace log
// (tests/fake_device/control.hpp), so a test can check which phases a run names.
#pragma once

int nvtxRangePushA(const char* name);
int nvtxRangePop();
