/* CUDA elementwise kernels against the CPU backend: every binary, unary
 * (forward and derivative), comparison and where, on broadcast and strided
 * views, in f32 and f64, plus a small autograd graph run on both devices;
 * the in-place ops, mul_scalar and masked_fill. */
#include <math.h>

#include "tests/core/backend/cuda_compare.h"

typedef mf_status (*binop)(const mf_tensor *, const mf_tensor *, mf_tensor **);
typedef mf_status (*unop)(const mf_tensor *, mf_tensor **);

static const mf_dtype float_dtypes[] = {MF_F32, MF_F64};

/* A [5, 7, 33] view that is the permutation of a contiguous [33, 7, 5]
 * base, on `dev`, plus the base itself (to release). */
static mf_tensor *permuted(const mf_tensor *base_cpu, mf_device dev, mf_tensor **base_out) {
    mf_tensor *base = t_on(base_cpu, dev, false), *v;
    MF_OK_OR_FAIL(mf_permute(base, (int[]){2, 1, 0}, &v));
    *base_out = base;
    return v;
}

/* Every binary op, with the low end of its operands' range. */
static const struct {
    const char *name;
    binop f;
    double lo;
} bin_ops[] = {{"add", mf_add, -2},  {"sub", mf_sub, -2},   {"mul", mf_mul, -2},         {"div", mf_div, 0.5},
               {"pow", mf_pow, 0.5}, {"maximum", mf_maximum, -2}, {"minimum", mf_minimum, -2}};
#define N_BIN (sizeof bin_ops / sizeof bin_ops[0])

Test(cuda_elementwise, binary_ops_match_the_cpu_on_strided_broadcast_views) {
    t_need_cuda();
#define ops bin_ops
    for (size_t k = 0; k < 2; k++) {
        mf_dtype dt = float_dtypes[k];
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            mf_tensor *abase = t_uniform(3 + i, 3, (int64_t[]){33, 7, 5}, dt, ops[i].lo, 2);
            mf_tensor *b = t_uniform(9 + i, 2, (int64_t[]){7, 1}, dt, ops[i].lo, 2);
            mf_tensor *acpu, *adev_base, *ab_cpu;
            MF_OK_OR_FAIL(mf_permute(abase, (int[]){2, 1, 0}, &acpu));
            mf_tensor *adev = permuted(abase, T_CUDA, &adev_base);
            mf_tensor *bdev = t_on(b, T_CUDA, false);
            mf_tensor *want, *got, *want2, *got2;
            MF_OK_OR_FAIL(ops[i].f(acpu, b, &want));
            MF_OK_OR_FAIL(ops[i].f(adev, bdev, &got));
            t_assert_matches_cpu(got, want, 1, ops[i].name);
            /* broadcast on the left operand too */
            MF_OK_OR_FAIL(ops[i].f(b, acpu, &want2));
            MF_OK_OR_FAIL(ops[i].f(bdev, adev, &got2));
            t_assert_matches_cpu(got2, want2, 1, ops[i].name);
            ab_cpu = NULL;
            mf_tensor *all[] = {abase, b, acpu, adev_base, adev, bdev, want, got, want2, got2, ab_cpu};
            t_release_all(all, sizeof all / sizeof all[0]);
        }
    }
#undef ops
}

Test(cuda_elementwise, integer_binary_ops_truncate_and_saturate_like_the_cpu) {
    t_need_cuda();
    mf_dtype dts[] = {MF_I32, MF_I64, MF_U8, MF_I16};
    binop fs[] = {mf_add, mf_sub, mf_mul, mf_div, mf_maximum, mf_minimum};
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
        mf_tensor *a = t_uniform(1 + k, 2, (int64_t[]){4, 9}, dts[k], -50, 120);
        mf_tensor *b = t_uniform(2 + k, 1, (int64_t[]){9}, dts[k], 1, 9);
        mf_tensor *da = t_on(a, T_CUDA, false), *db = t_on(b, T_CUDA, false);
        for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
            mf_tensor *want, *got;
            MF_OK_OR_FAIL(fs[i](a, b, &want));
            MF_OK_OR_FAIL(fs[i](da, db, &got));
            t_assert_matches_cpu(got, want, 0, mf_dtype_name(dts[k]));
            mf_tensor_release(want);
            mf_tensor_release(got);
        }
        mf_tensor_release(a);
        mf_tensor_release(b);
        mf_tensor_release(da);
        mf_tensor_release(db);
    }
}

static mf_status softplus2(const mf_tensor *x, mf_tensor **o) { return mf_softplus(x, 2.0, 3.0, o); }
static mf_status leaky(const mf_tensor *x, mf_tensor **o) { return mf_leaky_relu(x, 0.1, o); }
static mf_status pow3(const mf_tensor *x, mf_tensor **o) { return mf_pow_scalar(x, 3.0, o); }
static mf_status powh(const mf_tensor *x, mf_tensor **o) { return mf_pow_scalar(x, 0.5, o); }
static mf_status clampab(const mf_tensor *x, mf_tensor **o) { return mf_clamp(x, -0.5, 0.7, o); }
static mf_status clamplo(const mf_tensor *x, mf_tensor **o) { return mf_clamp(x, -0.5, NAN, o); }
static mf_status aff(const mf_tensor *x, mf_tensor **o) { return mf_affine(x, -2.5, 0.3, o); }

/* y = f(x^T); loss = sum(y * w). Returns y and leaves x->grad set. */
static mf_tensor *unary_graph(unop f, mf_tensor *x, const mf_tensor *w) {
    mf_tensor *xt, *y, *yw, *loss;
    MF_OK_OR_FAIL(mf_transpose(x, 0, 1, &xt));
    MF_OK_OR_FAIL(f(xt, &y));
    if (y->requires_grad) {
        MF_OK_OR_FAIL(mf_mul(y, w, &yw));
        MF_OK_OR_FAIL(mf_sum(yw, 0, NULL, false, &loss));
        MF_OK_OR_FAIL(mf_backward(loss, NULL, false));
        mf_tensor_release(yw);
        mf_tensor_release(loss);
    }
    mf_tensor_release(xt);
    return y;
}

/* Every unary op, with its input range. */
static const struct {
    const char *name;
    unop f;
    double lo, hi;
} un_ops[] = {{"neg", mf_neg, -2, 2},         {"relu", mf_relu, -2, 2},          {"gelu", mf_gelu, -3, 3},
               {"sigmoid", mf_sigmoid, -6, 6}, {"tanh", mf_tanh, -2, 2},          {"exp", mf_exp, -2, 2},
               {"log", mf_log, 0.2, 3},        {"log1p", mf_log1p, -0.5, 3},      {"sqrt", mf_sqrt, 0.2, 3},
               {"rsqrt", mf_rsqrt, 0.2, 3},    {"abs", mf_abs, -2, 2},            {"square", mf_square, -2, 2},
               {"reciprocal", mf_reciprocal, 0.3, 2}, {"sin", mf_sin, -3, 3},     {"cos", mf_cos, -3, 3},
               {"erf", mf_erf, -2, 2},         {"silu", mf_silu, -3, 3},          {"softplus", softplus2, -3, 3},
               {"leaky_relu", leaky, -2, 2},   {"pow_scalar", pow3, -2, 2},       {"pow_half", powh, 0.1, 2},
               {"clamp", clampab, -2, 2},      {"clamp_lo", clamplo, -2, 2},      {"affine", aff, -2, 2},
               {"sign", mf_sign, -2, 2}};
#define N_UN (sizeof un_ops / sizeof un_ops[0])

Test(cuda_elementwise, unary_ops_and_their_gradients_match_the_cpu) {
    t_need_cuda();
#define ops un_ops
    for (size_t k = 0; k < 2; k++) {
        mf_dtype dt = float_dtypes[k];
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            mf_tensor *x = t_param(t_uniform(11 + i, 2, (int64_t[]){9, 40}, dt, ops[i].lo, ops[i].hi));
            mf_tensor *w = t_uniform(50 + i, 2, (int64_t[]){40, 9}, dt, -1, 1);
            mf_tensor *dx = t_on(x, T_CUDA, true), *dw = t_on(w, T_CUDA, false);
            mf_tensor *want = unary_graph(ops[i].f, x, w);
            mf_tensor *got = unary_graph(ops[i].f, dx, dw);
            t_assert_matches_cpu(got, want, 1, ops[i].name);
            if (x->grad) {
                cr_assert_not_null(dx->grad, "%s: no gradient on the device", ops[i].name);
                t_assert_matches_cpu(dx->grad, x->grad, 2, ops[i].name);
            }
            mf_tensor *all[] = {x, w, dx, dw, want, got};
            t_release_all(all, sizeof all / sizeof all[0]);
        }
    }
#undef ops
}

/* A [n] tensor of uniform values on `dev`: fresh (aligned) for skip 0, one
 * element off the alignment for skip 1. */
static mf_tensor *vec_on(uint64_t seed, int64_t n, int64_t skip, mf_dtype dt, double lo, double hi, mf_device dev,
                         bool grad) {
    mf_tensor *base = t_uniform(seed, 1, &n, dt, lo, hi);
    mf_tensor *v = skip ? t_misaligned_on(base, dev, grad) : t_on(base, dev, grad);
    mf_tensor_release(base);
    return v;
}

/* Dense operands take the 16-byte vector kernels (f32, f64, bf16; 1003
 * elements leave a tail past the last whole vector), and the same ops on a
 * view one element off the alignment take the element kernels: both match
 * the CPU, forward and gradient. */
Test(cuda_elementwise, dense_and_misaligned_operands_match_the_cpu_in_f32_f64_and_bf16) {
    t_need_cuda();
    const mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    const int64_t n = 1003;
    for (int k = 0; k < 3; k++)
        for (int64_t skip = 0; skip < 2; skip++) {
            for (size_t i = 0; i < N_UN; i++) {
                mf_tensor *x = vec_on(70 + i, n, skip, dts[k], un_ops[i].lo, un_ops[i].hi, MF_DEVICE_CPU, true);
                mf_tensor *dx = vec_on(70 + i, n, skip, dts[k], un_ops[i].lo, un_ops[i].hi, T_CUDA, true);
                mf_tensor *y[2], *l[2], *xs[2] = {x, dx};
                for (int d = 0; d < 2; d++) {
                    MF_OK_OR_FAIL(un_ops[i].f(xs[d], &y[d]));
                    l[d] = NULL;
                    if (y[d]->requires_grad) {
                        MF_OK_OR_FAIL(mf_sum(y[d], 0, NULL, false, &l[d]));
                        MF_OK_OR_FAIL(mf_backward(l[d], NULL, false));
                    }
                }
                cr_assert_eq(((uintptr_t)mf_tensor_data(dx) & 15) != 0, skip == 1, "%s: alignment of the view",
                             un_ops[i].name);
                t_assert_matches_cpu(y[1], y[0], 1, un_ops[i].name);
                if (x->grad)
                    t_assert_matches_cpu(dx->grad, x->grad, 2, un_ops[i].name);
                mf_tensor *all[] = {x, dx, y[0], y[1], l[0], l[1]};
                t_release_all(all, 6);
            }
            for (size_t i = 0; i < N_BIN; i++) {
                mf_tensor *a = vec_on(90 + i, n, skip, dts[k], bin_ops[i].lo, 2, MF_DEVICE_CPU, false);
                mf_tensor *b = vec_on(95 + i, n, 0, dts[k], bin_ops[i].lo, 2, MF_DEVICE_CPU, false);
                mf_tensor *da = vec_on(90 + i, n, skip, dts[k], bin_ops[i].lo, 2, T_CUDA, false);
                mf_tensor *db = vec_on(95 + i, n, 0, dts[k], bin_ops[i].lo, 2, T_CUDA, false), *want, *got;
                MF_OK_OR_FAIL(bin_ops[i].f(a, b, &want));
                MF_OK_OR_FAIL(bin_ops[i].f(da, db, &got));
                t_assert_matches_cpu(got, want, 1, bin_ops[i].name);
                mf_tensor *all[] = {a, b, da, db, want, got};
                t_release_all(all, 6);
            }
        }
}

Test(cuda_elementwise, comparisons_and_where_match_the_cpu_with_broadcast) {
    t_need_cuda();
    binop cmps[] = {mf_eq, mf_ne, mf_lt, mf_le, mf_gt, mf_ge};
    mf_dtype dts[] = {MF_F32, MF_F64, MF_I64, MF_BF16};
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
        /* small integers so that ties (eq, le, ge) happen */
        mf_tensor *a = t_uniform(1 + k, 3, (int64_t[]){3, 4, 5}, dts[k], -3, 3);
        mf_tensor *b = t_uniform(2 + k, 2, (int64_t[]){4, 1}, dts[k], -3, 3);
        mf_tensor *ai, *bi;
        MF_OK_OR_FAIL(mf_tensor_empty(3, a->shape, dts[k], MF_DEVICE_CPU, &ai));
        MF_OK_OR_FAIL(mf_tensor_empty(2, b->shape, dts[k], MF_DEVICE_CPU, &bi));
        for (int64_t i = 0; i < mf_tensor_numel(a); i++)
            mf_tensor_set_flat(ai, i, floor(mf_tensor_get_flat(a, i)));
        for (int64_t i = 0; i < mf_tensor_numel(b); i++)
            mf_tensor_set_flat(bi, i, floor(mf_tensor_get_flat(b, i)));
        mf_tensor *da = t_on(ai, T_CUDA, false), *db = t_on(bi, T_CUDA, false);
        for (size_t i = 0; i < sizeof cmps / sizeof cmps[0]; i++) {
            mf_tensor *want, *got, *wsel, *gsel;
            MF_OK_OR_FAIL(cmps[i](ai, bi, &want));
            MF_OK_OR_FAIL(cmps[i](da, db, &got));
            t_assert_matches_cpu(got, want, 0, "compare");
            MF_OK_OR_FAIL(mf_where(want, a, b, &wsel));
            mf_tensor *dafull = t_on(a, T_CUDA, false), *dbfull = t_on(b, T_CUDA, false);
            MF_OK_OR_FAIL(mf_where(got, dafull, dbfull, &gsel));
            t_assert_matches_cpu(gsel, wsel, 0, "where");
            mf_tensor *all[] = {want, got, wsel, gsel, dafull, dbfull};
            for (size_t j = 0; j < sizeof all / sizeof all[0]; j++)
                mf_tensor_release(all[j]);
        }
        mf_tensor *all[] = {a, b, ai, bi, da, db};
        for (size_t j = 0; j < sizeof all / sizeof all[0]; j++)
            mf_tensor_release(all[j]);
    }
}

/* loss = sum(where(a > b, a * b, exp(a)) / (1 + b^2)) + sum(max(a, b)),
 * with b broadcast over a's rows. */
static mf_tensor *mixed_graph(mf_tensor *a, mf_tensor *b) {
    mf_tensor *gt, *ab, *ea, *sel, *b2, *den, *q, *s1, *mx, *s2, *loss;
    MF_OK_OR_FAIL(mf_gt(a, b, &gt));
    MF_OK_OR_FAIL(mf_mul(a, b, &ab));
    MF_OK_OR_FAIL(mf_exp(a, &ea));
    MF_OK_OR_FAIL(mf_where(gt, ab, ea, &sel));
    MF_OK_OR_FAIL(mf_square(b, &b2));
    MF_OK_OR_FAIL(mf_add_scalar(b2, 1.0, &den));
    MF_OK_OR_FAIL(mf_div(sel, den, &q));
    MF_OK_OR_FAIL(mf_sum(q, 0, NULL, false, &s1));
    MF_OK_OR_FAIL(mf_maximum(a, b, &mx));
    MF_OK_OR_FAIL(mf_mean(mx, 1, (int[]){0}, false, &s2));
    mf_tensor *s3;
    MF_OK_OR_FAIL(mf_sum(s2, 0, NULL, false, &s3));
    MF_OK_OR_FAIL(mf_add(s1, s3, &loss));
    MF_OK_OR_FAIL(mf_backward(loss, NULL, false));
    mf_tensor *all[] = {gt, ab, ea, sel, b2, den, q, s1, mx, s2, s3};
    for (size_t j = 0; j < sizeof all / sizeof all[0]; j++)
        mf_tensor_release(all[j]);
    return loss;
}

Test(cuda_elementwise, a_broadcasting_autograd_graph_gives_the_cpu_gradients) {
    t_need_cuda();
    for (size_t k = 0; k < 2; k++) {
        mf_dtype dt = float_dtypes[k];
        mf_tensor *a = t_param(t_uniform(21, 2, (int64_t[]){64, 48}, dt, -1, 1));
        mf_tensor *b = t_param(t_uniform(22, 1, (int64_t[]){48}, dt, -1, 1));
        mf_tensor *da = t_on(a, T_CUDA, true), *db = t_on(b, T_CUDA, true);
        mf_tensor *want = mixed_graph(a, b), *got = mixed_graph(da, db);
        t_assert_matches_cpu(got, want, 10, "loss");
        cr_assert(da->grad && db->grad, "gradients missing on the device");
        t_assert_matches_cpu(da->grad, a->grad, 2, "grad a");
        t_assert_matches_cpu(db->grad, b->grad, 10, "grad b");
        mf_tensor *all[] = {a, b, da, db, want, got};
        for (size_t j = 0; j < sizeof all / sizeof all[0]; j++)
            mf_tensor_release(all[j]);
    }
}

/* ------------------------------------------ in place, scalar, masked_fill */

/* The destination of an in-place op on `dev`: kind 0 a dense aligned
 * [5, 7, 33], kind 1 the same one element off the vector alignment, kind 2
 * every other column of the permutation of a [33, 7, 5] (strided, and the
 * columns it skips must stay untouched). *whole is what to compare. */
static mf_tensor *inplace_dst(const mf_tensor *values, int kind, mf_device dev, mf_tensor **whole) {
    if (kind < 2) {
        mf_tensor *d = kind ? t_misaligned_on(values, dev, false) : t_on(values, dev, false);
        *whole = mf_tensor_retain(d);
        return d;
    }
    mf_tensor *base, *p, *v;
    MF_OK_OR_FAIL(mf_reshape(values, 3, (int64_t[]){33, 7, 5}, &p));
    base = t_on(p, dev, false);
    mf_tensor_release(p);
    MF_OK_OR_FAIL(mf_permute(base, (int[]){2, 1, 0}, &p));
    MF_OK_OR_FAIL(mf_slice(p, 2, 1, 33, 2, &v));
    mf_tensor_release(p);
    *whole = base;
    return v;
}

/* add_, axpy_ (alpha 1 takes the add_ path) and mul_scalar_ write dst in
 * place with src broadcast to it, and record nothing even when src
 * requires grad. */
Test(cuda_elementwise, in_place_add_axpy_and_mul_scalar_match_the_cpu_with_broadcast_sources) {
    t_need_cuda();
    const mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    for (int k = 0; k < 3; k++)
        for (int kind = 0; kind < 3; kind++)
            for (int op = 0; op < 4; op++) {
                mf_tensor *vals = t_uniform(200 + op, 3, (int64_t[]){5, 7, 33}, dts[k], -2, 2);
                mf_tensor *src = t_param(t_uniform(210 + op, 2, (int64_t[]){7, 1}, dts[k], -2, 2));
                if (op == 1) { /* a source broadcast along the leading dims instead */
                    mf_tensor_release(src);
                    src = t_param(t_uniform(220, 1, (int64_t[]){kind == 2 ? 16 : 33}, dts[k], -2, 2));
                }
                mf_tensor *dsrc = t_on(src, T_CUDA, true), *srcs[2] = {src, dsrc}, *whole[2], *dst[2];
                mf_device devs[2] = {MF_DEVICE_CPU, T_CUDA};
                for (int d = 0; d < 2; d++) {
                    dst[d] = inplace_dst(vals, kind, devs[d], &whole[d]);
                    if (op == 0)
                        MF_OK_OR_FAIL(mf_add_(dst[d], srcs[d]));
                    else if (op == 1)
                        MF_OK_OR_FAIL(mf_axpy_(dst[d], -0.75, srcs[d]));
                    else if (op == 2)
                        MF_OK_OR_FAIL(mf_axpy_(dst[d], 1.0, srcs[d]));
                    else
                        MF_OK_OR_FAIL(mf_mul_scalar_(dst[d], -1.5));
                    cr_assert(!dst[d]->grad_fn && !dst[d]->requires_grad, "in-place op %d was recorded", op);
                }
                char what[64];
                snprintf(what, sizeof what, "in-place op %d, %s, dst kind %d", op, mf_dtype_name(dts[k]), kind);
                t_assert_matches_cpu(whole[1], whole[0], 1, what);
                mf_tensor *all[] = {vals, src, dsrc, whole[0], whole[1], dst[0], dst[1]};
                t_release_all(all, sizeof all / sizeof all[0]);
            }
}

typedef struct {
    double s;
    bool transpose;
} scalar_ctx;

/* op(x^T) when ctx asks for a transposed (strided) input. */
static mf_status maybe_t(const mf_tensor *x, bool transpose, mf_tensor **out) {
    if (!transpose) {
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    }
    return mf_transpose(x, 0, x->ndim - 1, out);
}

static mf_status op_mul_scalar(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const scalar_ctx *c = ctx;
    mf_tensor *x;
    MF_TRY(maybe_t(in[0], c->transpose, &x));
    mf_status st = mf_mul_scalar(x, c->s, out);
    mf_tensor_release(x);
    return st;
}

Test(cuda_elementwise, mul_scalar_and_its_gradient_match_the_cpu_on_dense_and_strided_inputs) {
    t_need_cuda();
    const mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = t_uniform(230, 3, (int64_t[]){9, 4, 37}, dts[k], -3, 3);
        bool g[1] = {true};
        for (int tr = 0; tr < 2; tr++) {
            scalar_ctx c = {.s = tr ? 0.3 : -2.5, .transpose = tr};
            t_cuda_compare(tr ? "mul_scalar strided" : "mul_scalar", 1, &x, g, op_mul_scalar, &c, 1);
        }
        mf_tensor_release(x);
    }
}

static mf_status op_masked_fill(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const scalar_ctx *c = ctx;
    mf_tensor *x;
    MF_TRY(maybe_t(in[0], c->transpose, &x));
    mf_status st = mf_masked_fill(x, in[1], c->s, out);
    mf_tensor_release(x);
    return st;
}

/* A bool mask of `shape`, true where a uniform draw is below 0.4. */
static mf_tensor *bool_mask(uint64_t seed, int ndim, const int64_t *shape) {
    mf_tensor *u = t_uniform(seed, ndim, shape, MF_F64, 0, 1), *m;
    MF_OK_OR_FAIL(mf_tensor_empty(ndim, shape, MF_BOOL, MF_DEVICE_CPU, &m));
    for (int64_t i = 0; i < mf_tensor_numel(u); i++)
        mf_tensor_set_flat(m, i, mf_tensor_get_flat(u, i) < 0.4);
    mf_tensor_release(u);
    return m;
}

/* The mask broadcasts over x, x over the mask, or both to a larger shape;
 * filled elements get no gradient. */
Test(cuda_elementwise, masked_fill_and_its_gradient_match_the_cpu_with_a_broadcast_mask) {
    t_need_cuda();
    const struct {
        int xn;
        int64_t xs[3];
        int mn;
        int64_t ms[3];
        bool transpose;
    } cases[] = {
        {3, {6, 5, 4}, 2, {5, 1}, true},     /* x^T [4, 5, 6], mask over dims 1, 2 */
        {3, {4, 5, 6}, 3, {4, 1, 6}, false}, /* mask constant along the middle dim */
        {2, {5, 6}, 3, {3, 5, 6}, false},    /* x broadcast over the mask's leading dim */
        {3, {4, 1, 6}, 2, {5, 1}, false},    /* both broadcast to [4, 5, 6] */
    };
    const mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            mf_tensor *in[2] = {t_uniform(240 + i, cases[i].xn, cases[i].xs, dts[k], -2, 2),
                                bool_mask(250 + i, cases[i].mn, cases[i].ms)};
            bool g[2] = {true, false};
            scalar_ctx c = {.s = -7.25, .transpose = cases[i].transpose};
            t_cuda_compare("masked_fill", 2, in, g, op_masked_fill, &c, 1);
            t_release_all(in, 2);
        }
}
