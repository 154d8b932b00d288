// host_device.h: SCORCH_HOST_DEVICE marks a function that runs on the CPU and, when nvcc compiles it,
// on a CUDA device too. It is how the two backends share one definition of what must agree bit for
// bit or index for index: the Philox RNG (random.h), the elementwise formulas
// (tensor/elementwise_fns.h) and the offset arithmetic of the CUDA loops (cuda/loops.h).
#pragma once

#ifdef __CUDACC__
#define SCORCH_HOST_DEVICE __host__ __device__
#else
#define SCORCH_HOST_DEVICE
#endif
