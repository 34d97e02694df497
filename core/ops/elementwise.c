/* Elementwise ops: broadcasting forward dispatch and the backward of each,
 * side by side. Kernels: core/backend/<dev>/elementwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/kern_elementwise.h"
#include "core/ops/internal.h"
#include "medfm/amp.h"

mf_status mf_broadcast_shape(const char *op, int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                             int64_t *out) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t x = i < n - na ? 1 : a[i - (n - na)];
        int64_t y = i < n - nb ? 1 : b[i - (n - nb)];
        if (x != y && x != 1 && y != 1)
            return MF_ERR(MF_ERR_SHAPE, "%s: shapes %s and %s cannot be broadcast together", op,
                          mf_shape_str(na, a), mf_shape_str(nb, b));
        out[i] = x == 1 ? y : x;
    }
    *nout = n;
    return MF_OK;
}

/* ---------------------------------------------------------------- binary */

static const char *bin_name[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};

/* Checks two operands, allocates the broadcast output (dtype out_dt) and
 * the operands' broadcast views; on failure nothing is left allocated. */
static mf_status broadcast_pair(const char *name, const mf_tensor *a, const mf_tensor *b, mf_dtype out_dt,
                                mf_tensor **y, mf_tensor **av, mf_tensor **bv) {
    MF_TRY(mf__same_device(name, a, b));
    MF_TRY(mf__same_dtype(name, a, b));
    int n;
    int64_t shape[MF_MAX_DIMS];
    MF_TRY(mf_broadcast_shape(name, a->ndim, a->shape, b->ndim, b->shape, &n, shape));
    *y = *av = *bv = NULL;
    mf_status st;
    /* the output keeps the layout of an operand of its full shape */
    const mf_tensor *full = a->ndim == n && !memcmp(a->shape, shape, sizeof *shape * (size_t)n)   ? a
                            : b->ndim == n && !memcmp(b->shape, shape, sizeof *shape * (size_t)n) ? b
                                                                                                   : NULL;
    MF_CHECK(full ? mf__empty_layout_of(full, out_dt, y) : mf__new_like_shape(a, n, shape, out_dt, y));
    MF_CHECK(mf__expand_raw(a, n, shape, av));
    MF_CHECK(mf__expand_raw(b, n, shape, bv));
    return MF_OK;
cleanup:
    mf_tensor_clear(y);
    mf_tensor_clear(av);
    mf_tensor_clear(bv);
    return st;
}

/* Runs `call` (which launches the kernel on y, av, bv) and hands y out. */
#define RUN_PAIR(call)                     \
    do {                                   \
        st = (call);                       \
        mf_tensor_release(av);             \
        mf_tensor_release(bv);             \
        if (st != MF_OK) {                 \
            mf_tensor_release(y);          \
            return st;                     \
        }                                  \
        *out = y;                          \
        return MF_OK;                      \
    } while (0)

static mf_status binary_raw(mf_binary_op op, const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    const char *name = bin_name[op];
    if (a->dtype == MF_BOOL)
        return MF_ERR(MF_ERR_DTYPE, "%s: arithmetic on bool tensors is not defined", name);
    const mf_backend *be;
    MF_TRY(mf_backend_of(a, &be));
    mf_status (*fn)(mf_binary_op, mf_tensor *, const mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, elementwise, binary, name);
    mf_tensor *y, *av, *bv;
    mf_status st;
    MF_TRY(broadcast_pair(name, a, b, a->dtype, &y, &av, &bv));
    RUN_PAIR(fn(op, y, av, bv));
}

/* grad * factor summed back to the input's shape (node input slot i). */
static mf_status reduce_grad(mf_node *n, int i, mf_tensor *g, mf_tensor **out) {
    return mf_sum_to_shape(g, n->in_ndim[i], n->in_shape[i], out);
}

static mf_status add_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    for (int i = 0; i < 2; i++) {
        if (!n->in[i])
            continue;
        mf_tensor *t = NULL;
        if (i == 1 && n->iarg[0]) /* subtraction */
            MF_TRY(mf_neg(g, &t));
        mf_status st = reduce_grad(n, i, t ? t : (mf_tensor *)g, &gin[i]);
        mf_tensor_release(t);
        MF_TRY(st);
    }
    return MF_OK;
}

static mf_status mul_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    for (int i = 0; i < 2; i++) {
        if (!n->in[i])
            continue;
        mf_tensor *t;
        MF_TRY(mf_mul(g, n->saved[1 - i], &t));
        mf_status st = reduce_grad(n, i, t, &gin[i]);
        mf_tensor_release(t);
        MF_TRY(st);
    }
    return MF_OK;
}

/* saved: a, b, out */
static mf_status div_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    mf_status st = MF_OK;
    mf_tensor *t = NULL, *u = NULL;
    if (n->in[0]) {
        MF_CHECK(mf_div(g, n->saved[1], &t));
        MF_CHECK(reduce_grad(n, 0, t, &gin[0]));
        mf_tensor_clear(&t);
    }
    if (n->in[1]) { /* -g * out / b */
        MF_CHECK(mf_mul(g, n->saved[2], &t));
        MF_CHECK(mf_div(t, n->saved[1], &u));
        mf_tensor_clear(&t);
        MF_CHECK(mf_neg(u, &t));
        MF_CHECK(reduce_grad(n, 1, t, &gin[1]));
    }
cleanup:
    mf_tensor_release(t);
    mf_tensor_release(u);
    return st;
}

/* saved: a, b, out */
static mf_status pow_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    mf_status st = MF_OK;
    mf_tensor *t = NULL, *u = NULL, *v = NULL, *zero = NULL, *pos = NULL;
    const mf_tensor *a = n->saved[0], *b = n->saved[1], *y = n->saved[2];
    if (n->in[0]) { /* g * b * a^(b-1) */
        MF_CHECK(mf_add_scalar(b, -1.0, &t));
        MF_CHECK(mf_pow(a, t, &u));
        mf_tensor_clear(&t);
        MF_CHECK(mf_mul(u, b, &t));
        mf_tensor_clear(&u);
        MF_CHECK(mf_mul(t, g, &u));
        MF_CHECK(reduce_grad(n, 0, u, &gin[0]));
        mf_tensor_clear(&t);
        mf_tensor_clear(&u);
    }
    if (n->in[1]) { /* g * out * log(a) where a > 0, else 0 */
        MF_CHECK(mf_tensor_zeros(0, NULL, a->dtype, a->storage->device, &zero));
        MF_CHECK(mf_gt(a, zero, &pos));
        MF_CHECK(mf_log(a, &t));
        MF_CHECK(mf_where(pos, t, zero, &u));
        mf_tensor_clear(&t);
        MF_CHECK(mf_mul(u, y, &t));
        MF_CHECK(mf_mul(t, g, &v));
        MF_CHECK(reduce_grad(n, 1, v, &gin[1]));
    }
cleanup:
    mf_tensor_release(t);
    mf_tensor_release(u);
    mf_tensor_release(v);
    mf_tensor_release(zero);
    mf_tensor_release(pos);
    return st;
}

/* maximum/minimum: the winner takes the gradient, ties split it evenly.
 * saved: a, b; iarg[0] = 1 for maximum. */
static mf_status minmax_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    mf_status st = MF_OK;
    mf_tensor *win = NULL, *tie = NULL, *wf = NULL, *tf = NULL, *wa = NULL, *t = NULL, *wb = NULL;
    const mf_tensor *a = n->saved[0], *b = n->saved[1];
    MF_CHECK(n->iarg[0] ? mf_gt(a, b, &win) : mf_lt(a, b, &win));
    MF_CHECK(mf_eq(a, b, &tie));
    MF_CHECK(mf_to_dtype(win, g->dtype, &wf));
    MF_CHECK(mf_to_dtype(tie, g->dtype, &tf));
    MF_CHECK(mf_affine(tf, 0.5, 0.0, &t));
    MF_CHECK(mf_add(wf, t, &wa)); /* weight of a */
    mf_tensor_clear(&t);
    if (n->in[0]) {
        MF_CHECK(mf_mul(g, wa, &t));
        MF_CHECK(reduce_grad(n, 0, t, &gin[0]));
        mf_tensor_clear(&t);
    }
    if (n->in[1]) {
        MF_CHECK(mf_affine(wa, -1.0, 1.0, &wb));
        MF_CHECK(mf_mul(g, wb, &t));
        MF_CHECK(reduce_grad(n, 1, t, &gin[1]));
    }
cleanup:
    mf_tensor_release(win);
    mf_tensor_release(tie);
    mf_tensor_release(wf);
    mf_tensor_release(tf);
    mf_tensor_release(wa);
    mf_tensor_release(wb);
    mf_tensor_release(t);
    return st;
}

static mf_status binary_op_same(mf_binary_op op, const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    mf_tensor *y;
    MF_TRY(binary_raw(op, a, b, &y));
    mf_tensor *ins[2] = {(mf_tensor *)a, (mf_tensor *)b};
    mf_backward_fn bw = NULL;
    switch (op) {
    case MF_BIN_ADD:
    case MF_BIN_SUB: bw = add_backward; break;
    case MF_BIN_MUL: bw = mul_backward; break;
    case MF_BIN_DIV: bw = div_backward; break;
    case MF_BIN_POW: bw = pow_backward; break;
    case MF_BIN_MAX:
    case MF_BIN_MIN: bw = minmax_backward; break;
    }
    mf_node *n;
    mf_status st = mf_autograd_record(bin_name[op], y, 2, ins, bw, &n);
    if (st == MF_OK && n) {
        n->iarg[0] = op == MF_BIN_SUB || op == MF_BIN_MAX;
        if (op != MF_BIN_ADD && op != MF_BIN_SUB) {
            st = mf_node_save(n, a);
            if (st == MF_OK)
                st = mf_node_save(n, b);
            if (st == MF_OK && (op == MF_BIN_DIV || op == MF_BIN_POW))
                st = mf_node_save(n, y);
        }
    }
    if (st != MF_OK) {
        mf_tensor_release(y);
        return st;
    }
    *out = y;
    return MF_OK;
}

/* Under autocast, mixed float operands meet in the widest dtype. */
static mf_status binary_op(mf_binary_op op, const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    if (a->dtype == b->dtype)
        return binary_op_same(op, a, b, out);
    mf_tensor *c[2];
    MF_TRY(mf_autocast_args(MF_AMP_WIDEST, 2, (const mf_tensor *const[]){a, b}, c));
    mf_status st = binary_op_same(op, c[0], c[1], out);
    mf_autocast_release(2, c);
    return st;
}

mf_status mf_add(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return binary_op(MF_BIN_ADD, a, b, out); }
mf_status mf_sub(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return binary_op(MF_BIN_SUB, a, b, out); }
mf_status mf_mul(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return binary_op(MF_BIN_MUL, a, b, out); }
mf_status mf_div(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return binary_op(MF_BIN_DIV, a, b, out); }
mf_status mf_pow(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return binary_op(MF_BIN_POW, a, b, out); }
mf_status mf_maximum(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    return binary_op(MF_BIN_MAX, a, b, out);
}
mf_status mf_minimum(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    return binary_op(MF_BIN_MIN, a, b, out);
}

/* ----------------------------------------------------------------- unary */

static const char *un_name[] = {"neg",     "relu",  "gelu",       "sigmoid",    "tanh",   "exp",
                                "log",     "sqrt",  "rsqrt",      "abs",        "softplus", "pow_scalar",
                                "square",  "leaky_relu", "silu",  "clamp",      "reciprocal", "affine",
                                "sign",    "log1p", "sin",        "cos",        "erf"};

/* Ops whose derivative is cheapest from the output y. */
static bool uses_output(mf_unary_op op) {
    return op == MF_UN_SIGMOID || op == MF_UN_TANH || op == MF_UN_EXP || op == MF_UN_SQRT || op == MF_UN_RSQRT ||
           op == MF_UN_RECIPROCAL;
}

/* saved: x, y (y may be empty; for relu and the uses_output ops y twice,
 * standing in for x as the layout of the gradient); iarg[0] = op; farg = params */
static mf_status unary_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_tensor *x = n->saved[0];
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*fn)(mf_unary_op, double, double, mf_tensor *, const mf_tensor *, const mf_tensor *,
                    const mf_tensor *);
    MF_KERNEL(fn, be, elementwise, unary_backward, n->op);
    mf_tensor *gi;
    MF_TRY(mf__empty_layout_of(x, x->dtype, &gi));
    mf_status st = fn((mf_unary_op)n->iarg[0], n->farg[0], n->farg[1], gi, g, x, n->saved[1]);
    if (st != MF_OK) {
        mf_tensor_release(gi);
        return st;
    }
    gin[0] = gi;
    return MF_OK;
}

static mf_status unary_op(mf_unary_op op, double p0, double p1, const mf_tensor *x, mf_tensor **out) {
    const char *name = un_name[op];
    if (op != MF_UN_NEG && op != MF_UN_ABS && op != MF_UN_SIGN && op != MF_UN_CLAMP && op != MF_UN_AFFINE &&
        op != MF_UN_RELU && op != MF_UN_SQUARE)
        MF_TRY(mf__need_float(name, x));
    if (x->dtype == MF_BOOL)
        return MF_ERR(MF_ERR_DTYPE, "%s: not defined on bool tensors", name);
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_unary_op, double, double, mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, elementwise, unary, name);
    mf_tensor *y;
    MF_TRY(mf__empty_layout_of(x, x->dtype, &y));
    mf_status st = fn(op, p0, p1, y, x);
    mf_node *n = NULL;
    if (st == MF_OK && op != MF_UN_SIGN)
        st = mf_autograd_record(name, y, 1, (mf_tensor *const *)&x, unary_backward, &n);
    if (st == MF_OK && n) {
        n->iarg[0] = op;
        n->farg[0] = p0;
        n->farg[1] = p1;
        /* relu's derivative is as clear from y (y > 0 exactly where x > 0)
         * and the output-based ones need only y: saving x too would keep
         * the input alive (for relu after batch norm, a whole activation). */
        bool y_only = uses_output(op) || op == MF_UN_RELU;
        st = mf_node_save(n, y_only ? y : x);
        if (st == MF_OK)
            st = mf_node_save(n, y_only ? y : NULL);
    }
    if (st != MF_OK) {
        mf_tensor_release(y);
        return st;
    }
    *out = y;
    return MF_OK;
}

mf_status mf_neg(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_NEG, 0, 0, x, out); }
mf_status mf_relu(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_RELU, 0, 0, x, out); }
mf_status mf_gelu(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_GELU, 0, 0, x, out); }
mf_status mf_sigmoid(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_SIGMOID, 0, 0, x, out); }
mf_status mf_tanh(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_TANH, 0, 0, x, out); }
/* exp and log run in f32 under autocast (their range and precision matter). */
static mf_status unary_f32(mf_unary_op op, const mf_tensor *x, mf_tensor **out) {
    if (!mf_autocast_active())
        return unary_op(op, 0, 0, x, out);
    mf_tensor *c;
    MF_TRY(mf_autocast_args(MF_AMP_F32, 1, &x, &c));
    mf_status st = unary_op(op, 0, 0, c, out);
    mf_tensor_release(c);
    return st;
}
mf_status mf_exp(const mf_tensor *x, mf_tensor **out) { return unary_f32(MF_UN_EXP, x, out); }
mf_status mf_log(const mf_tensor *x, mf_tensor **out) { return unary_f32(MF_UN_LOG, x, out); }
mf_status mf_log1p(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_LOG1P, 0, 0, x, out); }
mf_status mf_sqrt(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_SQRT, 0, 0, x, out); }
mf_status mf_rsqrt(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_RSQRT, 0, 0, x, out); }
mf_status mf_abs(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_ABS, 0, 0, x, out); }
mf_status mf_square(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_SQUARE, 0, 0, x, out); }
mf_status mf_reciprocal(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_RECIPROCAL, 0, 0, x, out); }
mf_status mf_sin(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_SIN, 0, 0, x, out); }
mf_status mf_cos(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_COS, 0, 0, x, out); }
mf_status mf_erf(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_ERF, 0, 0, x, out); }
mf_status mf_silu(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_SILU, 0, 0, x, out); }
mf_status mf_sign(const mf_tensor *x, mf_tensor **out) { return unary_op(MF_UN_SIGN, 0, 0, x, out); }
mf_status mf_softplus(const mf_tensor *x, double beta, double threshold, mf_tensor **out) {
    if (!(beta > 0))
        return MF_ERR(MF_ERR_INVALID, "softplus: beta must be > 0, got %g", beta);
    return unary_op(MF_UN_SOFTPLUS, beta, threshold, x, out);
}
mf_status mf_leaky_relu(const mf_tensor *x, double slope, mf_tensor **out) {
    return unary_op(MF_UN_LEAKY_RELU, slope, 0, x, out);
}
mf_status mf_pow_scalar(const mf_tensor *x, double exponent, mf_tensor **out) {
    return unary_op(MF_UN_POW, exponent, 0, x, out);
}
mf_status mf_clamp(const mf_tensor *x, double lo, double hi, mf_tensor **out) {
    if (!isnan(lo) && !isnan(hi) && lo > hi)
        return MF_ERR(MF_ERR_INVALID, "clamp: lower bound %g exceeds upper bound %g", lo, hi);
    return unary_op(MF_UN_CLAMP, lo, hi, x, out);
}
mf_status mf_affine(const mf_tensor *a, double scale, double shift, mf_tensor **out) {
    return unary_op(MF_UN_AFFINE, scale, shift, a, out);
}
mf_status mf_add_scalar(const mf_tensor *a, double s, mf_tensor **out) { return mf_affine(a, 1.0, s, out); }
mf_status mf_mul_scalar(const mf_tensor *a, double s, mf_tensor **out) { return mf_affine(a, s, 0.0, out); }

/* ------------------------------------------------------ compare / where */

static const char *cmp_name[] = {"eq", "ne", "lt", "le", "gt", "ge"};

static mf_status compare_op(mf_compare_op op, const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    const char *name = cmp_name[op];
    const mf_backend *be;
    MF_TRY(mf_backend_of(a, &be));
    mf_status (*fn)(mf_compare_op, mf_tensor *, const mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, elementwise, compare, name);
    mf_tensor *y, *av, *bv;
    mf_status st;
    MF_TRY(broadcast_pair(name, a, b, MF_BOOL, &y, &av, &bv));
    RUN_PAIR(fn(op, y, av, bv));
}

mf_status mf_eq(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return compare_op(MF_CMP_EQ, a, b, out); }
mf_status mf_ne(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return compare_op(MF_CMP_NE, a, b, out); }
mf_status mf_lt(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return compare_op(MF_CMP_LT, a, b, out); }
mf_status mf_le(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return compare_op(MF_CMP_LE, a, b, out); }
mf_status mf_gt(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return compare_op(MF_CMP_GT, a, b, out); }
mf_status mf_ge(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) { return compare_op(MF_CMP_GE, a, b, out); }

/* saved: cond */
static mf_status where_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    mf_status st = MF_OK;
    mf_tensor *zero = NULL, *t = NULL;
    MF_CHECK(mf_tensor_zeros(0, NULL, g->dtype, g->storage->device, &zero));
    for (int i = 1; i < 3; i++) {
        if (!n->in[i])
            continue;
        MF_CHECK(i == 1 ? mf_where(n->saved[0], g, zero, &t) : mf_where(n->saved[0], zero, g, &t));
        MF_CHECK(reduce_grad(n, i, t, &gin[i]));
        mf_tensor_clear(&t);
    }
cleanup:
    mf_tensor_release(zero);
    mf_tensor_release(t);
    return st;
}

mf_status mf_where(const mf_tensor *cond, const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    if (cond->dtype != MF_BOOL)
        return MF_ERR(MF_ERR_DTYPE, "where: condition must be bool, got %s", mf_dtype_name(cond->dtype));
    MF_TRY(mf__same_device("where", cond, a));
    MF_TRY(mf__same_device("where", a, b));
    MF_TRY(mf__same_dtype("where", a, b));
    int n1, n;
    int64_t s1[MF_MAX_DIMS], shape[MF_MAX_DIMS];
    MF_TRY(mf_broadcast_shape("where", a->ndim, a->shape, b->ndim, b->shape, &n1, s1));
    MF_TRY(mf_broadcast_shape("where", cond->ndim, cond->shape, n1, s1, &n, shape));
    const mf_backend *be;
    MF_TRY(mf_backend_of(a, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, elementwise, where, "where");
    mf_tensor *y = NULL, *cv = NULL, *av = NULL, *bv = NULL;
    mf_status st;
    MF_CHECK(mf__new_like_shape(a, n, shape, a->dtype, &y));
    MF_CHECK(mf__expand_raw(cond, n, shape, &cv));
    MF_CHECK(mf__expand_raw(a, n, shape, &av));
    MF_CHECK(mf__expand_raw(b, n, shape, &bv));
    MF_CHECK(fn(y, cv, av, bv));
    mf_tensor *ins[3] = {(mf_tensor *)cond, (mf_tensor *)a, (mf_tensor *)b};
    mf_node *node;
    MF_CHECK(mf_autograd_record("where", y, 3, ins, where_backward, &node));
    if (node)
        MF_CHECK(mf_node_save(node, cond));
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(y);
    mf_tensor_release(cv);
    mf_tensor_release(av);
    mf_tensor_release(bv);
    return st;
}

/* ------------------------------------------------------------------ cast */

static mf_status cast_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    return mf_to_dtype(g, (mf_dtype)n->iarg[0], &gin[0]);
}

mf_status mf_to_dtype(const mf_tensor *x, mf_dtype dt, mf_tensor **out) {
    if ((unsigned)dt >= MF_DTYPE_COUNT)
        return MF_ERR(MF_ERR_DTYPE, "to_dtype: unknown dtype %d", (int)dt);
    mf_tensor *y;
    MF_TRY(mf__empty_layout_of(x, dt, &y));
    mf_status st = mf_tensor_copy_(y, x);
    mf_node *n = NULL;
    if (st == MF_OK && mf_dtype_is_float(dt))
        st = mf_autograd_record("to_dtype", y, 1, (mf_tensor *const *)&x, cast_backward, &n);
    if (st == MF_OK && n)
        n->iarg[0] = x->dtype;
    if (st != MF_OK) {
        mf_tensor_release(y);
        return st;
    }
    *out = y;
    return MF_OK;
}

/* -------------------------------------------------------------- in place */

mf_status mf_add_(mf_tensor *dst, const mf_tensor *src) {
    MF_TRY(mf__same_device("add_", dst, src));
    MF_TRY(mf__same_dtype("add_", dst, src));
    const mf_backend *be;
    MF_TRY(mf_backend_of(dst, &be));
    mf_status (*fn)(mf_binary_op, mf_tensor *, const mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, elementwise, binary, "add_");
    mf_tensor *sv;
    MF_TRY(mf__expand_raw(src, dst->ndim, dst->shape, &sv));
    mf_status st = fn(MF_BIN_ADD, dst, dst, sv);
    mf_tensor_release(sv);
    return st;
}

mf_status mf_mul_scalar_(mf_tensor *dst, double s) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(dst, &be));
    mf_status (*fn)(mf_unary_op, double, double, mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, elementwise, unary, "mul_scalar_");
    return fn(MF_UN_AFFINE, s, 0.0, dst, dst);
}

mf_status mf_axpy_(mf_tensor *dst, double alpha, const mf_tensor *src) {
    if (alpha == 1.0)
        return mf_add_(dst, src);
    bool prev = mf_grad_set_enabled(false);
    mf_tensor *t;
    mf_status st = mf_mul_scalar(src, alpha, &t);
    mf_grad_set_enabled(prev);
    MF_TRY(st);
    st = mf_add_(dst, t);
    mf_tensor_release(t);
    return st;
}
