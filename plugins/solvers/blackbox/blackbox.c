/* The `blackbox` gradient estimator plugin (Vlastelica et al. 2020): no
 * noise; the backward re-solves at c + lambda dL/dx and returns
 * -(x - x')/lambda. Shares the rule with imle (../imle/perturb_core.h). */
#include <stdlib.h>

#include "../imle/perturb_core.h"
#include "medfm/plugin.h"

static mf_status bb_apply(mf_grad_estimator *g, mf_solver *solver, const mf_gm_problem *p, mf_rng *rng,
                          mf_tensor **x) {
    return pc_apply(g->state, solver, p, rng, x);
}

static mf_status bb_create(const mf_cfg *cfg, mf_grad_estimator **out) {
    pc_cfg c = {.name = "blackbox", .lambda = 80, .noise = PC_NOISE_NONE, .samples = 1, .sog_terms = 1};
    if (cfg)
        MF_TRY(mf_cfg_get_float(cfg, "lambda", c.lambda, &c.lambda));
    if (!(c.lambda > 0))
        return MF_ERR(MF_ERR_CONFIG, "blackbox: need lambda > 0, got %g", c.lambda);
    mf_grad_estimator *g = calloc(1, sizeof *g);
    pc_cfg *st = malloc(sizeof *st);
    if (!g || !st) {
        free(g);
        free(st);
        return MF_ERR(MF_ERR_NOMEM, "blackbox: out of memory");
    }
    *st = c;
    *g = (mf_grad_estimator){.size = sizeof(mf_grad_estimator), .name = "blackbox", .state = st,
                             .apply = bb_apply, .destroy = pc_destroy};
    *out = g;
    return MF_OK;
}

static const mf_key_spec bb_keys[] = {
    {.name = "lambda", .type = MF_KEY_FLOAT, .def = "80", .doc = "interpolation step of the target costs",
     .min = 0, .max = MF_NO_LIMIT},
};
static const mf_schema bb_schema = {"grad_estimator blackbox", bb_keys, 1, false};
static const mf_grad_estimator_vtable bb_vtable = {.size = sizeof(mf_grad_estimator_vtable), .create = bb_create};
static const mf_plugin_info bb_info = {.size = sizeof(mf_plugin_info), .kind = MF_KIND_GRAD_ESTIMATOR,
                                       .name = "blackbox", .version = "1.0.0",
                                       .doc = "blackbox differentiation of a solver (Vlastelica et al.)",
                                       .schema = &bb_schema, .vtable = &bb_vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "blackbox"));
    return mf_registry_add(reg, &bb_info);
}
