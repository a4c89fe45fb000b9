// The shared-math self-test kernel and its launcher, compiled for the fake device.
#include "../../kernels/math_selftest.cu"
