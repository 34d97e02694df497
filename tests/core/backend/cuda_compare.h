/* Forward-and-backward comparison of one op on the CUDA and CPU backends:
 * the op runs on CPU copies and CUDA copies of the same inputs, then
 * sum(y * r) (r a fixed random tensor) is backpropagated on both, and the
 * outputs and the gradients of the flagged inputs must agree. */
#ifndef MF_TEST_CUDA_COMPARE_H
#define MF_TEST_CUDA_COMPARE_H

#include <stdio.h>
#include <stdlib.h>

#include "core/backend/cuda/cuda_api.h"
#include "tests/core/backend/cuda_testing.h"

typedef mf_status (*t_cuda_op)(mf_tensor *const *in, const void *ctx, mf_tensor **out);

/* in: CPU tensors (NULL allowed); grad[i]: compare the gradient of in[i]. */
static inline void t_cuda_compare(const char *what, int n, mf_tensor *const *in, const bool *grad, t_cuda_op op,
                                  const void *ctx, double slack) {
    mf_tensor *c[8] = {0}, *g[8] = {0}, *yc, *yg;
    for (int i = 0; i < n; i++) {
        if (!in[i])
            continue;
        c[i] = t_on(in[i], MF_DEVICE_CPU, grad && grad[i]);
        g[i] = t_on(in[i], T_CUDA, grad && grad[i]);
    }
    MF_OK_OR_FAIL(op(c, ctx, &yc));
    MF_OK_OR_FAIL(op(g, ctx, &yg));
    t_assert_matches_cpu(yg, yc, slack, what);
    bool any = false;
    for (int i = 0; i < n; i++)
        any = any || (grad && grad[i] && in[i]);
    if (any) {
        mf_tensor *r = t_uniform(99, yc->ndim, yc->shape, yc->dtype, -1, 1), *rg = t_on(r, T_CUDA, false);
        mf_tensor *ys[2] = {yc, yg}, *rs[2] = {r, rg};
        for (int k = 0; k < 2; k++) {
            mf_tensor *p, *l;
            MF_OK_OR_FAIL(mf_mul(ys[k], rs[k], &p));
            MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l));
            MF_OK_OR_FAIL(mf_backward(l, NULL, false));
            mf_tensor_release(p);
            mf_tensor_release(l);
        }
        for (int i = 0; i < n; i++) {
            if (!(grad[i] && in[i]))
                continue;
            cr_assert(c[i]->grad && g[i]->grad, "%s: input %d has no gradient", what, i);
            char msg[128];
            snprintf(msg, sizeof msg, "%s: gradient of input %d", what, i);
            t_assert_matches_cpu(g[i]->grad, c[i]->grad, slack, msg);
        }
        mf_tensor_release(r);
        mf_tensor_release(rg);
    }
    mf_tensor_release(yc);
    mf_tensor_release(yg);
    for (int i = 0; i < n; i++) {
        mf_tensor_release(c[i]);
        mf_tensor_release(g[i]);
    }
}

#endif
