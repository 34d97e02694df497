/* CPU sum over a set of dims, the reduction autograd needs to undo
 * broadcasting. Parallel over output elements; each sums its reduced
 * sub-block in double. The family's table is in cpu/reduce.c. */
#include "core/backend/cpu/strided.h"
#include "core/backend/kern_reduce.h"
#include "core/tensor/dtype.h"
#include "medfm/parallel.h"

typedef struct {
    const mf_tensor *x;
    mf_tensor *out;
    mf_layout R;             /* the reduced dims of x */
    int nkept;
    int64_t kshape[MF_MAX_DIMS], kstride_x[MF_MAX_DIMS], kstride_o[MF_MAX_DIMS];
} sum_job;

static void sum_range(void *ctx, int64_t o0, int64_t o1) {
    sum_job *j = ctx;
    mf_dtype dt = j->x->dtype;
    size_t es = mf_dtype_size(dt);
    const char *xb = mf_tensor_data(j->x);
    char *ob = mf_tensor_data(j->out);
    int last = j->R.ndim - 1;
    for (int64_t o = o0; o < o1; o++) {
        int64_t rem = o, xoff = 0, ooff = 0;
        for (int d = j->nkept - 1; d >= 0; d--) {
            int64_t i = rem % j->kshape[d];
            rem /= j->kshape[d];
            xoff += i * j->kstride_x[d];
            ooff += i * j->kstride_o[d];
        }
        double acc = 0.0;
        for (int64_t r = 0; r < j->R.rows; r++) {
            int64_t off[1];
            mf_layout_row(&j->R, r, off);
            int64_t s = j->R.stride[0][last];
            if (dt == MF_F32) {
                const float *p = (const float *)xb + xoff + off[0];
                for (int64_t i = 0; i < j->R.inner; i++)
                    acc += p[i * s];
            } else if (dt == MF_F64) {
                const double *p = (const double *)xb + xoff + off[0];
                for (int64_t i = 0; i < j->R.inner; i++)
                    acc += p[i * s];
            } else {
                for (int64_t i = 0; i < j->R.inner; i++)
                    acc += mf_load_as_f64(xb + (xoff + off[0] + i * s) * (int64_t)es, dt);
            }
        }
        mf_store_from_f64(ob + ooff * (int64_t)mf_dtype_size(j->out->dtype), j->out->dtype, acc);
    }
}

mf_status mf_cpu_reduce_sum(mf_tensor *out, const mf_tensor *x, uint32_t mask) {
    sum_job j = {.x = x, .out = out};
    int64_t rshape[MF_MAX_DIMS], rstride[MF_MAX_DIMS];
    int nr = 0;
    int64_t nout = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (mask & (1u << d)) {
            rshape[nr] = x->shape[d];
            rstride[nr++] = x->stride[d];
        } else {
            j.kshape[j.nkept] = x->shape[d];
            j.kstride_x[j.nkept] = x->stride[d];
            j.kstride_o[j.nkept++] = out->stride[d];
            nout *= x->shape[d];
        }
    }
    const int64_t *s[1] = {rstride};
    mf_layout_build(&j.R, nr, rshape, 1, s);
    int64_t per = j.R.rows * j.R.inner;
    int64_t grain = per > 0 ? 32768 / per : 32768;
    mf_parallel_for(nout, grain < 1 ? 1 : grain, sum_range, &j);
    return MF_OK;
}
