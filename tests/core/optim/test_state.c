/* Optimiser state files: save, restore into a fresh optimiser, continue;
 * the result must equal the uninterrupted run bit for bit. */
#include <stdio.h>
#include <unistd.h>

#include "tests/core/optim/trajectory.h"

static char path[64];

static void make_path(void) {
    snprintf(path, sizeof path, "/tmp/mf_os_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
}

static void remove_path(void) { unlink(path); }

TestSuite(optim_state, .init = make_path, .fini = remove_path);

static mf_status make_sgd(mf_tensor *const *p, int n, mf_optimizer **out) {
    mf_sgd_options o = {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01};
    return mf_sgd_new(p, n, &o, out);
}

static mf_status make_adam(mf_tensor *const *p, int n, mf_optimizer **out) {
    mf_adam_options o = mf_adamw_defaults(0.01);
    o.amsgrad = true;
    return mf_adamw_new(p, n, &o, out);
}

/* Runs 4 steps straight, and 2 + save/restore into new objects + 2; the
 * parameters must agree exactly. Parameter 1 gets no gradient in step 0 so
 * per-parameter step counts differ. */
static void resume_matches(traj_make make, mf_dtype dt) {
    mf_tensor *a[TRAJ_PARAMS], *b[TRAJ_PARAMS];
    traj_init(a, dt);
    traj_init(b, dt);
    mf_optimizer *oa, *ob;
    MF_OK_OR_FAIL(make(a, TRAJ_PARAMS, &oa));
    MF_OK_OR_FAIL(make(b, TRAJ_PARAMS, &ob));
    mf_lr_schedule sched = {.kind = MF_LR_COSINE, .warmup_steps = 1};
    for (int k = 0; k < TRAJ_STEPS; k++) {
        MF_OK_OR_FAIL(mf_optim_apply_schedule(oa, &sched, k + 1, TRAJ_STEPS + 1));
        traj_set_grads(a, k);
        if (k == 0)
            mf_tensor_clear(&a[1]->grad);
        MF_OK_OR_FAIL(mf_optim_step(oa));
    }
    for (int k = 0; k < 2; k++) {
        MF_OK_OR_FAIL(mf_optim_apply_schedule(ob, &sched, k + 1, TRAJ_STEPS + 1));
        traj_set_grads(b, k);
        if (k == 0)
            mf_tensor_clear(&b[1]->grad);
        MF_OK_OR_FAIL(mf_optim_step(ob));
    }
    /* Checkpoint: parameters through a state dict, the optimiser through its state file. */
    char ppath[80];
    snprintf(ppath, sizeof ppath, "%s.params", path);
    mf_named_tensor e[TRAJ_PARAMS] = {{"p0", b[0]}, {"p1", b[1]}};
    MF_OK_OR_FAIL(mf_state_dict_save(ppath, e, TRAJ_PARAMS, 0, NULL));
    MF_OK_OR_FAIL(mf_optim_state_save(ob, path));
    mf_optimizer_free(ob);
    for (int i = 0; i < TRAJ_PARAMS; i++)
        mf_tensor_release(b[i]);

    mf_tensor *c[TRAJ_PARAMS];
    traj_init(c, dt);
    mf_named_tensor ec[TRAJ_PARAMS] = {{"p0", c[0]}, {"p1", c[1]}};
    MF_OK_OR_FAIL(mf_state_dict_load(ppath, ec, TRAJ_PARAMS, true, NULL));
    unlink(ppath);
    mf_optimizer *oc;
    MF_OK_OR_FAIL(make(c, TRAJ_PARAMS, &oc));
    MF_OK_OR_FAIL(mf_optim_state_load(oc, path));
    cr_assert_eq(mf_optim_param_steps(oc, 0), 2);
    cr_assert_eq(mf_optim_param_steps(oc, 1), 1);
    for (int k = 2; k < TRAJ_STEPS; k++) {
        MF_OK_OR_FAIL(mf_optim_apply_schedule(oc, &sched, k + 1, TRAJ_STEPS + 1));
        traj_set_grads(c, k);
        MF_OK_OR_FAIL(mf_optim_step(oc));
    }
    for (int i = 0; i < TRAJ_PARAMS; i++) {
        t_assert_close(c[i], a[i], 0, 0, "resumed vs uninterrupted");
        mf_tensor_release(a[i]);
        mf_tensor_release(c[i]);
    }
    mf_optimizer_free(oa);
    mf_optimizer_free(oc);
}

Test(optim_state, resumed_sgd_continues_bit_identically) { resume_matches(make_sgd, MF_F32); }

Test(optim_state, resumed_adamw_amsgrad_continues_bit_identically) { resume_matches(make_adam, MF_F32); }

Test(optim_state, resumed_float64_adamw_continues_bit_identically) { resume_matches(make_adam, MF_F64); }

Test(optim_state, loading_another_optimisers_state_is_rejected) {
    mf_tensor *p[TRAJ_PARAMS];
    traj_init(p, MF_F32);
    mf_optimizer *sgd, *adam;
    MF_OK_OR_FAIL(make_sgd(p, TRAJ_PARAMS, &sgd));
    MF_OK_OR_FAIL(mf_optim_state_save(sgd, path));
    mf_optimizer_free(sgd);
    MF_OK_OR_FAIL(make_adam(p, TRAJ_PARAMS, &adam));
    cr_assert_eq(mf_optim_state_load(adam, path), MF_ERR_FORMAT);
    cr_assert(strstr(mf_last_error(), "'sgd'") && strstr(mf_last_error(), "adamw"), "%s", mf_last_error());
    mf_optimizer_free(adam);
    /* One parameter fewer: the counts disagree. */
    MF_OK_OR_FAIL(make_sgd(p, 1, &sgd));
    cr_assert_eq(mf_optim_state_load(sgd, path), MF_ERR_FORMAT);
    cr_assert(strstr(mf_last_error(), "2 parameters"), "%s", mf_last_error());
    mf_optimizer_free(sgd);
    for (int i = 0; i < TRAJ_PARAMS; i++)
        mf_tensor_release(p[i]);
}

Test(optim_state, a_mis_shaped_buffer_is_rejected_and_nothing_changes) {
    mf_tensor *p = t_param(t_uniform(1, 1, (int64_t[]){3}, MF_F32, -1, 1));
    mf_tensor *bad = t_uniform(2, 1, (int64_t[]){4}, MF_F32, -1, 1);
    int64_t one = 1;
    mf_tensor *step, *lr;
    MF_OK_OR_FAIL(mf_tensor_from_data(0, NULL, MF_I64, &one, &step));
    MF_OK_OR_FAIL(mf_tensor_scalar(0.1, MF_F64, MF_DEVICE_CPU, &lr));
    const char *meta[] = {"optimizer", "sgd", "params", "1", "groups", "1"};
    MF_OK_OR_FAIL(mf_safetensors_save(path, 3, (const char *[]){"state.0.step", "state.0.momentum_buffer", "groups.0.lr"},
                                      (mf_tensor *[]){step, bad, lr}, 3, meta));
    mf_sgd_options o = {.lr = 0.5, .momentum = 0.9};
    mf_optimizer *opt;
    MF_OK_OR_FAIL(mf_sgd_new(&p, 1, &o, &opt));
    cr_assert_eq(mf_optim_state_load(opt, path), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "state.0.momentum_buffer") && strstr(mf_last_error(), "[4]") &&
                  strstr(mf_last_error(), "[3]"),
              "%s", mf_last_error());
    cr_assert_eq(mf_optim_lr(opt, 0), 0.5);
    cr_assert_eq(mf_optim_param_steps(opt, 0), 0);
    mf_optimizer_free(opt);
    mf_tensor_release(p);
    mf_tensor_release(bad);
    mf_tensor_release(step);
    mf_tensor_release(lr);
}
