/* Optimiser state files: per-parameter step counters and buffers, per-group
 * learning rates, in safetensors. A load validates the whole file before
 * replacing anything, so a bad file leaves the optimiser as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/optim/optimizer.h"
#include "medfm/io.h"

#define KEY_LEN 96

static void free_list(int n, char **names, mf_tensor **ts) {
    for (int i = 0; i < n; i++) {
        free(names[i]);
        mf_tensor_release(ts[i]);
    }
    free(names);
    free(ts);
}

mf_status mf_optim_state_save(const mf_optimizer *opt, const char *path) {
    int cap = opt->n_params * (1 + opt->n_state) + opt->n_groups;
    char **names = calloc((size_t)(cap ? cap : 1), sizeof *names);
    mf_tensor **ts = calloc((size_t)(cap ? cap : 1), sizeof *ts);
    int n = 0;
    mf_status st = MF_OK;
    if (!names || !ts) {
        st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory saving optimiser state", path);
        goto cleanup;
    }
    for (int i = 0; i < opt->n_params; i++) {
        const mf_optim_param *p = &opt->params[i];
        int64_t step = p->step;
        MF_CHECK(mf_tensor_from_data(0, NULL, MF_I64, &step, &ts[n]));
        names[n] = malloc(KEY_LEN);
        if (names[n])
            snprintf(names[n], KEY_LEN, "state.%d.step", i);
        n++;
        for (int s = 0; s < opt->n_state; s++) {
            if (!p->state[s])
                continue;
            ts[n] = mf_tensor_retain(p->state[s]);
            names[n] = malloc(KEY_LEN);
            if (names[n])
                snprintf(names[n], KEY_LEN, "state.%d.%s", i, opt->state_names[s]);
            n++;
        }
    }
    for (int g = 0; g < opt->n_groups; g++) {
        MF_CHECK(mf_tensor_from_data(0, NULL, MF_F64, &opt->groups[g].lr, &ts[n]));
        names[n] = malloc(KEY_LEN);
        if (names[n])
            snprintf(names[n], KEY_LEN, "groups.%d.lr", g);
        n++;
    }
    for (int i = 0; i < n; i++)
        if (!names[i]) {
            st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory saving optimiser state", path);
            goto cleanup;
        }
    char np[24], ng[24];
    snprintf(np, sizeof np, "%d", opt->n_params);
    snprintf(ng, sizeof ng, "%d", opt->n_groups);
    const char *meta[] = {"optimizer", opt->name, "params", np, "groups", ng};
    st = mf_safetensors_save(path, n, (const char *const *)names, ts, 3, meta);
cleanup:
    free_list(n, names, ts);
    return st;
}

/* A scalar entry's value, or MF_ERR_FORMAT naming the key. */
static mf_status read_scalar(const mf_safetensors *f, const char *key, double *out) {
    mf_tensor *t;
    mf_status st = mf_safetensors_get(f, key, &t);
    if (st == MF_ERR_NOT_FOUND)
        return MF_ERR(MF_ERR_FORMAT, "%s: optimiser state lacks '%s'", mf_safetensors_path(f), key);
    MF_TRY(st);
    if (mf_tensor_numel(t) != 1) {
        mf_tensor_release(t);
        return MF_ERR(MF_ERR_FORMAT, "%s: '%s' should hold one value (shape %s)", mf_safetensors_path(f), key,
                      MF_SHAPE(t));
    }
    *out = mf_tensor_get_flat(t, 0);
    mf_tensor_release(t);
    return MF_OK;
}

/* A copy of the file's buffer `key` as a tensor like `param` (its dtype and
 * device), or NULL when the file has no such key. */
static mf_status read_buffer(const mf_safetensors *f, const char *key, const mf_tensor *param, mf_tensor **out) {
    *out = NULL;
    if (mf_safetensors_find(f, key) < 0)
        return MF_OK;
    mf_tensor *src, *dst = NULL, *tmp = NULL;
    MF_TRY(mf_safetensors_get(f, key, &src));
    mf_status st = MF_OK;
    if (!mf_tensor_same_shape(src, param)) {
        st = MF_ERR(MF_ERR_SHAPE, "%s: '%s' has shape %s but the parameter has shape %s", mf_safetensors_path(f), key,
                    MF_SHAPE(src), MF_SHAPE(param));
        goto cleanup;
    }
    if (!mf_dtype_is_float(src->dtype)) {
        st = MF_ERR(MF_ERR_FORMAT, "%s: '%s' is %s, not a float dtype", mf_safetensors_path(f), key,
                    mf_dtype_name(src->dtype));
        goto cleanup;
    }
    MF_CHECK(mf_tensor_empty_like(param, &dst));
    if (src->dtype != param->dtype && param->storage->device.type != MF_CPU) {
        MF_CHECK(mf_tensor_empty(src->ndim, src->shape, param->dtype, MF_DEVICE_CPU, &tmp));
        MF_CHECK(mf_tensor_copy_(tmp, src));
        MF_CHECK(mf_tensor_copy_(dst, tmp));
    } else {
        MF_CHECK(mf_tensor_copy_(dst, src));
    }
    *out = dst;
    dst = NULL;
cleanup:
    mf_tensor_release(src);
    mf_tensor_release(tmp);
    mf_tensor_release(dst);
    return st;
}

/* Every key of the file must be one the optimiser knows. */
static mf_status check_keys(const mf_optimizer *opt, const mf_safetensors *f) {
    for (int k = 0; k < mf_safetensors_count(f); k++) {
        const char *key = mf_safetensors_name(f, k);
        int i, used = 0;
        char rest[KEY_LEN];
        bool ok = false;
        if (sscanf(key, "state.%d.%95s%n", &i, rest, &used) == 2 && key[used] == '\0' && i >= 0 &&
            i < opt->n_params) {
            ok = strcmp(rest, "step") == 0;
            for (int s = 0; s < opt->n_state; s++)
                ok = ok || strcmp(rest, opt->state_names[s]) == 0;
        } else if (sscanf(key, "groups.%d.lr%n", &i, &used) == 1 && key[used] == '\0' && i >= 0 &&
                   i < opt->n_groups) {
            ok = true;
        }
        if (!ok)
            return MF_ERR(MF_ERR_FORMAT, "%s: unexpected key '%s' for %s with %d parameters and %d groups",
                          mf_safetensors_path(f), key, opt->name, opt->n_params, opt->n_groups);
    }
    return MF_OK;
}

static mf_status load_from(mf_optimizer *opt, const mf_safetensors *f, mf_tensor **bufs, int64_t *steps,
                           double *lrs) {
    const char *path = mf_safetensors_path(f);
    const char *kind = mf_safetensors_metadata(f, "optimizer");
    if (!kind || strcmp(kind, opt->name) != 0)
        return MF_ERR(MF_ERR_FORMAT, "%s: state of optimiser '%s' cannot be loaded into %s", path,
                      kind ? kind : "(none)", opt->name);
    const char *np = mf_safetensors_metadata(f, "params"), *ng = mf_safetensors_metadata(f, "groups");
    if (!np || !ng || atoi(np) != opt->n_params || atoi(ng) != opt->n_groups)
        return MF_ERR(MF_ERR_FORMAT, "%s: state is for %s parameters in %s groups, the optimiser has %d in %d", path,
                      np ? np : "?", ng ? ng : "?", opt->n_params, opt->n_groups);
    MF_TRY(check_keys(opt, f));
    char key[KEY_LEN];
    for (int i = 0; i < opt->n_params; i++) {
        double v;
        snprintf(key, sizeof key, "state.%d.step", i);
        MF_TRY(read_scalar(f, key, &v));
        if (!(v >= 0) || v != (double)(int64_t)v)
            return MF_ERR(MF_ERR_FORMAT, "%s: '%s' = %g is not a step count", path, key, v);
        steps[i] = (int64_t)v;
        for (int s = 0; s < opt->n_state; s++) {
            snprintf(key, sizeof key, "state.%d.%s", i, opt->state_names[s]);
            MF_TRY(read_buffer(f, key, opt->params[i].param, &bufs[i * MF_OPTIM_MAX_STATE + s]));
        }
        /* Adam needs both moments once it has stepped (and the max with AMSGrad). */
        bool adam = opt->kind != MF_OPTIM_SGD;
        int need = adam ? (opt->adam.amsgrad ? 3 : 2) : 0;
        for (int s = 0; s < need; s++)
            if (steps[i] > 0 && !bufs[i * MF_OPTIM_MAX_STATE + s])
                return MF_ERR(MF_ERR_FORMAT, "%s: parameter %d has taken %lld steps but 'state.%d.%s' is missing", path,
                              i, (long long)steps[i], i, opt->state_names[s]);
    }
    for (int g = 0; g < opt->n_groups; g++) {
        snprintf(key, sizeof key, "groups.%d.lr", g);
        MF_TRY(read_scalar(f, key, &lrs[g]));
    }
    return MF_OK;
}

mf_status mf_optim_state_load(mf_optimizer *opt, const char *path) {
    mf_safetensors *f;
    MF_TRY(mf_safetensors_open(path, &f));
    size_t nb = (size_t)opt->n_params * MF_OPTIM_MAX_STATE;
    mf_tensor **bufs = calloc(nb ? nb : 1, sizeof *bufs);
    int64_t *steps = calloc((size_t)(opt->n_params ? opt->n_params : 1), sizeof *steps);
    double *lrs = calloc((size_t)(opt->n_groups ? opt->n_groups : 1), sizeof *lrs);
    mf_status st = bufs && steps && lrs ? load_from(opt, f, bufs, steps, lrs)
                                        : MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    if (st == MF_OK) {
        for (int i = 0; i < opt->n_params; i++) {
            mf_optim_param *p = &opt->params[i];
            p->step = steps[i];
            for (int s = 0; s < MF_OPTIM_MAX_STATE; s++) {
                mf_tensor_release(p->state[s]);
                p->state[s] = bufs[i * MF_OPTIM_MAX_STATE + s];
                bufs[i * MF_OPTIM_MAX_STATE + s] = NULL;
            }
        }
        for (int g = 0; g < opt->n_groups; g++)
            opt->groups[g].lr = lrs[g];
    }
    for (size_t k = 0; bufs && k < nb; k++)
        mf_tensor_release(bufs[k]);
    free(bufs);
    free(steps);
    free(lrs);
    mf_safetensors_close(f);
    return st;
}
