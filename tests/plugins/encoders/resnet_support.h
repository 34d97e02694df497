/* Shared by the resnet plugin tests: the deterministic fill that
 * tools/fixtures/gen_resnet.py also uses (fill()), loading the plugin and
 * creating encoders from YAML, and sampled comparisons against the
 * fixture tests/fixtures/resnet.safetensors. */
#ifndef MF_TEST_RESNET_SUPPORT_H
#define MF_TEST_RESNET_SUPPORT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/encoder.h"
#include "medfm/nn.h"
#include "medfm/plugin.h"
#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define FIX "resnet.safetensors"

/* ---- the deterministic fill shared with gen_resnet.py (fill()) ---- */

static inline uint64_t fnv1a(const char *s) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001B3ULL;
    return h;
}

static inline double unit(uint64_t h, uint64_t i) {
    uint64_t x = h ^ (i * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return (double)(x >> 11) * 0x1p-53;
}

static inline double rn_value(const char *leaf, int ndim, const int64_t *shape, double u) {
    if (!strcmp(leaf, "weight") && ndim == 4)
        return (2 * u - 1) * sqrt(6.0 / (double)(shape[1] * shape[2] * shape[3]));
    if (!strcmp(leaf, "weight"))
        return 0.75 + 0.5 * u;
    if (!strcmp(leaf, "bias"))
        return 0.2 * (2 * u - 1);
    if (!strcmp(leaf, "running_mean"))
        return 0.1 * (2 * u - 1);
    if (!strcmp(leaf, "running_var"))
        return 0.5 + u;
    return 2 * u - 1;
}

/* Fills t (CPU, any float dtype) with the values gen_resnet.py gives `name`. */
static inline void t_rn_fill(mf_tensor *t, const char *name) {
    int64_t n = mf_tensor_numel(t);
    double *buf = malloc((size_t)n * sizeof *buf);
    const char *dot = strrchr(name, '.');
    const char *leaf = dot ? dot + 1 : name;
    uint64_t h = fnv1a(name);
    for (int64_t i = 0; i < n; i++)
        buf[i] = rn_value(leaf, t->ndim, t->shape, unit(h, (uint64_t)i));
    mf_tensor *src;
    MF_OK_OR_FAIL(mf_tensor_from_data(t->ndim, t->shape, MF_F64, buf, &src));
    MF_OK_OR_FAIL(mf_tensor_copy_(t, src));
    mf_tensor_release(src);
    free(buf);
}

static inline mf_tensor *rn_filled(const char *name, int ndim, const int64_t *shape, mf_dtype dt) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_empty(ndim, shape, dt, MF_DEVICE_CPU, &t));
    t_rn_fill(t, name);
    return t;
}

/* ---- plugin plumbing ---- */

typedef struct {
    mf_registry *reg;
    const mf_plugin_info *info;
    mf_cfg *cfg;
} rn_env;

static inline void env_open(rn_env *env) {
    char path[1024];
    snprintf(path, sizeof path, "%s/lib/medfm/plugins/resnet.so", MEDFM_BUILD_DIR);
    MF_OK_OR_FAIL(mf_registry_new(&env->reg));
    MF_OK_OR_FAIL(mf_registry_load(env->reg, path));
    MF_OK_OR_FAIL(mf_registry_get(env->reg, MF_KIND_ENCODER, "resnet", &env->info));
    env->cfg = NULL;
}

static inline void env_close(rn_env *env) {
    mf_cfg_free(env->cfg);
    mf_registry_free(env->reg);
}

/* Validates a YAML `encoder:` section against the plugin's schema and creates
 * the encoder; returns the create status (the encoder in *out when ok). */
static inline mf_status try_create(rn_env *env, const char *yaml, mf_encoder **out) {
    mf_cfg_free(env->cfg);
    MF_OK_OR_FAIL(mf_cfg_parse_string(yaml, "encoder", &env->cfg));
    mf_diag d = {0};
    mf_cfg_validate(env->cfg, env->info->schema, &d);
    mf_status st = mf_diag_status(&d);
    mf_diag_free(&d);
    if (st != MF_OK)
        return st;
    mf_rng rng;
    mf_rng_init(&rng, 7);
    const mf_encoder_vtable *vt = env->info->vtable;
    return vt->create(env->cfg, &rng, out);
}

static inline mf_encoder *create(rn_env *env, const char *yaml) {
    mf_encoder *e = NULL;
    MF_OK_OR_FAIL(try_create(env, yaml, &e));
    return e;
}

static inline void fill_model(mf_encoder *e) {
    mf_named_tensors s;
    MF_OK_OR_FAIL(mf_module_state(e->module, &s));
    for (int i = 0; i < s.n; i++)
        if (mf_dtype_is_float(s.items[i].tensor->dtype))
            t_rn_fill(s.items[i].tensor, s.items[i].name);
    mf_named_tensors_free(&s);
}

/* n evenly spaced elements of t (indices i * numel / n), as f64. */
static inline mf_tensor *sample(const mf_tensor *t, int64_t n) {
    int64_t numel = mf_tensor_numel(t);
    if (n > numel)
        n = numel;
    mf_tensor *s;
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){n}, MF_F64, MF_DEVICE_CPU, &s));
    for (int64_t i = 0; i < n; i++)
        mf_tensor_set_flat(s, i, mf_tensor_get_flat(t, i * numel / n));
    return s;
}

/* Elementwise |got - ref| <= rtol * max|ref|: relative error at the tensor's
 * scale (elementwise relative error of near-zero entries means nothing). */
static inline void check_rel(const mf_tensor *got, const mf_tensor *ref, double rtol, const char *what) {
    double scale = 0;
    for (int64_t i = 0; i < mf_tensor_numel(ref); i++)
        scale = fmax(scale, fabs(mf_tensor_get_flat(ref, i)));
    t_assert_close(got, ref, rtol * (scale > 0 ? scale : 1), 0, what);
}

static inline void check_sampled(const mf_tensor *t, const char *fix_name, double rtol) {
    mf_tensor *ref = t_fixture(FIX, fix_name);
    mf_tensor *s = sample(t, mf_tensor_numel(ref));
    check_rel(s, ref, rtol, fix_name);
    mf_tensor_release(s);
    mf_tensor_release(ref);
}

/* The encoder's parameter or buffer `name` (borrowed). */
static inline mf_tensor *state_of(mf_encoder *e, const char *name) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_module_find(e->module, name, &t));
    return t;
}

#endif
