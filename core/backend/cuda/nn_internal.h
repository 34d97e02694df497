/* Argument blocks and launchers of the norm, loss and pool kernels of the
 * CUDA module, shared by the C host side (norm.c, loss.c, pool.c) and the
 * kernels (*.cu). Pointers are device addresses of contiguous data unless
 * a stride (in elements) is given; NULL means "absent". */
#ifndef MF_CUDA_NN_INTERNAL_H
#define MF_CUDA_NN_INTERNAL_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t N, C, S;
    const void *x, *g, *w, *b;
    const void *ry; /* backward of a fused relu: its output (g counts where ry > 0) */
    void *y, *gx, *gw, *gb;
    void *mean, *invstd, *rm, *rv;
    int64_t w_st, b_st, mean_st, invstd_st, rm_st, rv_st, gw_st, gb_st;
    int32_t training;
    int32_t relu; /* forward: y = relu(batch norm) */
    double momentum, eps;
    /* ranges per channel and their sums (2 doubles per range and channel,
     * device scratch; NULL when no pass needs sums); narrow: N * S fits
     * 32 bits (the NCHW kernels' row division) */
    int64_t parts;
    double *partial;
    int32_t narrow;
    int32_t dt; /* data dtype (x, y, g, gx); parameters and statistics are
                 * f32 for bf16/f16 data, else the data's dtype */
    /* cl: the data (x, y, g, gx, ry) are channels-last, N * S rows of C
     * values with the channel innermost; parts then splits the rows, and
     * coef (device scratch, 4 doubles per channel) holds each channel's
     * constants of the map pass */
    int32_t cl;
    double *coef;
} mf_bn_args;
/* Ranges per channel for N * S values (a function of the shape only). */
int64_t mf_cuda_bn_parts(int64_t M);
/* Row ranges of channels-last data of M rows (a function of M only). */
int64_t mf_cuda_bn_cl_parts(int64_t M);

typedef struct {
    int64_t rows, groups, cg, s;
    const void *x, *g, *w, *b;
    void *y, *gx, *gw, *gb, *mean, *rstd;
    int64_t w_st, b_st, mean_st, rstd_st, gw_st, gb_st;
    double eps;
} mf_row_args;

typedef struct {
    int64_t N, C, S;
    const void *x, *w, *g;
    const int64_t *t;
    void *loss, *wt, *logp, *gx;
    int64_t gs0, gs1, ignore;
    double eps;
    unsigned long long *bad; /* a device-check record (cuda_internal.h) for a bad target */
} mf_ce_args;

/* Window geometry of pool kernels (see mf_pool_geom). */
typedef struct {
    int64_t planes;
    int64_t in[3], out[3], k[3], st[3], pad[3], dil[3];
    int32_t include_pad, adaptive, align_corners;
    int32_t cl; /* window kernels: channels-last data of C channels */
    int64_t C;
} mf_pool_args;

cudaError_t mf_cuda_launch_bn(cudaStream_t s, int dt, int backward, const mf_bn_args *a);
cudaError_t mf_cuda_launch_rownorm(cudaStream_t s, int dt, int backward, const mf_row_args *a);
/* Forward: out = softmax(in). Backward: out = gx, in = gy, y = saved output. */
cudaError_t mf_cuda_launch_softmax(cudaStream_t s, int dt, int64_t outer, int64_t n, int64_t inner, void *out,
                                   const void *in, const void *y, int log, int backward);
cudaError_t mf_cuda_launch_ce(cudaStream_t s, int dt, int backward, const mf_ce_args *a);

/* Pool (pool_kernels.cu). dt: the data dtype (f32, f64, bf16, f16).
 * Backward launchers expect gx zeroed and add into it in the compute type:
 * f64 for f64, else f32 (for bf16/f16 gx is an f32 scratch); gy is dt. */
cudaError_t mf_cuda_launch_maxpool(cudaStream_t s, int dt, const mf_pool_args *g, void *y, int64_t *idx, const void *x);
cudaError_t mf_cuda_launch_maxpool_bwd(cudaStream_t s, int dt, const mf_pool_args *g, void *gx, const void *gy,
                                       const int64_t *idx);
cudaError_t mf_cuda_launch_avgpool(cudaStream_t s, int dt, const mf_pool_args *g, void *y, const void *x, int backward);
cudaError_t mf_cuda_launch_linear(cudaStream_t s, int dt, const mf_pool_args *g, void *y, const void *x, int backward);
/* y (ndim dims, contiguous, shape `shape`) from x at strides xs through
 * maps (device, concatenated, map d starts at moff[d]); -1 entries give
 * `fill`. Backward adds gy into gx (contiguous, shape xshape). */
typedef struct {
    int32_t ndim;
    int64_t shape[8], xs[8], moff[8];
    const int64_t *maps;
    double fill;
} mf_gather_args;
cudaError_t mf_cuda_launch_pool_gather(cudaStream_t s, int dt, const mf_gather_args *a, void *y, const void *x,
                                       int backward);

/* Attention rows (attention_kernels.cu): p (rows = B*H*Lq, Lk) += bias
 * (strides bst over (B, H, Lq, Lk), NULL for none), then softmax in place;
 * ds = p * (ds - rowsum(ds * p)) in place. */
cudaError_t mf_cuda_launch_attn_softmax(cudaStream_t s, int dt, int64_t rows, int64_t H, int64_t Lq, int64_t Lk,
                                        void *p, const void *bias, const int64_t *bst);
cudaError_t mf_cuda_launch_attn_dsoft(cudaStream_t s, int dt, int64_t rows, int64_t Lk, void *ds, const void *p);

/* Fused attention (attention_flash_kernels.cu, host side attention_flash.c):
 * q (B,H,Lq,D), k (B,H,Lk,D), v (B,H,Lk,Dv), out and gout (B,H,Lq,Dv) and
 * the gradients contiguous in dtype dt (f32, bf16, f16); lse and delta
 * (B,H,Lq) f32; bias in dt at strides bst over (B,H,Lq,Lk); gbias f32 at
 * strides gbst (0 in broadcast dims). Forward writes out and lse; backward
 * writes delta (scratch), gq, gk, gv (each may be NULL) and adds into gbias. */
#define MF_FLASH_MAX_DIM 128
typedef struct {
    int64_t B, H, Lq, Lk, D, Dv;
    float scale;
    const void *q, *k, *v, *bias, *gout;
    void *out;
    float *lse, *delta;
    void *gq, *gk, *gv;
    float *gbias;
    int64_t bst[4], gbst[4];
} mf_flash_args;
cudaError_t mf_cuda_launch_flash(cudaStream_t s, int dt, int backward, const mf_flash_args *a);
/* The attention table's flash entries (kern_attention.h). */
mf_status mf_cuda_flash_forward(mf_tensor *out, mf_tensor *lse, const mf_tensor *q, const mf_tensor *k,
                                const mf_tensor *v, const mf_tensor *bias, double scale);
mf_status mf_cuda_flash_backward(mf_tensor *gq, mf_tensor *gk, mf_tensor *gv, mf_tensor *gbias,
                                 const mf_tensor *gout, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v,
                                 const mf_tensor *bias, const mf_tensor *out, const mf_tensor *lse, double scale);

#ifdef __cplusplus
}
#endif
#endif
