/* Shared by the optimiser tests: replays the gradient sequence of
 * tests/fixtures/optim.safetensors and compares every step with torch. */
#ifndef MF_TEST_OPTIM_TRAJECTORY_H
#define MF_TEST_OPTIM_TRAJECTORY_H

#include <stdio.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define TRAJ_STEPS 4
#define TRAJ_PARAMS 2

typedef mf_status (*traj_make)(mf_tensor *const *params, int n, mf_optimizer **out);

/* Fresh copies of the fixture's initial parameters, in dtype dt. */
static inline void traj_init(mf_tensor **params, mf_dtype dt) {
    for (int i = 0; i < TRAJ_PARAMS; i++) {
        char name[32];
        snprintf(name, sizeof name, "init.%d", i);
        mf_tensor *src = t_fixture("optim.safetensors", name);
        MF_OK_OR_FAIL(mf_tensor_empty(src->ndim, src->shape, dt, MF_DEVICE_CPU, &params[i]));
        MF_OK_OR_FAIL(mf_tensor_copy_(params[i], src));
        MF_OK_OR_FAIL(mf_tensor_set_requires_grad(params[i], true));
        mf_tensor_release(src);
    }
}

/* Sets the gradients of step k (in the parameters' dtype). */
static inline void traj_set_grads(mf_tensor **params, int k) {
    for (int i = 0; i < TRAJ_PARAMS; i++) {
        char name[32];
        snprintf(name, sizeof name, "grad.%d.%d", k, i);
        mf_tensor *src = t_fixture("optim.safetensors", name);
        mf_tensor *g;
        MF_OK_OR_FAIL(mf_tensor_empty_like(params[i], &g));
        MF_OK_OR_FAIL(mf_tensor_copy_(g, src));
        mf_tensor_release(params[i]->grad);
        params[i]->grad = g;
        mf_tensor_release(src);
    }
}

static inline void traj_check(mf_tensor **params, const char *config, int k, double atol, double rtol) {
    for (int i = 0; i < TRAJ_PARAMS; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%d.%d", config, k, i);
        mf_tensor *want = t_fixture("optim.safetensors", name);
        t_assert_close(params[i], want, atol, rtol, name);
        mf_tensor_release(want);
    }
}

/* Runs the whole trajectory of `config` and checks every step. */
static inline void traj_run(const char *config, traj_make make, mf_dtype dt, double atol, double rtol) {
    mf_tensor *params[TRAJ_PARAMS];
    traj_init(params, dt);
    mf_optimizer *opt;
    MF_OK_OR_FAIL(make(params, TRAJ_PARAMS, &opt));
    for (int k = 0; k < TRAJ_STEPS; k++) {
        traj_set_grads(params, k);
        MF_OK_OR_FAIL(mf_optim_step(opt));
        traj_check(params, config, k, atol, rtol);
    }
    mf_optimizer_free(opt);
    for (int i = 0; i < TRAJ_PARAMS; i++)
        mf_tensor_release(params[i]);
}

#endif
