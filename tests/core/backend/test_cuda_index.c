/* CUDA gather, index_select, scatter_add (deterministic), bounds errors
 * (found on the device, reported at the next host read)
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

/* The bounds check runs on the device: the op returns at once and the next
 * host read fails with the index, its position and the dim's size; the
 * bad row gathers zeros, nothing else is touched, and the device works on. */
Test(cuda_index, an_index_out_of_range_is_reported_at_the_next_read_with_its_position) {
    t_need_cuda();
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){4, 3}, MF_F32, -1, 1);
    mf_tensor *i = t_from(1, (int64_t[]){4}, MF_I64, (double[]){0, 3, 9, 1});
    mf_tensor *dx = t_on(x, T_CUDA, false), *di = t_on(i, T_CUDA, false), *y = NULL;
    MF_OK_OR_FAIL(mf_index_select(dx, 0, di, &y));
    float h[12];
    cr_assert_eq(mf_tensor_to_host(y, MF_F32, h, sizeof h), MF_ERR_INVALID);
    const char *m = mf_last_error();
    cr_assert(strstr(m, "index 9") && strstr(m, "position 2") && strstr(m, "size 4") && strstr(m, "device-side"),
              "message: %s", m);
    /* reported once; the read after it succeeds */
    MF_OK_OR_FAIL(mf_tensor_to_host(y, MF_F32, h, sizeof h));
    const float *xv = mf_tensor_data(x);
    int rows[4] = {0, 3, -1, 1};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            cr_assert_float_eq(h[r * 3 + c], rows[r] < 0 ? 0.0f : xv[rows[r] * 3 + c], 0, "row %d col %d", r, c);
    mf_tensor *all[] = {x, i, dx, di, y};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        mf_tensor_release(all[k]);
}

Test(cuda_index, a_scatter_with_a_bad_index_adds_nothing_there_and_is_reported) {
    t_need_cuda();
    mf_tensor *x = t_from(1, (int64_t[]){3}, MF_F32, (double[]){0, 0, 0});
    mf_tensor *i = t_from(1, (int64_t[]){3}, MF_I64, (double[]){2, -1, 0});
    mf_tensor *v = t_from(1, (int64_t[]){3}, MF_F32, (double[]){1, 10, 100});
    mf_tensor *dx = t_on(x, T_CUDA, false), *di = t_on(i, T_CUDA, false), *dv = t_on(v, T_CUDA, false), *y = NULL;
    MF_OK_OR_FAIL(mf_scatter_add(dx, 0, di, dv, &y));
    float h[3];
    cr_assert_eq(mf_tensor_to_host(y, MF_F32, h, sizeof h), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "index -1"), "message: %s", mf_last_error());
    MF_OK_OR_FAIL(mf_tensor_to_host(y, MF_F32, h, sizeof h));
    cr_assert(h[0] == 100 && h[1] == 0 && h[2] == 1, "got %g %g %g", h[0], h[1], h[2]);
    mf_tensor *all[] = {x, i, v, dx, di, dv, y};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        mf_tensor_release(all[k]);
}

/* More checks than the records held between two reads: the host waits
 * once when they run out, so a bad index among them is still found. */
Test(cuda_index, a_bad_index_among_hundreds_of_gathers_without_a_read_is_found) {
    t_need_cuda();
    mf_tensor *x = t_uniform(1, 1, (int64_t[]){5}, MF_F32, -1, 1);
    mf_tensor *good = t_from(1, (int64_t[]){2}, MF_I64, (double[]){4, 0});
    mf_tensor *bad = t_from(1, (int64_t[]){2}, MF_I64, (double[]){1, 5});
    mf_tensor *dx = t_on(x, T_CUDA, false), *dg = t_on(good, T_CUDA, false), *db = t_on(bad, T_CUDA, false);
    mf_status st = MF_OK;
    for (int k = 0; k < 700 && st == MF_OK; k++) {
        mf_tensor *y = NULL;
        st = mf_index_select(dx, 0, k == 100 ? db : dg, &y);
        mf_tensor_release(y);
    }
    if (st == MF_OK) {
        mf_tensor *y = NULL;
        MF_OK_OR_FAIL(mf_index_select(dx, 0, dg, &y));
        float h[2];
        st = mf_tensor_to_host(y, MF_F32, h, sizeof h);
        mf_tensor_release(y);
    }
    cr_assert_eq(st, MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "index 5") && strstr(mf_last_error(), "size 5"), "message: %s",
              mf_last_error());
    MF_OK_OR_FAIL(mf_device_synchronize(T_CUDA));
    mf_tensor *all[] = {x, good, bad, dx, dg, db};
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
