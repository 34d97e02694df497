/* Column-major strided batched GEMM as plain loops, accumulated in double:
 * the cuBLAS call of linalg.c under the CPU emulation (see build.sh). */
#include "cublas_v2.h"
#include <stdlib.h>

#include "core/tensor/dtype.h"
#include <string.h>
struct emu_cublas { cudaStream_t s; };
cublasStatus_t cublasCreate(cublasHandle_t *h) { *h = calloc(1, sizeof **h); return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) { h->s = s; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *w, size_t n) {
    (void)h;
    return n == 0 || emu_is_device(w) ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}
const char *cublasGetStatusString(cublasStatus_t s) { return s ? "emulated cuBLAS error" : "success"; }
static double at(const void *p, cudaDataType_t t, long long i) {
    switch (t) {
    case CUDA_R_64F: return ((const double *)p)[i];
    case CUDA_R_16BF: return mf_bf16_to_f32(((const uint16_t *)p)[i]);
    case CUDA_R_16F: return mf_f16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}
static void put(void *p, cudaDataType_t t, long long i, double v) {
    switch (t) {
    case CUDA_R_64F: ((double *)p)[i] = v; break;
    case CUDA_R_16BF: ((uint16_t *)p)[i] = mf_f32_to_bf16((float)v); break;
    case CUDA_R_16F: ((uint16_t *)p)[i] = mf_f32_to_f16((float)v); break;
    default: ((float *)p)[i] = (float)v;
    }
}
typedef struct {
    cublasOperation_t ta, tb;
    int m, n, k;
    double al;
    const void *A; cudaDataType_t at; int lda; long long sa;
    const void *B; cudaDataType_t bt; int ldb; long long sb;
    double be;
    void *C; cudaDataType_t ct; int ldc; long long sc;
    int batch;
} gemm_args;
static void run_gemm(void *p);
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType_t at_, int lda,
                                          long long sa, const void *B, cudaDataType_t bt, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType_t ct, int ldc, long long sc,
                                          int batch, cublasComputeType_t comp, cublasGemmAlgo_t algo) {
    (void)comp; (void)algo;
    if (m < 0 || n < 0 || k < 1 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    double al = ct == CUDA_R_64F ? *(const double *)alpha : *(const float *)alpha;
    double be = ct == CUDA_R_64F ? *(const double *)beta : *(const float *)beta;
    gemm_args g = {ta, tb, m, n, k, al, A, at_, lda, sa, B, bt, ldb, sb, be, C, ct, ldc, sc, batch};
    emu_submit(h->s, run_gemm, &g, sizeof g); /* alpha and beta are read now, as cuBLAS does with host pointers */
    return CUBLAS_STATUS_SUCCESS;
}
static void run_gemm(void *p) {
    const gemm_args *g = p;
    cublasOperation_t ta = g->ta, tb = g->tb;
    int m = g->m, n = g->n, k = g->k, batch = g->batch, lda = g->lda, ldb = g->ldb, ldc = g->ldc;
    long long sa = g->sa, sb = g->sb, sc = g->sc;
    const void *A = g->A, *B = g->B;
    void *C = g->C;
    cudaDataType_t at_ = g->at, bt = g->bt, ct = g->ct;
    double al = g->al, be = g->be;
    for (int q = 0; q < batch; q++)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    double a = at(A, at_, q * sa + (ta ? (long long)i * lda + p : (long long)p * lda + i));
                    double b = at(B, bt, q * sb + (tb ? (long long)p * ldb + j : (long long)j * ldb + p));
                    acc += a * b;
                }
                long long o = q * sc + (long long)j * ldc + i;
                double c = be != 0 ? be * at(C, ct, o) : 0;
                put(C, ct, o, al * acc + c);
            }
}
