/* Every solver plugin declares its keys: an empty section validates, gets
 * the documented defaults filled in, and the factory accepts the result;
 * an unknown key is rejected by validation. */
#include "tests/plugins/solvers/solver_support.h"

static void check_schema(const char *plugin, mf_plugin_kind kind) {
    mf_registry *r = ts_registry(plugin);
    const mf_plugin_info *info;
    MF_OK_OR_FAIL(mf_registry_get(r, kind, plugin, &info));
    for (int k = 0; k < info->schema->n_keys; k++)
        cr_assert(info->schema->keys[k].def && info->schema->keys[k].doc, "%s.%s has a default and a doc", plugin,
                  info->schema->keys[k].name);
    mf_cfg *cfg;
    MF_OK_OR_FAIL(mf_cfg_parse_string("{}\n", "test", &cfg));
    mf_diag d = {0};
    mf_cfg_validate(cfg, info->schema, &d);
    cr_assert_eq(d.n, 0, "%s: %s", plugin, d.n ? d.msgs[0] : "");
    cr_assert_eq(cfg->n, info->schema->n_keys, "defaults filled in");
    if (kind == MF_KIND_SOLVER) {
        mf_solver *s;
        MF_OK_OR_FAIL(((const mf_solver_vtable *)info->vtable)->create(cfg, &s));
        s->destroy(s);
    } else {
        mf_grad_estimator *g;
        MF_OK_OR_FAIL(((const mf_grad_estimator_vtable *)info->vtable)->create(cfg, &g));
        g->destroy(g);
    }
    mf_cfg_free(cfg);
    MF_OK_OR_FAIL(mf_cfg_parse_string("lambdaa: 3\n", "test", &cfg));
    mf_cfg_validate(cfg, info->schema, &d);
    cr_assert(d.n > 0, "%s rejects an unknown key", plugin);
    mf_diag_free(&d);
    mf_cfg_free(cfg);
    mf_registry_free(r);
}

Test(solver_schemas, lap_defaults_validate_and_create) { check_schema("lap", MF_KIND_SOLVER); }
Test(solver_schemas, gm_defaults_validate_and_create) { check_schema("gm", MF_KIND_SOLVER); }
Test(solver_schemas, imle_defaults_validate_and_create) { check_schema("imle", MF_KIND_GRAD_ESTIMATOR); }
Test(solver_schemas, blackbox_defaults_validate_and_create) { check_schema("blackbox", MF_KIND_GRAD_ESTIMATOR); }
