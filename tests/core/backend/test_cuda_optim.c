/* CUDA optim kernels against the CPU backend: SGD (momentum, dampening,
 * Nesterov, weight decay) and Adam/AdamW (amsgrad) over several steps,
 * and the clipping helpers, in f32 and f64. */
#include <math.h>

#include "core/backend/kern_optim.h"
#include "tests/core/backend/cuda_testing.h"

static const struct mf_kern_optim *optim_of(mf_device dev) {
    const mf_backend *be;
    MF_OK_OR_FAIL(mf_backend_get(dev, &be));
    cr_assert(be->optim && be->optim->sgd && be->optim->adam && be->optim->sum_squares && be->optim->scale,
              "optim table incomplete on %s", be->name);
    return be->optim;
}

Test(cuda_optim, sgd_steps_match_the_cpu) {
    t_need_cuda();
    const struct mf_kern_optim *cpu = optim_of(MF_DEVICE_CPU), *gpu = optim_of(T_CUDA);
    mf_sgd_hparams hs[] = {{0.1, 0.0, 0.0, 0.0, false, false},
                           {0.05, 0.9, 0.1, 1e-2, false, true},
                           {0.05, 0.9, 0.0, 0.0, true, true}};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        for (size_t c = 0; c < sizeof hs / sizeof hs[0]; c++) {
            int64_t shape[1] = {10007};
            mf_tensor *p = t_uniform(1 + c, 1, shape, dt, -1, 1), *buf = NULL, *dbuf = NULL;
            mf_tensor *dp = t_on(p, T_CUDA, false);
            if (hs[c].momentum != 0) {
                MF_OK_OR_FAIL(mf_tensor_zeros(1, shape, dt, MF_DEVICE_CPU, &buf));
                MF_OK_OR_FAIL(mf_tensor_zeros(1, shape, dt, T_CUDA, &dbuf));
            }
            for (int step = 0; step < 3; step++) {
                mf_tensor *g = t_uniform(20 + step, 1, shape, dt, -1, 1), *dg = t_on(g, T_CUDA, false);
                mf_sgd_hparams h = hs[c];
                h.first = h.first && step == 0;
                MF_OK_OR_FAIL(cpu->sgd(p, g, buf, &h));
                MF_OK_OR_FAIL(gpu->sgd(dp, dg, dbuf, &h));
                mf_tensor_release(g);
                mf_tensor_release(dg);
            }
            t_assert_matches_cpu(dp, p, 4, "sgd param");
            if (buf)
                t_assert_matches_cpu(dbuf, buf, 4, "sgd momentum buffer");
            mf_tensor *all[] = {p, dp, buf, dbuf};
            for (size_t j = 0; j < 4; j++)
                mf_tensor_release(all[j]);
        }
    }
}

Test(cuda_optim, adam_and_adamw_steps_match_the_cpu) {
    t_need_cuda();
    const struct mf_kern_optim *cpu = optim_of(MF_DEVICE_CPU), *gpu = optim_of(T_CUDA);
    mf_adam_hparams hs[] = {{1e-3, 0.9, 0.999, 1e-8, 0.0, false, false, 0},
                            {2e-3, 0.9, 0.99, 1e-8, 1e-2, false, true, 0},
                            {2e-3, 0.8, 0.999, 1e-6, 5e-2, true, true, 0}};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        for (size_t c = 0; c < sizeof hs / sizeof hs[0]; c++) {
            int64_t shape[2] = {97, 103};
            mf_tensor *t[4], *d[4]; /* param, m, v, vmax */
            t[0] = t_uniform(3 + c, 2, shape, dt, -1, 1);
            for (int i = 1; i < 4; i++)
                MF_OK_OR_FAIL(mf_tensor_zeros(2, shape, dt, MF_DEVICE_CPU, &t[i]));
            for (int i = 0; i < 4; i++)
                d[i] = t_on(t[i], T_CUDA, false);
            for (int step = 1; step <= 3; step++) {
                mf_tensor *g = t_uniform(40 + step, 2, shape, dt, -1, 1), *dg = t_on(g, T_CUDA, false);
                mf_adam_hparams h = hs[c];
                h.step = step;
                MF_OK_OR_FAIL(cpu->adam(t[0], g, t[1], t[2], h.amsgrad ? t[3] : NULL, &h));
                MF_OK_OR_FAIL(gpu->adam(d[0], dg, d[1], d[2], h.amsgrad ? d[3] : NULL, &h));
                mf_tensor_release(g);
                mf_tensor_release(dg);
            }
            const char *what[4] = {"adam param", "adam exp_avg", "adam exp_avg_sq", "adam vmax"};
            for (int i = 0; i < 4; i++)
                t_assert_matches_cpu(d[i], t[i], 10, what[i]);
            for (int i = 0; i < 4; i++) {
                mf_tensor_release(t[i]);
                mf_tensor_release(d[i]);
            }
        }
    }
}

Test(cuda_optim, clipping_helpers_match_the_cpu) {
    t_need_cuda();
    const struct mf_kern_optim *cpu = optim_of(MF_DEVICE_CPU), *gpu = optim_of(T_CUDA);
    int64_t sizes[] = {0, 1, 8192, 8193, 300001};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            mf_tensor *x = t_uniform(60 + i, 1, &sizes[i], dt, -2, 2), *dx = t_on(x, T_CUDA, false);
            double a = -1, b = -2;
            MF_OK_OR_FAIL(cpu->sum_squares(x, &a));
            MF_OK_OR_FAIL(gpu->sum_squares(dx, &b));
            cr_assert(fabs(a - b) <= 1e-12 * fabs(a) + 1e-300, "sum_squares of %lld: cpu %.17g, cuda %.17g",
                      (long long)sizes[i], a, b);
            MF_OK_OR_FAIL(cpu->scale(x, 0.37));
            MF_OK_OR_FAIL(gpu->scale(dx, 0.37));
            t_assert_matches_cpu(dx, x, 0, "scale");
            mf_tensor_release(x);
            mf_tensor_release(dx);
        }
    }
}
