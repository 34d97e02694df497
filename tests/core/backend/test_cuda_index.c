/* CUDA gather, index_select, scatter_add (deterministic), bounds errors
 * and cdist against the CPU backend, forward and backward. */
#include <string.h>

#include "medfm/ops/distance.h"
#include "medfm/ops/index.h"
#include "tests/core/backend/cuda_compare.h"

typedef struct {
    int dim;
    double p;
} idx_ctx;

static mf_status op_gather(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    return mf_gather(in[0], ((const idx_ctx *)ctx)->dim, in[1], out);
}
static mf_status op_select(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    return mf_index_select(in[0], ((const idx_ctx *)ctx)->dim, in[1], out);
}
static mf_status op_scatter(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    return mf_scatter_add(in[0], ((const idx_ctx *)ctx)->dim, in[1], in[2], out);
}
static mf_status op_cdist(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    return mf_pairwise_distance(in[0], in[1], ((const idx_ctx *)ctx)->p, out);
}

static mf_tensor *indices(uint64_t seed, int ndim, const int64_t *shape, int64_t size) {
    mf_tensor *u = t_uniform(seed, ndim, shape, MF_F64, 0, (double)size - 1e-9);
    int64_t n = mf_tensor_numel(u);
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    const double *ud = mf_tensor_data(u);
    for (int64_t i = 0; i < n; i++)
        v[i] = (double)(int64_t)ud[i];
    mf_tensor *t = t_from(ndim, shape, MF_I64, v);
    free(v);
    mf_tensor_release(u);
    return t;
}

Test(cuda_index, gather_index_select_and_scatter_add_match_the_cpu) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        bool g[3] = {true, false, true};
        for (int dim = 0; dim < 3; dim++) {
            idx_ctx c = {.dim = dim};
            int64_t xs[3] = {5, 6, 7}, is[3] = {4, 5, 6};
            mf_tensor *in[2] = {t_uniform(1, 3, xs, dt, -1, 1), indices(2 + dim, 3, is, xs[dim])};
            t_cuda_compare("gather", 2, in, g, op_gather, &c, 2);
            mf_tensor *sel[2] = {in[0], indices(7, 1, (int64_t[]){9}, xs[dim])};
            t_cuda_compare("index_select", 2, sel, g, op_select, &c, 2);
            mf_tensor *sc[3] = {in[0], in[1], t_uniform(3, 3, is, dt, -1, 1)};
            t_cuda_compare("scatter_add", 3, sc, g, op_scatter, &c, 2);
            mf_tensor_release(in[0]);
            mf_tensor_release(in[1]);
            mf_tensor_release(sel[1]);
            mf_tensor_release(sc[2]);
        }
    }
}

Test(cuda_index, an_index_out_of_range_is_reported_with_its_position) {
    t_need_cuda();
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){4, 3}, MF_F32, -1, 1);
    mf_tensor *i = t_from(1, (int64_t[]){5}, MF_I64, (double[]){0, 3, 9, 1, -2});
    mf_tensor *dx = t_on(x, T_CUDA, false), *di = t_on(i, T_CUDA, false), *y = NULL;
    cr_assert_neq(mf_index_select(dx, 0, di, &y), MF_OK);
    cr_assert(strstr(mf_last_error(), "9"), "message: %s", mf_last_error());
    mf_tensor *all[] = {x, i, dx, di, y};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        mf_tensor_release(all[k]);
}

Test(cuda_index, cdist_and_its_gradients_match_the_cpu) {
    t_need_cuda();
    bool g[2] = {true, true};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        for (int p = 1; p <= 2; p++) {
            idx_ctx c = {.p = p};
            mf_tensor *in[2] = {t_uniform(1, 3, (int64_t[]){2, 7, 5}, dt, -1, 1),
                                t_uniform(2, 3, (int64_t[]){2, 9, 5}, dt, -1, 1)};
            t_cuda_compare("cdist", 2, in, g, op_cdist, &c, 4);
            mf_tensor_release(in[0]);
            mf_tensor_release(in[1]);
        }
    }
}
