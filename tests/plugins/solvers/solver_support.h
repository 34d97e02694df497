/* Shared by the solver plugin tests: load a built plugin through the
 * registry and create its solver / gradient estimator from YAML text. */
#ifndef MF_TEST_SOLVER_SUPPORT_H
#define MF_TEST_SOLVER_SUPPORT_H

#include <stdio.h>
#include <string.h>

#include "medfm/medfm.h"
#include "medfm/plugin.h"
#include "medfm/solver.h"
#include "tests/support/testing.h"

static inline mf_registry *ts_registry(const char *plugin) {
    char path[1024];
    snprintf(path, sizeof path, "%s/lib/medfm/plugins/%s.so", MEDFM_BUILD_DIR, plugin);
    mf_registry *r;
    MF_OK_OR_FAIL(mf_registry_new(&r));
    MF_OK_OR_FAIL(mf_registry_load(r, path));
    return r;
}

/* cfg_yaml may be NULL (defaults). The registry must outlive the solver. */
static inline mf_solver *ts_solver(mf_registry *r, const char *name, const char *cfg_yaml) {
    const mf_plugin_info *info;
    MF_OK_OR_FAIL(mf_registry_get(r, MF_KIND_SOLVER, name, &info));
    mf_cfg *cfg = NULL;
    if (cfg_yaml)
        MF_OK_OR_FAIL(mf_cfg_parse_string(cfg_yaml, "test", &cfg));
    mf_solver *s;
    MF_OK_OR_FAIL(((const mf_solver_vtable *)info->vtable)->create(cfg, &s));
    mf_cfg_free(cfg);
    return s;
}

static inline mf_grad_estimator *ts_estimator(mf_registry *r, const char *name, const char *cfg_yaml) {
    const mf_plugin_info *info;
    MF_OK_OR_FAIL(mf_registry_get(r, MF_KIND_GRAD_ESTIMATOR, name, &info));
    mf_cfg *cfg = NULL;
    if (cfg_yaml)
        MF_OK_OR_FAIL(mf_cfg_parse_string(cfg_yaml, "test", &cfg));
    mf_grad_estimator *g;
    MF_OK_OR_FAIL(((const mf_grad_estimator_vtable *)info->vtable)->create(cfg, &g));
    mf_cfg_free(cfg);
    return g;
}

/* Small deterministic generator for instances. */
static inline double ts_rand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* Next permutation in lexicographic order; false after the last. */
static inline bool ts_next_perm(int *p, int n) {
    int i = n - 2;
    while (i >= 0 && p[i] >= p[i + 1])
        i--;
    if (i < 0)
        return false;
    int j = n - 1;
    while (p[j] <= p[i])
        j--;
    int t = p[i];
    p[i] = p[j];
    p[j] = t;
    for (int a = i + 1, b = n - 1; a < b; a++, b--) {
        t = p[a];
        p[a] = p[b];
        p[b] = t;
    }
    return true;
}

#endif
