/* OpenBLAS helpers shared by the CPU linalg and conv kernels: a dtype-generic
 * GEMM on raw pointers and the thread policy. Policy: one big GEMM runs on
 * OpenBLAS's own threads; loops that split work over the medfm pool call
 * BLAS single-threaded (mf__blas_single ... mf__blas_restore around them). */
#ifndef MF_CPU_BLAS_H
#define MF_CPU_BLAS_H

#include <stdbool.h>
#include <stdint.h>

#include "medfm/tensor.h"

/* Row-major C = alpha op(A) op(B) + beta C on f32 or f64 data. */
void mf__gemm(mf_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void *a,
              int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc);
/* Makes OpenBLAS single-threaded; returns the previous thread count. */
int mf__blas_single(void);
void mf__blas_restore(int prev);

#endif
