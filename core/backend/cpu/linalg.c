/* CPU linalg kernels: batched GEMM over strided views with OpenBLAS. A view
 * whose last two dims are a transposed matrix goes to BLAS as a transpose
 * flag, so matmul(a, b^T) and the backward products never copy. */
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cpu/blas.h"
#include "core/backend/cpu/gelu_epilogue.h"
#include "core/backend/cpu/lowp.h"
#include "core/backend/kern_linalg.h"
#include "medfm/parallel.h"

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single(void) { openblas_set_num_threads(1); }

void mf__gemm(mf_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void *a,
              int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc) {
    pthread_once(&blas_once, blas_single);
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) { /* BLAS would still scale by beta; be explicit */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                if (dt == MF_F32) {
                    float *p = (float *)c + i * ldc + j;
                    *p = beta == 0 ? 0.0f : (float)(beta * *p);
                } else {
                    double *p = (double *)c + i * ldc + j;
                    *p = beta == 0 ? 0.0 : beta * *p;
                }
            }
        return;
    }
    enum CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans, trb = tb ? CblasTrans : CblasNoTrans;
    if (dt == MF_F32)
        cblas_sgemm(CblasRowMajor, tra, trb, (int)m, (int)n, (int)k, (float)alpha, a, (int)lda, b, (int)ldb,
                    (float)beta, c, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, tra, trb, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c,
                    (int)ldc);
}

typedef struct {
    mf_dtype dt;
    bool ta, tb, by_rows;
    int64_t m, n, k, lda, ldb, ldc, step;
    double alpha, beta;
    const char *a, *b;
    char *c;
} par_ctx;

static void par_range(void *vc, int64_t begin, int64_t end) {
    const par_ctx *p = vc;
    int64_t es = (int64_t)mf_dtype_size(p->dt);
    for (int64_t part = begin; part < end; part++) {
        int64_t lo = part * p->step, hi = lo + p->step;
        if (p->by_rows) {
            if (hi > p->m)
                hi = p->m;
            if (lo >= hi)
                continue;
            const char *a = p->a + (p->ta ? lo : lo * p->lda) * es;
            mf__gemm(p->dt, p->ta, p->tb, hi - lo, p->n, p->k, p->alpha, a, p->lda, p->b, p->ldb, p->beta,
                     p->c + lo * p->ldc * es, p->ldc);
        } else {
            if (hi > p->n)
                hi = p->n;
            if (lo >= hi)
                continue;
            const char *b = p->b + (p->tb ? lo * p->ldb : lo) * es;
            mf__gemm(p->dt, p->ta, p->tb, p->m, hi - lo, p->k, p->alpha, p->a, p->lda, b, p->ldb, p->beta,
                     p->c + lo * es, p->ldc);
        }
    }
}

void mf__gemm_par(mf_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void *a,
                  int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc) {
    int64_t T = mf_num_threads();
    if (T <= 1 || (double)m * (double)n * (double)k < 1.0e6 || (m < 32 && n < 32)) {
        mf__gemm(dt, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    par_ctx p = {dt, ta, tb, m >= n, m, n, k, lda, ldb, ldc, 0, alpha, beta, a, b, c};
    int64_t len = p.by_rows ? m : n, align = p.by_rows ? 8 : 16;
    p.step = (len + T - 1) / T;
    p.step = (p.step + align - 1) / align * align;
    mf_parallel_for((len + p.step - 1) / p.step, 1, par_range, &p);
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

typedef struct {
    const mf_tensor *out, *a, *b;
    double beta;
    int nb; /* batch dims */
    int64_t m, n, k;
    bool ta, tb, copy_a, copy_b, par;
    int64_t lda, ldb;
} mm_ctx;

static void batch_offsets(const mm_ctx *c, int64_t idx, int64_t *oa, int64_t *ob) {
    *oa = *ob = 0;
    for (int d = c->nb - 1; d >= 0; d--) {
        int64_t i = idx % c->out->shape[d];
        idx /= c->out->shape[d];
        *oa += i * c->a->stride[d];
        *ob += i * c->b->stride[d];
    }
}

/* Packs a strided rows x cols matrix into a contiguous buffer. */
static void pack(mf_dtype dt, const char *src, int64_t rows, int64_t cols, int64_t rs, int64_t cs, void *dst) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            if (dt == MF_F32)
                ((float *)dst)[i * cols + j] = ((const float *)src)[i * rs + j * cs];
            else
                ((double *)dst)[i * cols + j] = ((const double *)src)[i * rs + j * cs];
        }
}

static void mm_range(void *vctx, int64_t begin, int64_t end) {
    const mm_ctx *c = vctx;
    mf_dtype dt = c->out->dtype;
    size_t es = mf_dtype_size(dt);
    const int nd = c->nb;
    void *pa = c->copy_a ? malloc((size_t)(c->m * c->k) * es) : NULL;
    void *pb = c->copy_b ? malloc((size_t)(c->k * c->n) * es) : NULL;
    const char *A0 = mf_tensor_data(c->a), *B0 = mf_tensor_data(c->b);
    char *C0 = mf_tensor_data(c->out);
    for (int64_t i = begin; i < end; i++) {
        int64_t oa, ob;
        batch_offsets(c, i, &oa, &ob);
        const char *A = A0 + oa * (int64_t)es, *B = B0 + ob * (int64_t)es;
        bool ta = c->ta, tb = c->tb;
        int64_t lda = c->lda, ldb = c->ldb;
        if (pa) {
            pack(dt, A, c->m, c->k, c->a->stride[nd], c->a->stride[nd + 1], pa);
            A = pa, ta = false, lda = c->k > 0 ? c->k : 1;
        }
        if (pb) {
            pack(dt, B, c->k, c->n, c->b->stride[nd], c->b->stride[nd + 1], pb);
            B = pb, tb = false, ldb = c->n > 0 ? c->n : 1;
        }
        (c->par ? mf__gemm_par : mf__gemm)(dt, ta, tb, c->m, c->n, c->k, 1.0, A, lda, B, ldb, c->beta,
                                          C0 + i * c->m * c->n * (int64_t)es, c->n > 0 ? c->n : 1);
    }
    free(pa);
    free(pb);
}

static mf_status cpu_matmul(mf_tensor *out, const mf_tensor *a, const mf_tensor *b, double beta) {
    mm_ctx c = {.out = out, .a = a, .b = b, .beta = beta, .nb = out->ndim - 2};
    c.m = a->shape[c.nb];
    c.k = a->shape[c.nb + 1];
    c.n = b->shape[c.nb + 1];
    c.copy_a = !blas_layout(c.m, c.k, a->stride[c.nb], a->stride[c.nb + 1], &c.ta, &c.lda);
    c.copy_b = !blas_layout(c.k, c.n, b->stride[c.nb], b->stride[c.nb + 1], &c.tb, &c.ldb);
    int64_t batch = 1;
    for (int d = 0; d < c.nb; d++)
        batch *= out->shape[d];
    if (batch == 0)
        return MF_OK;
    double flops = (double)c.m * (double)c.n * (double)c.k;
    if (batch >= mf_num_threads() || (batch > 1 && flops < 4.0e6)) {
        /* enough products to split the batch over the pool */
        int64_t grain = (int64_t)(2.0e5 / (flops + 1.0)) + 1;
        mf_parallel_for(batch, grain, mm_range, &c);
    } else {
        c.par = true; /* few big products: split each one */
        mm_range(&c, 0, batch);
    }
    return MF_OK;
}

/* bf16/f16: SGEMM on f32 twins, the result rounded once (as a GPU's
 * f32-accumulating bf16 GEMM does). */
static mf_status any_matmul(mf_tensor *out, const mf_tensor *a, const mf_tensor *b, double beta) {
    if (!mf__lowp(out->dtype))
        return cpu_matmul(out, a, b, beta);
    mf_lowp_frame f;
    const mf_tensor *i[2];
    mf_tensor *o[1];
    mf_status st = mf__lowp_begin(&f, 2, (const mf_tensor *const[]){a, b}, i, 1, &out, o, beta != 0.0);
    return st != MF_OK ? st : mf__lowp_end(&f, cpu_matmul(o[0], i[0], i[1], beta));
}

const struct mf_kern_linalg mf_cpu_linalg = {
    .matmul = any_matmul,
    .bias_gelu = mf__cpu_bias_gelu,
    .bias_gelu_backward = mf__cpu_bias_gelu_backward,
};
