/* What the cuDNN convolution calls (conv.c) share with the algorithm
 * choice (conv_algo.c): one call's descriptors and the status check. */
#ifndef MEDFM_CUDA_CONV_INTERNAL_H
#define MEDFM_CUDA_CONV_INTERNAL_H

#include <cudnn.h>

#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/kern_conv.h"

enum { MF_CONV_FWD, MF_CONV_BWD_DATA, MF_CONV_BWD_FILTER };

/* Descriptors of one call. exact: f32/f64 without TF32 (FMA math only). */
typedef struct {
    cudnnHandle_t h;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t c;
    cudnnDataType_t ty;
    int dev, dt, exact;
    double one_d, zero_d;
    float one_f, zero_f;
} mf_conv_call;

mf_status mf_cuda_dnn_check(cudnnStatus_t s, const char *what);

/* The algorithm of direction `dir` for c's geometry g and its exact
 * workspace size, with c's math type set to match. Cached per (direction,
 * dtype, geometry, math mode, device, policy). Under the search policy the
 * first call of a shape times cuDNN's candidates on the call's own
 * buffers (in1, in2 read; out overwritten: the caller writes it after). */
mf_status mf_cuda_conv_pick(mf_conv_call *c, int dir, const mf_conv_geom *g, const void *in1, const void *in2,
                            void *out, int *algo, size_t *ws);

#endif
