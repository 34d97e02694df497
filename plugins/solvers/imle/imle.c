/* The `imle` gradient estimator plugin (Niepert et al. 2021, as LVM-Med
 * uses it): perturb-and-MAP forward with Gumbel or Sum-of-Gamma noise,
 * averaged over samples, and the same noise reused for the target solve of
 * the backward. The rule itself is in perturb_core.h. */
#include <stdlib.h>
#include <string.h>

#include "medfm/plugin.h"
#include "perturb_core.h"

static mf_status imle_apply(mf_grad_estimator *g, mf_solver *solver, const mf_gm_problem *p, mf_rng *rng,
                            mf_tensor **x) {
    return pc_apply(g->state, solver, p, rng, x);
}

static mf_status imle_create(const mf_cfg *cfg, mf_grad_estimator **out) {
    pc_cfg c = {.name = "imle", .lambda = 80, .temperature = 1, .noise = PC_NOISE_GUMBEL, .samples = 1,
                .sog_terms = 10, .perturb_quadratic = true};
    const char *noise = "gumbel";
    if (cfg) {
        MF_TRY(mf_cfg_get_float(cfg, "lambda", c.lambda, &c.lambda));
        MF_TRY(mf_cfg_get_float(cfg, "temperature", c.temperature, &c.temperature));
        MF_TRY(mf_cfg_get_string(cfg, "noise", noise, &noise));
        MF_TRY(mf_cfg_get_int(cfg, "samples", c.samples, &c.samples));
        MF_TRY(mf_cfg_get_int(cfg, "sog_terms", c.sog_terms, &c.sog_terms));
        MF_TRY(mf_cfg_get_bool(cfg, "perturb_quadratic", c.perturb_quadratic, &c.perturb_quadratic));
    }
    if (!strcmp(noise, "gumbel"))
        c.noise = PC_NOISE_GUMBEL;
    else if (!strcmp(noise, "sum_of_gamma"))
        c.noise = PC_NOISE_SOG;
    else if (!strcmp(noise, "none"))
        c.noise = PC_NOISE_NONE;
    else
        return MF_ERR(MF_ERR_CONFIG, "imle: noise must be gumbel, sum_of_gamma or none, got '%s'", noise);
    if (!(c.lambda > 0) || !(c.temperature >= 0) || c.samples < 1 || c.sog_terms < 1)
        return MF_ERR(MF_ERR_CONFIG,
                      "imle: need lambda > 0 (got %g), temperature >= 0 (got %g), samples >= 1 (got %lld), "
                      "sog_terms >= 1 (got %lld)",
                      c.lambda, c.temperature, (long long)c.samples, (long long)c.sog_terms);
    mf_grad_estimator *g = calloc(1, sizeof *g);
    pc_cfg *st = malloc(sizeof *st);
    if (!g || !st) {
        free(g);
        free(st);
        return MF_ERR(MF_ERR_NOMEM, "imle: out of memory");
    }
    *st = c;
    *g = (mf_grad_estimator){.size = sizeof(mf_grad_estimator), .name = "imle", .state = st, .apply = imle_apply,
                             .destroy = pc_destroy};
    *out = g;
    return MF_OK;
}

static const mf_key_spec imle_keys[] = {
    {.name = "lambda", .type = MF_KEY_FLOAT, .def = "80", .doc = "finite-difference step of the target costs",
     .min = 0, .max = MF_NO_LIMIT},
    {.name = "noise", .type = MF_KEY_CHOICE, .def = "gumbel", .doc = "perturbation of the costs",
     .min = MF_NO_LIMIT, .max = MF_NO_LIMIT, .choices = "gumbel|sum_of_gamma|none"},
    {.name = "temperature", .type = MF_KEY_FLOAT, .def = "1.0", .doc = "noise scale tau", .min = 0,
     .max = MF_NO_LIMIT},
    {.name = "samples", .type = MF_KEY_INT, .def = "1", .doc = "noise samples averaged (forward and backward)",
     .min = 1, .max = MF_NO_LIMIT},
    {.name = "sog_terms", .type = MF_KEY_INT, .def = "10", .doc = "Gamma terms s of Sum-of-Gamma noise", .min = 1,
     .max = MF_NO_LIMIT},
    {.name = "perturb_quadratic", .type = MF_KEY_BOOL, .def = "true",
     .doc = "perturb the quadratic costs too (LVM-Med's eps')", .min = MF_NO_LIMIT, .max = MF_NO_LIMIT},
};
static const mf_schema imle_schema = {"grad_estimator imle", imle_keys, 6, false};
static const mf_grad_estimator_vtable imle_vtable = {.size = sizeof(mf_grad_estimator_vtable), .create = imle_create};
static const mf_plugin_info imle_info = {.size = sizeof(mf_plugin_info), .kind = MF_KIND_GRAD_ESTIMATOR,
                                         .name = "imle", .version = "1.0.0",
                                         .doc = "implicit MLE gradients through a solver (perturb-and-MAP)",
                                         .schema = &imle_schema, .vtable = &imle_vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "imle"));
    return mf_registry_add(reg, &imle_info);
}
