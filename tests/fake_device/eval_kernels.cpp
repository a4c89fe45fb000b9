// The launchers, compiled for the fake device (include/cuda_runtime.h and the emulator).
#include "../../kernels/eval_kernels.cu"
