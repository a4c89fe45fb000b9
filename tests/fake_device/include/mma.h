// The warp matrix functions come from tests/cuda_emulator.hpp (nvcuda::wmma).
#pragma once
#include <cuda_runtime.h>
