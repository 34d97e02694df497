/* CUDA cumsum, sort, topk (with their backward scatter) and argmax/argmin
 * against the CPU backend, with ties and NaNs. */
#include <math.h>

#include "medfm/ops/reduce.h"
#include "medfm/ops/sort.h"
#include "tests/core/backend/cuda_compare.h"

typedef struct {
    int dim;
    bool flag;
    int64_t k;
} sort_ctx;

static mf_status op_cumsum(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    return mf_cumsum(in[0], ((const sort_ctx *)ctx)->dim, out);
}
static mf_status op_sort(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const sort_ctx *c = ctx;
    mf_tensor *idx;
    MF_TRY(mf_sort(in[0], c->dim, c->flag, out, &idx));
    mf_tensor_release(idx);
    return MF_OK;
}
static mf_status op_sort_idx(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const sort_ctx *c = ctx;
    mf_tensor *v;
    MF_TRY(mf_sort(in[0], c->dim, c->flag, &v, out));
    mf_tensor_release(v);
    return MF_OK;
}
static mf_status op_topk(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const sort_ctx *c = ctx;
    mf_tensor *idx;
    MF_TRY(mf_topk(in[0], c->k, c->dim, c->flag, out, &idx));
    mf_tensor_release(idx);
    return MF_OK;
}
static mf_status op_arg(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const sort_ctx *c = ctx;
    return c->flag ? mf_argmax(in[0], c->dim, true, out) : mf_argmin(in[0], c->dim, false, out);
}

/* Values in a few levels so ties are common, and a NaN or two. */
static mf_tensor *tied(uint64_t seed, int ndim, const int64_t *shape, mf_dtype dt, bool nans) {
    mf_tensor *u = t_uniform(seed, ndim, shape, MF_F64, 0, 6);
    int64_t n = mf_tensor_numel(u);
    double *v = malloc(sizeof(double) * (size_t)n);
    const double *ud = mf_tensor_data(u);
    for (int64_t i = 0; i < n; i++)
        v[i] = nans && i % 17 == 5 ? NAN : floor(ud[i]) - 2;
    mf_tensor *t = t_from(ndim, shape, dt, v);
    free(v);
    mf_tensor_release(u);
    return t;
}

Test(cuda_sort, cumsum_and_its_gradient_match_the_cpu) {
    t_need_cuda();
    bool g[1] = {true};
    mf_tensor *x = t_uniform(1, 3, (int64_t[]){4, 30, 5}, MF_F64, -1, 1);
    for (int dim = 0; dim < 3; dim++) {
        sort_ctx c = {.dim = dim};
        t_cuda_compare("cumsum", 1, &x, g, op_cumsum, &c, 2);
    }
    mf_tensor_release(x);
}

Test(cuda_sort, stable_sort_and_topk_match_the_cpu_with_ties) {
    t_need_cuda();
    bool g[1] = {true}, ng[1] = {false};
    mf_tensor *x = tied(2, 3, (int64_t[]){3, 40, 6}, MF_F32, false);
    for (int dim = 0; dim < 3; dim++)
        for (int desc = 0; desc < 2; desc++) {
            sort_ctx c = {.dim = dim, .flag = desc, .k = 3};
            t_cuda_compare("sort values", 1, &x, g, op_sort, &c, 1);
            t_cuda_compare("sort indices", 1, &x, ng, op_sort_idx, &c, 1);
            t_cuda_compare("topk", 1, &x, g, op_topk, &c, 1);
        }
    mf_tensor_release(x);
}

Test(cuda_sort, nans_sort_like_the_cpu) {
    t_need_cuda();
    bool ng[1] = {false};
    mf_tensor *x = tied(3, 2, (int64_t[]){5, 50}, MF_F64, true);
    for (int desc = 0; desc < 2; desc++) {
        sort_ctx c = {.dim = 1, .flag = desc};
        t_cuda_compare("sort indices with NaN", 1, &x, ng, op_sort_idx, &c, 1);
    }
    mf_tensor_release(x);
}

Test(cuda_sort, argmax_and_argmin_pick_the_first_extreme_like_the_cpu) {
    t_need_cuda();
    bool ng[1] = {false};
    mf_tensor *x = tied(4, 3, (int64_t[]){6, 7, 8}, MF_F32, true);
    for (int dim = 0; dim < 3; dim++)
        for (int mx = 0; mx < 2; mx++) {
            sort_ctx c = {.dim = dim, .flag = mx};
            t_cuda_compare("argmax/argmin", 1, &x, ng, op_arg, &c, 1);
        }
    mf_tensor_release(x);
}
