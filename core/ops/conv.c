/* Convolutions (1D/2D/3D, stride, padding, dilation, groups) and transposed
 * convolutions: forward dispatch and backward side by side. Both lower to
 * one geometry (mf_conv_geom: conv input X -> conv output Y); the transposed
 * conv runs the conv's adjoint kernels, so
 *   conv:       y  = forward(x),        gx = backward_data(gy)
 *   transposed: y  = backward_data(x),  gx = forward(gy)
 * and both take the weight gradient from backward_weight(X side, Y side).
 * Kernels: core/backend/<dev>/conv*. */
#include <stdlib.h>
#include <string.h>

#include "core/backend/kern_conv.h"
#include "core/ops/internal.h"
#include "medfm/amp.h"

static _Thread_local bool channels_last;

bool mf_conv_set_channels_last(bool on) {
    bool was = channels_last;
    channels_last = on;
    return was;
}

bool mf_conv_channels_last(void) { return channels_last; }

mf_conv_params mf_conv_params_default(void) {
    mf_conv_params p;
    memset(&p, 0, sizeof p);
    for (int i = 0; i < 3; i++)
        p.stride[i] = 1, p.dilation[i] = 1;
    p.groups = 1;
    return p;
}

static mf_status check_common(const char *op, const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias,
                              const mf_conv_params *p) {
    if (!p)
        return MF_ERR(MF_ERR_INVALID, "%s: params must not be NULL", op);
    if (x->ndim < 3 || x->ndim > 5)
        return MF_ERR(MF_ERR_SHAPE, "%s: input %s must be (N, C, L), (N, C, H, W) or (N, C, D, H, W)", op,
                      MF_SHAPE(x));
    if (w->ndim != x->ndim)
        return MF_ERR(MF_ERR_SHAPE, "%s: weight %s must have the rank of input %s", op, MF_SHAPE(w), MF_SHAPE(x));
    MF_TRY(mf__same_device(op, x, w));
    MF_TRY(mf__same_dtype(op, x, w));
    MF_TRY(mf__need_float(op, x));
    if (bias) {
        MF_TRY(mf__same_device(op, x, bias));
        MF_TRY(mf__same_dtype(op, x, bias));
    }
    if (p->groups < 1)
        return MF_ERR(MF_ERR_INVALID, "%s: groups must be >= 1, got %lld", op, (long long)p->groups);
    int nsp = x->ndim - 2;
    for (int d = 0; d < nsp; d++) {
        if (p->stride[d] < 1 || p->dilation[d] < 1 || p->padding[d] < 0)
            return MF_ERR(MF_ERR_INVALID,
                          "%s: spatial dim %d needs stride >= 1, dilation >= 1, padding >= 0 (got %lld, %lld, %lld)",
                          op, d, (long long)p->stride[d], (long long)p->dilation[d], (long long)p->padding[d]);
    }
    return MF_OK;
}

/* Right-aligns the spatial parameters of p into g. */
static void geom_params(mf_conv_geom *g, int nsp, const mf_conv_params *p) {
    for (int s = 0; s < 3; s++)
        g->in[s] = g->out[s] = g->k[s] = g->stride[s] = g->dil[s] = 1, g->pad[s] = 0;
    g->nsp = nsp;
    for (int d = 0; d < nsp; d++) {
        int s = 3 - nsp + d;
        g->stride[s] = p->stride[d];
        g->pad[s] = p->padding[d];
        g->dil[s] = p->dilation[d];
    }
    g->groups = p->groups;
}

static mf_status conv_geom(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, const mf_conv_params *p,
                           mf_conv_geom *g) {
    MF_TRY(check_common("conv", x, w, bias, p));
    int nsp = x->ndim - 2;
    geom_params(g, nsp, p);
    g->n = x->shape[0];
    g->cin = x->shape[1];
    g->cout = w->shape[0];
    if (g->cin % p->groups || g->cout % p->groups)
        return MF_ERR(MF_ERR_SHAPE, "conv: groups %lld must divide input channels %lld and output channels %lld",
                      (long long)p->groups, (long long)g->cin, (long long)g->cout);
    if (w->shape[1] * p->groups != g->cin)
        return MF_ERR(MF_ERR_SHAPE, "conv: weight %s expects %lld input channels, input %s has %lld",
                      MF_SHAPE(w), (long long)(w->shape[1] * p->groups), MF_SHAPE(x), (long long)g->cin);
    if (bias && (bias->ndim != 1 || bias->shape[0] != g->cout))
        return MF_ERR(MF_ERR_SHAPE, "conv: bias %s must be [%lld] for weight %s", MF_SHAPE(bias),
                      (long long)g->cout, MF_SHAPE(w));
    for (int d = 0; d < nsp; d++) {
        int s = 3 - nsp + d;
        g->in[s] = x->shape[2 + d];
        g->k[s] = w->shape[2 + d];
        int64_t span = g->dil[s] * (g->k[s] - 1) + 1, padded = g->in[s] + 2 * g->pad[s];
        if (g->k[s] < 1 || span > padded)
            return MF_ERR(MF_ERR_SHAPE,
                          "conv: kernel %s (dilated extent %lld) is larger than padded input %s (extent %lld) in "
                          "spatial dim %d",
                          MF_SHAPE(w), (long long)span, MF_SHAPE(x), (long long)padded, d);
        g->out[s] = (padded - span) / g->stride[s] + 1;
    }
    return MF_OK;
}

/* Geometry of the conv whose adjoint is the transposed conv: its input is
 * the transposed conv's output. */
static mf_status convt_geom(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, const mf_conv_params *p,
                            mf_conv_geom *g) {
    MF_TRY(check_common("conv_transpose", x, w, bias, p));
    int nsp = x->ndim - 2;
    geom_params(g, nsp, p);
    g->n = x->shape[0];
    g->cout = x->shape[1]; /* conv output side = transposed input */
    if (w->shape[0] != g->cout)
        return MF_ERR(MF_ERR_SHAPE, "conv_transpose: weight %s expects %lld input channels, input %s has %lld",
                      MF_SHAPE(w), (long long)w->shape[0], MF_SHAPE(x), (long long)g->cout);
    if (g->cout % p->groups)
        return MF_ERR(MF_ERR_SHAPE, "conv_transpose: groups %lld must divide input channels %lld",
                      (long long)p->groups, (long long)g->cout);
    g->cin = w->shape[1] * p->groups;
    if (bias && (bias->ndim != 1 || bias->shape[0] != g->cin))
        return MF_ERR(MF_ERR_SHAPE, "conv_transpose: bias %s must be [%lld] for weight %s", MF_SHAPE(bias),
                      (long long)g->cin, MF_SHAPE(w));
    for (int d = 0; d < nsp; d++) {
        int s = 3 - nsp + d;
        int64_t op = p->output_padding[d];
        if (op < 0 || (op >= p->stride[d] && op >= p->dilation[d]))
            return MF_ERR(MF_ERR_INVALID,
                          "conv_transpose: output_padding %lld in spatial dim %d must be smaller than stride %lld "
                          "or dilation %lld",
                          (long long)op, d, (long long)p->stride[d], (long long)p->dilation[d]);
        g->out[s] = x->shape[2 + d];
        g->k[s] = w->shape[2 + d];
        g->in[s] = (g->out[s] - 1) * g->stride[s] - 2 * g->pad[s] + g->dil[s] * (g->k[s] - 1) + op + 1;
        if (g->k[s] < 1 || g->in[s] < 1)
            return MF_ERR(MF_ERR_SHAPE, "conv_transpose: input %s with weight %s gives an empty output in dim %d",
                          MF_SHAPE(x), MF_SHAPE(w), d);
    }
    return MF_OK;
}

static void conv_shape(const mf_conv_geom *g, bool in_side, int64_t *shape) {
    shape[0] = g->n;
    shape[1] = in_side ? g->cin : g->cout;
    for (int d = 0; d < g->nsp; d++)
        shape[2 + d] = in_side ? g->in[3 - g->nsp + d] : g->out[3 - g->nsp + d];
}

typedef enum { K_FWD, K_BWD_DATA } kind;

/* Runs forward (Y from X) or backward_data (X from Y) with contiguous operands. */
static mf_status run_data(kind k, const mf_conv_geom *g, const mf_tensor *src, const mf_tensor *w,
                          const mf_tensor *bias, mf_tensor **out) {
    const char *op = k == K_FWD ? "conv" : "conv_transpose";
    const mf_backend *be;
    MF_TRY(mf_backend_of(src, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_conv_geom *);
    if (k == K_FWD)
        MF_KERNEL(fn, be, conv, forward, op);
    else
        MF_KERNEL(fn, be, conv, backward_data, op);
    int64_t shape[5];
    conv_shape(g, k != K_FWD, shape);
    mf_tensor *y = NULL, *sc = NULL, *wc = NULL, *bc = NULL;
    mf_status st;
    MF_CHECK(mf__layout_raw(g->channels_last, src, &sc));
    MF_CHECK(mf__layout_raw(g->channels_last, w, &wc));
    if (bias)
        MF_CHECK(mf__contiguous_raw(bias, &bc));
    MF_CHECK(mf__new_layout(g->channels_last, src, g->nsp + 2, shape, src->dtype, &y));
    MF_CHECK(fn(y, sc, wc, bc, g));
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(y);
    mf_tensor_release(sc);
    mf_tensor_release(wc);
    mf_tensor_release(bc);
    return st;
}

/* gw from the X-side and Y-side tensors of the geometry. */
static mf_status run_weight(const mf_conv_geom *g, const mf_tensor *xs, const mf_tensor *ys, int ndim,
                            const int64_t *wshape, mf_tensor **out) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(xs, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_conv_geom *);
    MF_KERNEL(fn, be, conv, backward_weight, "conv backward");
    mf_tensor *gw = NULL, *xc = NULL, *yc = NULL;
    mf_status st;
    MF_CHECK(mf__layout_raw(g->channels_last, xs, &xc));
    MF_CHECK(mf__layout_raw(g->channels_last, ys, &yc));
    MF_CHECK(mf__new_layout(g->channels_last, xs, ndim, wshape, xs->dtype, &gw));
    MF_CHECK(fn(gw, xc, yc, g));
    /* the weight's gradient in the weight's own layout */
    MF_CHECK(mf__contiguous_raw(gw, out));
cleanup:
    mf_tensor_release(gw);
    mf_tensor_release(xc);
    mf_tensor_release(yc);
    return st;
}

static mf_status run_bias(const mf_tensor *gy, int64_t channels, mf_tensor **out) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(gy, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, conv, backward_bias, "conv backward");
    mf_tensor *gb = NULL, *gc = NULL;
    mf_status st;
    if (be->conv->channels_last && mf_tensor_is_channels_last(gy))
        MF_CHECK(mf_tensor_detach(gy, &gc));
    else
        MF_CHECK(mf__contiguous_raw(gy, &gc));
    MF_CHECK(mf__new_like_shape(gy, 1, &channels, gy->dtype, &gb));
    MF_CHECK(fn(gb, gc));
    *out = gb;
    gb = NULL;
cleanup:
    mf_tensor_release(gb);
    mf_tensor_release(gc);
    return st;
}

/* saved: x, w; ctx: geometry; iarg[0]: 1 for the transposed conv. */
static mf_status conv_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_conv_geom *geo = n->ctx;
    bool transposed = n->iarg[0] != 0;
    const mf_tensor *x = n->saved[0], *w = n->saved[1];
    if (n->in[0]) /* the adjoint of the forward map */
        MF_TRY(run_data(transposed ? K_FWD : K_BWD_DATA, geo, g, w, NULL, &gin[0]));
    if (n->in[1])
        MF_TRY(run_weight(geo, transposed ? g : x, transposed ? x : g, n->in_ndim[1], n->in_shape[1], &gin[1]));
    if (n->in[2])
        MF_TRY(run_bias(g, transposed ? geo->cin : geo->cout, &gin[2]));
    return MF_OK;
}

static mf_status conv_common(bool transposed, const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias,
                             const mf_conv_params *p, mf_tensor **out) {
    mf_conv_geom g = {0};
    MF_TRY(transposed ? convt_geom(x, w, bias, p, &g) : conv_geom(x, w, bias, p, &g));
    if (channels_last && g.nsp >= 2) {
        const mf_backend *be;
        MF_TRY(mf_backend_of(x, &be));
        g.channels_last = be->conv && be->conv->channels_last;
    }
    mf_tensor *y;
    MF_TRY(run_data(transposed ? K_BWD_DATA : K_FWD, &g, x, w, bias, &y));
    mf_tensor *ins[3] = {(mf_tensor *)x, (mf_tensor *)w, (mf_tensor *)bias};
    mf_node *n;
    const char *name = transposed ? "conv_transpose" : "conv";
    mf_status st = mf_autograd_record(name, y, 3, ins, conv_backward, &n);
    if (st == MF_OK && n) {
        mf_conv_geom *copy = malloc(sizeof *copy);
        if (!copy) {
            st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory", name);
        } else {
            *copy = g;
            n->ctx = copy;
            n->ctx_free = free;
            n->iarg[0] = transposed;
            st = mf_node_save(n, x);
            if (st == MF_OK)
                st = mf_node_save(n, w);
        }
    }
    if (st != MF_OK) {
        mf_tensor_release(y);
        return st;
    }
    *out = y;
    return MF_OK;
}

/* Entry: the autocast policy (lower precision), then the op. */
static mf_status conv_entry(bool transposed, const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias,
                            const mf_conv_params *p, mf_tensor **out) {
    mf_tensor *c[3];
    MF_TRY(mf_autocast_args(MF_AMP_LOWP, 3, (const mf_tensor *const[]){x, w, bias}, c));
    mf_status st = conv_common(transposed, c[0], c[1], c[2], p, out);
    mf_autocast_release(3, c);
    return st;
}

mf_status mf_conv(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, const mf_conv_params *p,
                  mf_tensor **out) {
    return conv_entry(false, x, w, bias, p, out);
}

mf_status mf_conv_transpose(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, const mf_conv_params *p,
                            mf_tensor **out) {
    return conv_entry(true, x, w, bias, p, out);
}
