/* Shape ops on CUDA tensors against the CPU backend, forward and backward:
 * concat, stack, split, chunk, expand, squeeze, unsqueeze, flatten,
 * reshape and view (view and copy cases), clone (never aliasing) and
 * to_device, whose gradient flows back across devices. */
#include "medfm/ops/index.h"
#include "medfm/ops/view.h"
#include "tests/core/backend/cuda_compare.h"

static const mf_dtype view_dtypes[3] = {MF_F32, MF_F64, MF_BF16};

typedef struct {
    int dim, n;
} cat_ctx;

/* Input 1 arrives transposed (strided), so a copy reads a strided view. */
static mf_status op_concat(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const cat_ctx *c = ctx;
    mf_tensor *t, *xs[3];
    MF_TRY(mf_transpose(in[1], 0, 2, &t));
    xs[0] = in[0], xs[1] = t, xs[2] = in[2];
    mf_status st = c->n ? mf_stack(3, xs, c->dim, out) : mf_concat(3, xs, c->dim, out);
    mf_tensor_release(t);
    return st;
}

Test(cuda_views, concat_and_stack_match_the_cpu_with_gradients_to_every_input) {
    t_need_cuda();
    bool g[3] = {true, true, true};
    for (int k = 0; k < 3; k++) {
        mf_dtype dt = view_dtypes[k];
        /* concat along dim 1: [2, 3, 4], [4, 5, 2]^T = [2, 5, 4], [2, 1, 4] */
        mf_tensor *in[3] = {t_uniform(600, 3, (int64_t[]){2, 3, 4}, dt, -2, 2),
                            t_uniform(601, 3, (int64_t[]){4, 5, 2}, dt, -2, 2),
                            t_uniform(602, 3, (int64_t[]){2, 1, 4}, dt, -2, 2)};
        cat_ctx c = {.dim = 1};
        t_cuda_compare("concat dim 1", 3, in, g, op_concat, &c, 0);
        t_release_all(in, 3);
        /* concat along dims 0 and -1, stack along 0, 2 and 3: equal shapes [2, 3, 4] */
        mf_tensor *eq[3] = {t_uniform(603, 3, (int64_t[]){2, 3, 4}, dt, -2, 2),
                            t_uniform(604, 3, (int64_t[]){4, 3, 2}, dt, -2, 2),
                            t_uniform(605, 3, (int64_t[]){2, 3, 4}, dt, -2, 2)};
        const cat_ctx cases[] = {{0, 0}, {-1, 0}, {0, 1}, {2, 1}, {3, 1}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            t_cuda_compare(cases[i].n ? "stack" : "concat", 3, eq, g, op_concat, &cases[i], 0);
        t_release_all(eq, 3);
    }
}

/* The pieces of split (n = 0) or chunk (n pieces) along dim of x^T,
 * each scaled by its position + 1 and concatenated in reverse order, so
 * every piece's gradient lands in a different place than its values. */
static mf_status op_pieces(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const cat_ctx *c = ctx;
    mf_tensor *x, *p[8] = {0}, *s[8] = {0};
    int n = 3;
    mf_status st;
    MF_TRY(mf_transpose(in[0], 0, 1, &x)); /* [7, 5] strided */
    if (c->n)
        MF_CHECK(mf_chunk(x, c->n, c->dim, p, &n));
    else
        MF_CHECK(mf_split(x, 3, c->dim ? (int64_t[]){2, 0, 3} : (int64_t[]){2, 4, 1}, c->dim, p));
    for (int i = 0; i < n; i++)
        MF_CHECK(mf_mul_scalar(p[n - 1 - i], (double)(n - i), &s[i]));
    MF_CHECK(mf_concat(n, s, c->dim, out));
cleanup:
    mf_tensor_release(x);
    for (int i = 0; i < 8; i++) {
        mf_tensor_release(p[i]);
        mf_tensor_release(s[i]);
    }
    return st;
}

Test(cuda_views, split_and_chunk_pieces_and_their_gradients_match_the_cpu) {
    t_need_cuda();
    bool g[1] = {true};
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = t_uniform(610, 2, (int64_t[]){5, 7}, view_dtypes[k], -2, 2);
        /* split {2, 4, 1} along 0, {2, 0, 3} (an empty piece) along 1;
         * chunk 3 along 0 (3, 3, 1) and 4 along 1 (2, 2, 1: fewer pieces);
         * x^T is [7, 5] */
        const cat_ctx cases[] = {{0, 0}, {1, 0}, {0, 3}, {1, 4}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            t_cuda_compare(cases[i].n ? "chunk" : "split", 1, &x, g, op_pieces, &cases[i], 1);
        mf_tensor *dx = t_on(x, T_CUDA, false), *p[4];
        int n;
        MF_OK_OR_FAIL(mf_chunk(dx, 4, 0, p, &n));
        cr_assert_eq(n, 3, "chunk of 5 into 4 should make 3 pieces, made %d", n);
        cr_assert(p[0]->storage == dx->storage && p[2]->shape[0] == 1, "chunk pieces should be views of x");
        t_release_all(p, 3);
        mf_tensor_release(dx);
        mf_tensor_release(x);
    }
}

typedef enum { V_EXPAND, V_SQUEEZE, V_UNSQ0, V_UNSQ_MID, V_UNSQ_END, V_FLATTEN, V_FLATTEN_T, V_COUNT } view_kind;

static const char *view_names[V_COUNT] = {"expand", "squeeze", "unsqueeze 0", "unsqueeze 2", "unsqueeze -1",
                                          "flatten", "flatten strided"};

/* x is [3, 1, 4]: flatten reads it as it is (a view), every other op its
 * permutation [4, 1, 3] (strided; flattening that copies). */
static mf_status op_view(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    view_kind v = *(const view_kind *)ctx;
    if (v == V_FLATTEN)
        return mf_flatten(in[0], 0, -1, out);
    mf_tensor *t = NULL, *u = NULL;
    mf_status st;
    MF_CHECK(mf_permute(in[0], (int[]){2, 1, 0}, &t));
    switch (v) {
    case V_EXPAND: st = mf_expand(t, 4, (int64_t[]){2, -1, 5, 3}, out); break;
    case V_SQUEEZE: st = mf_squeeze(t, 1, out); break;
    case V_UNSQ0: st = mf_unsqueeze(t, 0, out); break;
    case V_UNSQ_MID: st = mf_unsqueeze(t, 2, out); break;
    case V_UNSQ_END: st = mf_unsqueeze(t, -1, out); break;
    default:
        MF_CHECK(mf_unsqueeze(t, 0, &u)); /* [1, 4, 1, 3] */
        st = mf_flatten(u, 1, 3, out);
    }
cleanup:
    mf_tensor_release(t);
    mf_tensor_release(u);
    return st;
}

Test(cuda_views, expand_squeeze_unsqueeze_and_flatten_match_the_cpu_with_gradients) {
    t_need_cuda();
    bool g[1] = {true};
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = t_uniform(620, 3, (int64_t[]){3, 1, 4}, view_dtypes[k], -2, 2);
        for (int v = 0; v < V_COUNT; v++)
            t_cuda_compare(view_names[v], 1, &x, g, op_view, &v, v == V_EXPAND ? 1 : 0);
        mf_tensor_release(x);
    }
}

typedef struct {
    bool transpose, strict;
} reshape_ctx;

static mf_status op_reshape(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const reshape_ctx *c = ctx;
    mf_tensor *x;
    if (c->transpose)
        MF_TRY(mf_transpose(in[0], 0, 1, &x)); /* [6, 4] strided */
    else
        MF_TRY(mf_reshape(in[0], 2, (int64_t[]){6, 4}, &x));
    /* [3, 8] merges rows: a copy unless x is contiguous */
    mf_status st = c->strict ? mf_view(x, 2, (int64_t[]){3, -1}, out) : mf_reshape(x, 2, (int64_t[]){3, -1}, out);
    mf_tensor_release(x);
    return st;
}

/* On a contiguous CUDA tensor reshape and view share its storage; on a
 * transposed one reshape copies and view refuses. Values and gradients
 * match the CPU either way. */
Test(cuda_views, reshape_and_view_share_storage_or_copy_like_the_cpu) {
    t_need_cuda();
    bool g[1] = {true};
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = t_uniform(630, 2, (int64_t[]){4, 6}, view_dtypes[k], -2, 2);
        const reshape_ctx cases[] = {{false, false}, {false, true}, {true, false}};
        for (int i = 0; i < 3; i++)
            t_cuda_compare(cases[i].strict ? "view" : cases[i].transpose ? "reshape copy" : "reshape view", 1, &x,
                           g, op_reshape, &cases[i], 0);
        mf_tensor *dx = t_on(x, T_CUDA, false), *xt, *r, *v;
        MF_OK_OR_FAIL(mf_reshape(dx, 2, (int64_t[]){3, 8}, &r));
        cr_assert(r->storage == dx->storage, "reshape of a contiguous tensor should be a view");
        mf_tensor_release(r);
        MF_OK_OR_FAIL(mf_transpose(dx, 0, 1, &xt));
        MF_OK_OR_FAIL(mf_reshape(xt, 2, (int64_t[]){3, 8}, &r));
        cr_assert(r->storage != dx->storage && r->storage->device.type == MF_CUDA,
                  "reshape of a transposed tensor should copy on the device");
        cr_assert_eq(mf_view(xt, 2, (int64_t[]){3, 8}, &v), MF_ERR_SHAPE, "view of a transposed tensor");
        mf_tensor *all[] = {x, dx, xt, r};
        t_release_all(all, 4);
    }
}

static mf_status op_clone(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    mf_tensor *x;
    MF_TRY(mf_transpose(in[0], 0, 1, &x));
    mf_status st = mf_clone(x, out);
    mf_tensor_release(x);
    return st;
}

/* A clone is a contiguous copy in its own storage: writing it leaves the
 * source alone; its gradient is the identity. */
Test(cuda_views, clone_never_aliases_and_passes_the_gradient_like_the_cpu) {
    t_need_cuda();
    bool g[1] = {true};
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = t_uniform(640, 2, (int64_t[]){5, 6}, view_dtypes[k], -2, 2);
        t_cuda_compare("clone", 1, &x, g, op_clone, NULL, 0);
        mf_tensor *dx = t_on(x, T_CUDA, false), *c;
        MF_OK_OR_FAIL(mf_clone(dx, &c));
        cr_assert(c->storage != dx->storage, "clone of a contiguous tensor shares its storage");
        MF_OK_OR_FAIL(mf_mul_scalar_(c, 0.0));
        t_assert_matches_cpu(dx, x, 0, "source after writing its clone");
        mf_tensor *all[] = {x, dx, c};
        t_release_all(all, 3);
    }
}

/* loss = sum(to_device(x^T, there) * w) with w on `there`: x's gradient is
 * w^T, computed on `there` and carried back to x's device. */
static void to_device_round(mf_device here, mf_device there, mf_dtype dt) {
    mf_tensor *xc = t_uniform(650, 2, (int64_t[]){4, 7}, dt, -2, 2);
    mf_tensor *wc = t_uniform(651, 2, (int64_t[]){7, 4}, dt, -2, 2);
    mf_tensor *x = t_on(xc, here, true), *w = t_on(wc, there, false), *xt, *y, *p, *l, *wt;
    MF_OK_OR_FAIL(mf_transpose(x, 0, 1, &xt));
    MF_OK_OR_FAIL(mf_to_device(xt, there, &y));
    cr_assert(mf_device_equal(y->storage->device, there) && y->requires_grad, "to_device: where is the copy?");
    MF_OK_OR_FAIL(mf_mul(y, w, &p));
    MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l));
    MF_OK_OR_FAIL(mf_backward(l, NULL, false));
    cr_assert(x->grad && mf_device_equal(x->grad->storage->device, here), "to_device: gradient on the wrong device");
    mf_tensor *xtc, *yh = t_on(y, MF_DEVICE_CPU, false), *gh = t_on(x->grad, MF_DEVICE_CPU, false);
    MF_OK_OR_FAIL(mf_transpose(xc, 0, 1, &xtc));
    MF_OK_OR_FAIL(mf_transpose(wc, 0, 1, &wt));
    t_assert_close(yh, xtc, 0, 0, "to_device values");
    t_assert_close(gh, wt, 0, 0, "to_device gradient");
    mf_tensor *all[] = {xc, wc, x, w, xt, y, p, l, wt, xtc, yh, gh};
    t_release_all(all, sizeof all / sizeof all[0]);
}

Test(cuda_views, to_device_moves_values_both_ways_and_carries_the_gradient_back) {
    t_need_cuda();
    for (int k = 0; k < 3; k++) {
        to_device_round(MF_DEVICE_CPU, T_CUDA, view_dtypes[k]);
        to_device_round(T_CUDA, MF_DEVICE_CPU, view_dtypes[k]);
    }
    mf_tensor *x = t_uniform(652, 1, (int64_t[]){3}, MF_F32, 0, 1), *dx = t_on(x, T_CUDA, false), *same;
    MF_OK_OR_FAIL(mf_to_device(dx, T_CUDA, &same));
    cr_assert_eq(same, dx, "to_device to its own device should return the tensor itself");
    mf_tensor *all[] = {x, dx, same};
    t_release_all(all, 3);
}
