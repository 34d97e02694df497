/* bf16/f16 autocast numerics on a small conv + batch norm + ReLU + pool +
 * linear + cross-entropy net: outputs and parameter gradients agree with the
 * f32 run to the precision of the low dtype (norm-wise), and gradients reach
 * the f32 parameters as f32. A finite-difference check means nothing at
 * bf16 precision, so the f32 run is the reference. (A ReLU whose inputs sit
 * near zero flips some mask bits between precisions; that costs either
 * dtype ~2e-2 of the gradient on its own, so the net keeps BN before it.) */
#include <math.h>

#include "tests/support/testing.h"

enum { NP = 5 };

typedef struct net {
    /* conv w, bn weight, bn bias, fc w, fc b. The conv has no bias: batch
     * norm cancels it, so its gradient is rounding noise with no relative
     * precision to compare. */
    mf_tensor *p[NP];
    mf_tensor *x, *target;
} net;

static void net_init(net *n) {
    n->p[0] = t_param(t_uniform(1, 4, (int64_t[]){8, 3, 3, 3}, MF_F32, -0.3, 0.3));
    n->p[1] = t_param(t_uniform(3, 1, (int64_t[]){8}, MF_F32, 0.8, 1.2));
    n->p[2] = t_param(t_uniform(4, 1, (int64_t[]){8}, MF_F32, -0.1, 0.1));
    n->p[3] = t_param(t_uniform(5, 2, (int64_t[]){5, 8}, MF_F32, -0.5, 0.5));
    n->p[4] = t_param(t_uniform(6, 1, (int64_t[]){5}, MF_F32, -0.1, 0.1));
    n->x = t_uniform(7, 4, (int64_t[]){4, 3, 8, 8}, MF_F32, -1, 1);
    MF_OK_OR_FAIL(mf_tensor_from_data(1, (int64_t[]){4}, MF_I64, (int64_t[]){0, 3, 1, 4}, &n->target));
}

static void net_free(net *n) {
    for (int i = 0; i < NP; i++)
        mf_tensor_release(n->p[i]);
    mf_tensor_release(n->x);
    mf_tensor_release(n->target);
}

/* Forward (under autocast when lowp != MF_F32), backward outside it;
 * logits (as f32) and the gradients come back. */
static void run(net *n, mf_dtype lowp, mf_tensor **logits32, mf_tensor **grads) {
    for (int i = 0; i < NP; i++)
        mf_tensor_clear(&n->p[i]->grad);
    mf_conv_params cp = mf_conv_params_default();
    cp.padding[0] = cp.padding[1] = 1;
    mf_tensor *h1, *h2, *h3, *h4, *h5, *logits, *loss;
    if (lowp != MF_F32)
        MF_OK_OR_FAIL(mf_autocast_enter(lowp));
    MF_OK_OR_FAIL(mf_conv(n->x, n->p[0], NULL, &cp, &h1));
    MF_OK_OR_FAIL(mf_batch_norm(h1, NULL, NULL, n->p[1], n->p[2], true, 0.1, 1e-5, &h2));
    MF_OK_OR_FAIL(mf_relu(h2, &h3));
    MF_OK_OR_FAIL(mf_adaptive_avg_pool(h3, (int64_t[]){1, 1}, &h4));
    MF_OK_OR_FAIL(mf_reshape(h4, 2, (int64_t[]){4, 8}, &h5));
    MF_OK_OR_FAIL(mf_linear(h5, n->p[3], n->p[4], &logits));
    MF_OK_OR_FAIL(mf_cross_entropy(logits, n->target, NULL, &loss));
    if (lowp != MF_F32) {
        MF_OK_OR_FAIL(mf_autocast_exit());
        cr_expect_eq(h1->dtype, lowp, "conv output");
        cr_expect_eq(h2->dtype, lowp, "batch norm keeps the conv's dtype (f32 parameters)");
        cr_expect_eq(logits->dtype, lowp, "linear output");
    }
    cr_expect_eq(loss->dtype, MF_F32, "the loss is f32");
    MF_OK_OR_FAIL(mf_backward(loss, NULL, false));
    MF_OK_OR_FAIL(mf_to_dtype(logits, MF_F32, logits32));
    for (int i = 0; i < NP; i++) {
        cr_assert(n->p[i]->grad, "parameter %d has no gradient", i);
        cr_expect_eq(n->p[i]->grad->dtype, MF_F32, "parameter %d gradient is %s", i,
                     mf_dtype_name(n->p[i]->grad->dtype));
        grads[i] = mf_tensor_retain(n->p[i]->grad);
    }
    mf_tensor *ts[] = {h1, h2, h3, h4, h5, logits, loss};
    for (int i = 0; i < 7; i++)
        mf_tensor_release(ts[i]);
}

/* ||a - b|| / ||b|| */
static double rel_err(const mf_tensor *a, const mf_tensor *b) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < mf_tensor_numel(b); i++) {
        double d = mf_tensor_get_flat(a, i) - mf_tensor_get_flat(b, i), v = mf_tensor_get_flat(b, i);
        num += d * d;
        den += v * v;
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static void compare(mf_dtype lowp, double fwd_tol, double grad_tol) {
    net n;
    net_init(&n);
    mf_tensor *l32, *llo, *g32[NP], *glo[NP];
    run(&n, MF_F32, &l32, g32);
    run(&n, lowp, &llo, glo);
    double e = rel_err(llo, l32);
    cr_expect(e < fwd_tol, "%s logits: relative error %.3g", mf_dtype_name(lowp), e);
    cr_log_info("%s logits: relative error %.3g", mf_dtype_name(lowp), e);
    cr_expect(e > 0, "the low-precision run must differ from f32 at all (else the test checks nothing)");
    for (int i = 0; i < NP; i++) {
        double ge = rel_err(glo[i], g32[i]);
        cr_log_info("%s gradient %d: relative error %.3g", mf_dtype_name(lowp), i, ge);
        cr_expect(ge < grad_tol, "%s gradient of parameter %d: relative error %.3g", mf_dtype_name(lowp), i, ge);
        mf_tensor_release(g32[i]);
        mf_tensor_release(glo[i]);
    }
    mf_tensor_release(l32);
    mf_tensor_release(llo);
    net_free(&n);
}

Test(amp_numerics, bf16_forward_and_gradients_match_f32_to_bf16_precision) { compare(MF_BF16, 1e-2, 2e-2); }

Test(amp_numerics, f16_forward_and_gradients_match_f32_more_closely) { compare(MF_F16, 2e-3, 5e-3); }
