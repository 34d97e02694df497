/* Shared by the C host side and the CUDA kernels of the CUDA module: the
 * strided layout handed to kernels, the extern "C" launchers, the stream
 * and allocator of a device. Launchers return the launch's cudaError_t;
 * the C side turns it into an mf_status with a message naming the op. */
#ifndef MF_CUDA_INTERNAL_H
#define MF_CUDA_INTERNAL_H

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MF_CUDA_MAX_DEVICES 16
#define MF_CUDA_MAX_OPS 4

/* Element offsets of up to four operands over one shared shape, after
 * dropping size-1 dims and merging dims that are contiguous in every
 * operand (most layouts end up with one or two dims). */
typedef struct {
    int32_t ndim;
    int32_t nops;
    int64_t n; /* elements */
    int64_t shape[MF_MAX_DIMS];
    int64_t stride[MF_CUDA_MAX_OPS][MF_MAX_DIMS];
} mf_cuda_layout;

void mf_cuda_layout_build(mf_cuda_layout *L, int ndim, const int64_t *shape, int nops,
                          const int64_t *const *strides);
/* The same, with the dims ordered by operand 0's strides (outermost
 * first) and merged again: for ops whose result does not depend on the
 * visiting order (elementwise maps, copies, fills), so a permuted dense
 * layout shared by every operand (channels-last) runs as one flat dim. */
void mf_cuda_layout_build_memory_order(mf_cuda_layout *L, int ndim, const int64_t *shape, int nops,
                                       const int64_t *const *strides);

/* A sum over reduced dims for each kept index: kept dims index both x and
 * out, reduced dims only x. Both lists are coalesced. */
typedef struct {
    int32_t nk, nr;
    int64_t nout, nred;
    int64_t kshape[MF_MAX_DIMS], kx[MF_MAX_DIMS], ko[MF_MAX_DIMS];
    int64_t rshape[MF_MAX_DIMS], rx[MF_MAX_DIMS];
} mf_cuda_sum_plan;

/* ---- host side (C) ---- */
/* Makes `index` current and returns its compute stream (created once). */
mf_status mf_cuda_stream(int index, cudaStream_t *out);
/* MF_OK, or MF_ERR_DEVICE naming `what` and the CUDA error. */
mf_status mf_cuda_check(cudaError_t e, const char *what);
mf_status mf_cuda_alloc(mf_device dev, size_t nbytes, void **ptr);
void mf_cuda_free(mf_device dev, void *ptr, size_t nbytes);
mf_status mf_cuda_copy(mf_tensor *dst, const mf_tensor *src);
mf_status mf_cuda_fill(mf_tensor *t, double value);
/* Private memory pools of CUDA graphs (memory.c): begin makes the pool the
 * one device `index` allocates from until end_capture; its blocks stay
 * reserved for the graph until free. */
typedef struct mf_cuda_gpool mf_cuda_gpool;
mf_status mf_cuda_gpool_begin(int index, mf_cuda_gpool **out);
/* The pool of the capture under way on device `index`, or NULL. */
mf_cuda_gpool *mf_cuda_gpool_capturing(int index);
void mf_cuda_gpool_end_capture(mf_cuda_gpool *g);
void mf_cuda_gpool_free(mf_cuda_gpool *g);
/* Device copy of pad/roll/upsample index maps (gather_maps.c), cached by
 * content; *owned: not cached, cudaFree it after the kernel. */
mf_status mf_cuda_gather_maps(int dev, const int64_t *host, size_t bytes, const void **out, bool *owned);
/* Device-side input checks (device_checks.c), reported at the next host
 * wait. A record is 4 u64 {count, value, position, size}, zero until the
 * kernel that checks writes a failure (count first). kind: what the
 * message says of value and size; what: the op and tensor (copied). */
enum { MF_CUDA_CHECK_INDEX, MF_CUDA_CHECK_TARGET };
mf_status mf_cuda_check_record(int dev, int kind, const char *what, unsigned long long **rec);
/* Every host wait of the module: the stream's work, then the failed check
 * (if any) since the last wait as the error. */
mf_status mf_cuda_host_wait(int dev, cudaStream_t s, const char *what);
/* Whether device `index` is capturing a CUDA graph (graph.c). */
bool mf_cuda_capturing(int index);
/* Asynchronous host->device copies (copy_async.c): the copy stream of a
 * device (created once; _if_any gives NULL before that), pooled events,
 * and the backend's copy_async / copy_wait. */
mf_status mf_cuda_copy_stream(int index, cudaStream_t *out);
cudaStream_t mf_cuda_copy_stream_if_any(int index);
mf_status mf_cuda_event_get(int index, cudaEvent_t *out);
void mf_cuda_event_put(int index, cudaEvent_t ev);
mf_status mf_cuda_copy_async(mf_tensor *dst, const mf_tensor *src, void **ticket);
mf_status mf_cuda_copy_wait(mf_device dev, void *ticket);
/* Pinned host staging blocks (pinned.c). */
struct mf_cuda_mem_stats;
mf_status mf_cuda_pinned_alloc(mf_device dev, size_t nbytes, void **ptr);
void mf_cuda_pinned_free(mf_device dev, void *ptr, size_t nbytes);
/* Gives a block back once the work queued so far on `reader` (which reads
 * it) has run; pinned_free is this with the device's copy stream. */
void mf_cuda_pinned_free_after(mf_device dev, void *ptr, size_t nbytes, cudaStream_t reader);
void mf_cuda_pinned_stats(int index, struct mf_cuda_mem_stats *s);
void mf_cuda_pinned_empty(int index);
int mf_cuda_sm_count(int index);
/* Whether f32 matmul and conv may use TF32 tensor cores (linalg.c). */
int mf_cuda_tf32_enabled(void);
/* Row-major batched GEMM on cuBLAS (linalg.c): for each of `batch`
 * products, C = alpha op(A) op(B) + beta C with op a transpose when ta/tb;
 * sa, sb, sc are element strides between products. dt f32 or f64. */
mf_status mf_cuda_gemm(int index, int dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                       const void *a, int64_t lda, int64_t sa, const void *b, int64_t ldb, int64_t sb, double beta,
                       void *c, int64_t ldc, int64_t sc, int64_t batch);
/* The device's cuBLAS (linalg.c) and cuDNN (conv.c) handles, made now if
 * not yet: before a CUDA graph capture, which refuses their allocations. */
mf_status mf_cuda_blas_init(int index);
mf_status mf_cuda_dnn_init(int index);
/* linear_gelu's fused epilogue (gelu_epilogue.c): the linalg table's
 * bias_gelu and bias_gelu_backward entries. */
mf_status mf_cuda_bias_gelu(mf_tensor *y, mf_tensor *pre, const mf_tensor *bias);
mf_status mf_cuda_bias_gelu_backward(mf_tensor *gpre, mf_tensor *gbias, const mf_tensor *gy, const mf_tensor *pre);

/* ---- launchers (CUDA) ---- */
/* dst = convert(src); same dtype copies bits. Layout ops: dst, src. */
cudaError_t mf_cuda_launch_copy(cudaStream_t s, const mf_cuda_layout *L, void *dst, int dst_dt, const void *src,
                                int src_dt);
/* Every element = the `esize`-byte pattern. Layout ops: dst. */
cudaError_t mf_cuda_launch_fill(cudaStream_t s, const mf_cuda_layout *L, void *dst, int esize, uint64_t pattern);
/* Layout ops: out, a, b. */
cudaError_t mf_cuda_launch_binary(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, void *out,
                                  const void *a, const void *b);
/* Layout ops: out, x. */
cudaError_t mf_cuda_launch_unary(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, double p0, double p1,
                                 void *out, const void *x);
/* Layout ops: gin, x, y (x's strides when y is NULL), gout. */
cudaError_t mf_cuda_launch_unary_backward(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, double p0,
                                          double p1, void *gin, const void *x, const void *y, const void *gout);
/* out is bool; a and b have dtype dt. Layout ops: out, a, b. */
cudaError_t mf_cuda_launch_compare(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, void *out,
                                   const void *a, const void *b);
/* Layout ops: out, cond, a, b. */
cudaError_t mf_cuda_launch_where(cudaStream_t s, const mf_cuda_layout *L, int esize, void *out, const void *cond,
                                 const void *a, const void *b);
/* What a reduction accumulates per element, and how it finishes. */
enum { MF_RED_SUM, MF_RED_MAX, MF_RED_MIN, MF_RED_SQDEV, MF_RED_EXPDEV, MF_RED_ABSSUM, MF_RED_SQSUM, MF_RED_POWSUM,
       MF_RED_ABSMAX };
enum { MF_FIN_NONE, MF_FIN_DIV, MF_FIN_LSE, MF_FIN_SQRT, MF_FIN_ROOT };
typedef struct {
    int32_t kind, fin;
    double arg;           /* p of MF_RED_POWSUM and MF_FIN_ROOT, divisor of MF_FIN_DIV */
    const double *center; /* per output (index o), for SQDEV/EXPDEV and FIN_LSE */
    double *result;       /* when set, results go here (index o) instead of `out` */
} mf_cuda_red_args;

/* Reduces with `chunks` blocks per output; chunks > 1 needs `partial` with
 * nout * chunks doubles. `by_thread` reduces each output in one thread. */
cudaError_t mf_cuda_launch_reduce(cudaStream_t s, const mf_cuda_sum_plan *P, const mf_cuda_red_args *A, int x_dt,
                                  const void *x, int out_dt, void *out, int by_thread, int chunks, double *partial);

/* Optim family (optim_kernels.cu): contiguous tensors of n elements,
 * dt f32 or f64. The hyper-parameter structs come from kern_optim.h. */
struct mf_sgd_hparams;
struct mf_adam_hparams;
cudaError_t mf_cuda_launch_sgd(cudaStream_t s, int64_t n, int dt, void *p, const void *g, void *buf,
                               const struct mf_sgd_hparams *h);
cudaError_t mf_cuda_launch_adam(cudaStream_t s, int64_t n, int dt, void *p, const void *g, void *m, void *v,
                                void *vmax, const struct mf_adam_hparams *h, double step_size, double bc2_sqrt);
/* partial needs mf_cuda_sumsq_blocks(n) + 1 doubles; the total lands in
 * partial[blocks]. */
int64_t mf_cuda_sumsq_blocks(int64_t n);
cudaError_t mf_cuda_launch_sum_squares(cudaStream_t s, int64_t n, int dt, const void *x, double *partial);
cudaError_t mf_cuda_launch_scale(cudaStream_t s, int64_t n, int dt, void *x, double scale);
/* linear_gelu epilogue (gelu_epilogue_kernels.cu), contiguous tensors, dt
 * a float dtype. Forward: numel elements in rows of n; pre (in/out) +=
 * bias (n, or NULL), y = gelu(pre). Backward: gpre = gy * gelu'(pre) over
 * rows x n; with gbias, column sums per chunk of `chunk` rows go to
 * partial (ceil(rows / chunk) x n doubles; NULL when there is one chunk)
 * and are added in chunk order into gbias. */
cudaError_t mf_cuda_launch_bias_gelu(cudaStream_t s, int dt, int64_t numel, int64_t n, void *y, void *pre,
                                     const void *bias);
cudaError_t mf_cuda_launch_bias_gelu_backward(cudaStream_t s, int dt, int64_t rows, int64_t n, int64_t chunk,
                                              void *gpre, const void *gy, const void *pre, double *partial,
                                              void *gbias);

#ifdef __cplusplus
}
#endif
#endif
