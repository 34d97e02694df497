/* CUDA linalg family: the batched GEMM behind matmul, bmm, linear and their
 * backwards, on cuBLAS. Row-major C = A B is computed as the column-major
 * C^T = B^T A^T, so a row-major operand passes as-is and a transposed view
 * passes as a transpose flag. Batch dims are coalesced over the three
 * operands: the innermost run goes to one strided-batched call, any outer
 * ones loop on the host. A matrix that is neither row- nor column-major is
 * first copied to a contiguous buffer on the device.
 *
 * f32 uses TF32 tensor cores unless MEDFM_CUDA_TF32=0 or
 * mf_cuda_set_tf32(0) says otherwise (see mf_cuda_tf32_enabled). bf16 and
 * f16 (mixed precision) multiply on tensor cores with f32 accumulation and
 * f32 alpha/beta, rounding the output once, as the CPU path does. */
#include <cublas_v2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cuda/cuda_api.h"
#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/kern_linalg.h"

#define EXPORT __attribute__((visibility("default")))

#define CUBLAS_WORKSPACE ((size_t)32 << 20)

static pthread_mutex_t handle_lock = PTHREAD_MUTEX_INITIALIZER;
static cublasHandle_t handles[MF_CUDA_MAX_DEVICES];
static int tf32_override = -1; /* -1: follow the environment */

EXPORT void mf_cuda_set_tf32(int enabled) {
    __atomic_store_n(&tf32_override, enabled < 0 ? -1 : enabled != 0, __ATOMIC_RELAXED);
}

int mf_cuda_tf32_enabled(void) {
    int o = __atomic_load_n(&tf32_override, __ATOMIC_RELAXED);
    if (o >= 0)
        return o;
    const char *e = getenv("MEDFM_CUDA_TF32");
    return !(e && e[0] == '0');
}

static mf_status cublas_check(cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS)
        return MF_OK;
    return MF_ERR(MF_ERR_DEVICE, "%s: cuBLAS error %d (%s)", what, (int)s, cublasGetStatusString(s));
}

static mf_status mf_cuda_blas(int index, cublasHandle_t *out) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(index, &s));
    pthread_mutex_lock(&handle_lock);
    cublasStatus_t e = CUBLAS_STATUS_SUCCESS;
    if (!handles[index]) {
        e = cublasCreate(&handles[index]);
        /* A workspace of our own (32 MiB, what Hopper GEMMs want), so
         * cuBLAS never allocates inside a CUDA graph capture. */
        void *ws = NULL;
        if (e == CUBLAS_STATUS_SUCCESS && mf_cuda_alloc((mf_device){MF_CUDA, index}, CUBLAS_WORKSPACE, &ws) == MF_OK)
            e = cublasSetWorkspace(handles[index], ws, CUBLAS_WORKSPACE);
    }
    if (e == CUBLAS_STATUS_SUCCESS)
        e = cublasSetStream(handles[index], s);
    *out = handles[index];
    pthread_mutex_unlock(&handle_lock);
    return cublas_check(e, "creating the cuBLAS handle");
}

mf_status mf_cuda_blas_init(int index) {
    cublasHandle_t h;
    return mf_cuda_blas(index, &h);
}

/* BLAS description of a rows x cols matrix with strides (rs, cs), or false
 * when it needs a copy. */
static bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool *trans, int64_t *ld) {
    if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) {
        *trans = false;
        *ld = rows == 1 ? (cols > 1 ? cols : 1) : rs;
        return *ld >= 1;
    }
    if ((rows == 1 || rs == 1) && (cols == 1 || cs >= rows)) {
        *trans = true;
        *ld = cols == 1 ? (rows > 1 ? rows : 1) : cs;
        return *ld >= 1;
    }
    return false;
}

mf_status mf_cuda_gemm(int index, int dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                       const void *a, int64_t lda, int64_t sa, const void *b, int64_t ldb, int64_t sb, double beta,
                       void *c, int64_t ldc, int64_t sc, int64_t batch) {
    if (m <= 0 || n <= 0 || batch <= 0)
        return MF_OK;
    cublasHandle_t h;
    MF_TRY(mf_cuda_blas(index, &h));
    float af = (float)alpha, bf = (float)beta;
    const void *pa = dt == MF_F64 ? (const void *)&alpha : (const void *)&af;
    const void *pb = dt == MF_F64 ? (const void *)&beta : (const void *)&bf;
    cudaDataType_t ty = dt == MF_F64 ? CUDA_R_64F : dt == MF_BF16 ? CUDA_R_16BF : dt == MF_F16 ? CUDA_R_16F : CUDA_R_32F;
    cublasComputeType_t ct = dt == MF_F64                          ? CUBLAS_COMPUTE_64F
                             : dt == MF_BF16 || dt == MF_F16        ? CUBLAS_COMPUTE_32F
                             : mf_cuda_tf32_enabled()               ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                    : CUBLAS_COMPUTE_32F;
    if (k <= 0) { /* cuBLAS needs k >= 1 for valid lds; C = beta C */
        k = 1;
        pa = NULL;
    }
    static const double zero_d = 0.0;
    static const float zero_f = 0.0f;
    if (!pa) {
        pa = dt == MF_F64 ? (const void *)&zero_d : (const void *)&zero_f;
        if (lda < 1)
            lda = 1;
        if (ldb < 1)
            ldb = 1;
    }
    /* column-major: C^T (n x m) = op(B)^T (n x k) op(A)^T (k x m) */
    cublasStatus_t s =
        cublasGemmStridedBatchedEx(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m,
                                   (int)k, pa, b, ty, (int)(ldb < 1 ? 1 : ldb), sb, a, ty, (int)(lda < 1 ? 1 : lda), sa,
                                   pb, c, ty, (int)ldc, sc, (int)batch, ct, CUBLAS_GEMM_DEFAULT);
    return cublas_check(s, "matmul");
}

/* Appends batch dim (size, strides of a, b, c), merging with the previous
 * one when all three walk memory like one dim. */
static void push3(int *nd, int64_t *shape, int64_t (*st)[3], int64_t size, const int64_t *t) {
    if (size == 1)
        return;
    int k = *nd;
    if (k > 0 && st[k - 1][0] == t[0] * size && st[k - 1][1] == t[1] * size && st[k - 1][2] == t[2] * size) {
        shape[k - 1] *= size;
        memcpy(st[k - 1], t, sizeof st[k - 1]);
        return;
    }
    shape[k] = size;
    memcpy(st[k], t, sizeof st[k]);
    *nd = k + 1;
}

static mf_status contiguous_copy(const mf_tensor *x, mf_tensor **out) {
    MF_TRY(mf_tensor_empty(x->ndim, x->shape, x->dtype, x->storage->device, out));
    mf_status st = mf_cuda_copy(*out, x);
    if (st != MF_OK) {
        mf_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

static mf_status cuda_matmul(mf_tensor *out, const mf_tensor *a, const mf_tensor *b, double beta) {
    if (out->dtype != MF_F32 && out->dtype != MF_F64 && out->dtype != MF_BF16 && out->dtype != MF_F16)
        return MF_ERR(MF_ERR_UNSUPPORTED, "matmul: dtype %s not supported on the cuda backend",
                      mf_dtype_name(out->dtype));
    int nb = out->ndim - 2;
    int64_t m = a->shape[nb], k = a->shape[nb + 1], n = b->shape[nb + 1];
    bool ta, tb;
    int64_t lda, ldb;
    mf_tensor *ca = NULL, *cb = NULL;
    mf_status st = MF_OK;
    if (!blas_layout(m, k, a->stride[nb], a->stride[nb + 1], &ta, &lda)) {
        MF_CHECK(contiguous_copy(a, &ca));
        a = ca;
        ta = false;
        lda = k > 0 ? k : 1;
    }
    if (!blas_layout(k, n, b->stride[nb], b->stride[nb + 1], &tb, &ldb)) {
        MF_CHECK(contiguous_copy(b, &cb));
        b = cb;
        tb = false;
        ldb = n > 0 ? n : 1;
    }
    int nd = 0;
    int64_t shape[MF_MAX_DIMS], strides[MF_MAX_DIMS][3];
    int64_t total = 1;
    for (int d = 0; d < nb; d++) {
        total *= out->shape[d];
        push3(&nd, shape, strides, out->shape[d], (int64_t[3]){a->stride[d], b->stride[d], out->stride[d]});
    }
    if (total == 0 || m == 0 || n == 0)
        goto cleanup;
    int64_t inner = nd ? shape[nd - 1] : 1, outer = total / inner;
    int64_t sa = nd ? strides[nd - 1][0] : 0, sb = nd ? strides[nd - 1][1] : 0, sc = nd ? strides[nd - 1][2] : m * n;
    size_t es = mf_dtype_size(out->dtype);
    for (int64_t o = 0; o < outer; o++) {
        int64_t oa = 0, ob = 0, oc = 0, r = o;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t i = r % shape[d];
            r /= shape[d];
            oa += i * strides[d][0];
            ob += i * strides[d][1];
            oc += i * strides[d][2];
        }
        MF_CHECK(mf_cuda_gemm(out->storage->device.index, (int)out->dtype, ta, tb, m, n, k, 1.0,
                              (const char *)mf_tensor_data(a) + oa * (int64_t)es, lda, sa,
                              (const char *)mf_tensor_data(b) + ob * (int64_t)es, ldb, sb, beta,
                              (char *)mf_tensor_data(out) + oc * (int64_t)es, n, sc, inner));
    }
cleanup:
    mf_tensor_release(ca);
    mf_tensor_release(cb);
    return st;
}

const struct mf_kern_linalg mf_cuda_linalg = {
    .matmul = cuda_matmul,
    .bias_gelu = mf_cuda_bias_gelu,
    .bias_gelu_backward = mf_cuda_bias_gelu_backward,
};
