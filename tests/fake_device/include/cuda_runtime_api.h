// The fake device's runtime API: the same declarations as its cuda_runtime.h.
#pragma once

#include "cuda_runtime.h"
