/* Column-major strided batched GEMM as plain loops, accumulated in double:
 * the cuBLAS call of linalg.c under the CPU emulation (see build.sh). */
#include "cublas_v2.h"
#include <stdlib.h>
cublasStatus_t cublasCreate(cublasHandle_t *h) { *h = (cublasHandle_t)malloc(8); return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) { (void)h; (void)s; return CUBLAS_STATUS_SUCCESS; }
const char *cublasGetStatusString(cublasStatus_t s) { return s ? "emulated cuBLAS error" : "success"; }
static double at(const void *p, cudaDataType_t t, long long i) { return t == CUDA_R_64F ? ((const double *)p)[i] : ((const float *)p)[i]; }
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType_t at_, int lda,
                                          long long sa, const void *B, cudaDataType_t bt, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType_t ct, int ldc, long long sc,
                                          int batch, cublasComputeType_t comp, cublasGemmAlgo_t algo) {
    (void)h; (void)comp; (void)algo; (void)bt;
    if (m < 0 || n < 0 || k < 1 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    double al = ct == CUDA_R_64F ? *(const double *)alpha : *(const float *)alpha;
    double be = ct == CUDA_R_64F ? *(const double *)beta : *(const float *)beta;
    for (int q = 0; q < batch; q++)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    double a = at(A, at_, q * sa + (ta ? (long long)i * lda + p : (long long)p * lda + i));
                    double b = at(B, at_, q * sb + (tb ? (long long)p * ldb + j : (long long)j * ldb + p));
                    acc += a * b;
                }
                long long o = q * sc + (long long)j * ldc + i;
                double c = be != 0 ? be * at(C, ct, o) : 0;
                if (ct == CUDA_R_64F) ((double *)C)[o] = al * acc + c;
                else ((float *)C)[o] = (float)(al * acc + c);
            }
    return CUBLAS_STATUS_SUCCESS;
}
