// The CUDA backend's host driver, compiled for the fake device.
#include "../../host/cuda_backend.cu"
