// The device inventory, self-test and copy benchmark, compiled for the fake device.
#include "../../host/devices_cuda.cu"
