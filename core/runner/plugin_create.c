/* Creating plugins from config sections: look the `plugin:` name up in the
 * registry, check the section against the plugin's schema (defaults filled
 * in, every problem naming file:line:col), then call its factory. Tasks use
 * these for the sub-plugins they own (task.solver, task.loss, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/nn.h"
#include "medfm/runner.h"

/* Whether the plugin's own schema declares `key` (then the plugin, not the
 * runner, handles it: e.g. an encoder that loads `weights` with its own
 * prefix and strictness options). */
static bool schema_has(const mf_plugin_info *info, const char *key) {
    for (int i = 0; info->schema && i < info->schema->n_keys; i++)
        if (!strcmp(info->schema->keys[i].name, key))
            return true;
    return false;
}

static mf_status section_plugin_name(mf_plugin_kind kind, const mf_cfg *section, const char **name) {
    if (!section || section->kind != MF_CFG_MAP)
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: expected a map with a 'plugin' key naming the %s",
                      section ? mf_cfg_where(section) : "<config>", section ? mf_cfg_path(section) : "?",
                      mf_plugin_kind_name(kind));
    const mf_cfg *p = mf_cfg_find(section, "plugin");
    if (!p)
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: required key 'plugin' (the %s plugin to use) is missing",
                      mf_cfg_where(section), mf_cfg_path(section), mf_plugin_kind_name(kind));
    return mf_cfg_as_string(p, name);
}

mf_status mf_plugin_check_section(const mf_registry *reg, mf_plugin_kind kind, mf_cfg *section,
                                  const mf_plugin_info **out) {
    const char *name;
    MF_TRY(section_plugin_name(kind, section, &name));
    const mf_plugin_info *info;
    if (mf_registry_get(reg, kind, name, &info) != MF_OK) {
        const mf_cfg *p = mf_cfg_find(section, "plugin");
        return mf_error_context(MF_ERR_CONFIG, "%s", mf_cfg_where(p));
    }
    /* The plugin's keys plus the runner's own ones in the section. */
    int n0 = info->schema ? info->schema->n_keys : 0;
    mf_key_spec *keys = calloc((size_t)n0 + 3, sizeof *keys);
    if (!keys)
        return MF_ERR(MF_ERR_NOMEM, "plugin section: out of memory");
    int n = 0;
    for (int i = 0; i < n0; i++)
        keys[n++] = info->schema->keys[i];
    keys[n++] = (mf_key_spec){"plugin", MF_KEY_STRING, NULL, "plugin name", MF_NO_LIMIT, MF_NO_LIMIT, NULL, NULL,
                              false};
    if (kind == MF_KIND_ENCODER && !schema_has(info, "weights")) {
        keys[n++] = (mf_key_spec){"weights", MF_KEY_PATH, "~", "safetensors file of weights to load", MF_NO_LIMIT,
                                  MF_NO_LIMIT, NULL, NULL, true};
        keys[n++] = (mf_key_spec){"weights_prefix", MF_KEY_STRING, "~",
                                  "load only the file's keys under this prefix (\"encoder.\" for a pretraining "
                                  "run's checkpoints/model.safetensors)",
                                  MF_NO_LIMIT, MF_NO_LIMIT, NULL, NULL, true};
    }
    char title[160];
    snprintf(title, sizeof title, "%s plugin '%s'", mf_plugin_kind_name(kind), name);
    mf_schema schema = {title, keys, n, info->schema ? info->schema->open : false};
    mf_diag d = {0};
    mf_cfg_validate(section, &schema, &d);
    free(keys);
    mf_status st = mf_diag_status(&d);
    mf_diag_free(&d);
    if (st == MF_OK && out)
        *out = info;
    return st;
}

#define CREATE_PROLOGUE(KIND, VT)                                                             \
    *out = NULL;                                                                              \
    const mf_plugin_info *info;                                                               \
    MF_TRY(mf_plugin_check_section(reg, KIND, section, &info));                               \
    const VT *vt = info->vtable;                                                              \
    if (!vt || !vt->create)                                                                   \
        return MF_ERR(MF_ERR_PLUGIN, "%s plugin '%s' has no create function", #KIND, info->name);

mf_status mf_plugin_create_encoder(const mf_registry *reg, mf_cfg *section, mf_rng *rng, mf_encoder **out) {
    CREATE_PROLOGUE(MF_KIND_ENCODER, mf_encoder_vtable)
    MF_TRY(vt->create(section, rng, out));
    const char *weights = NULL;
    const mf_cfg *w = mf_cfg_find(section, "weights");
    if (w && w->kind == MF_CFG_SCALAR && !schema_has(info, "weights"))
        MF_TRY(mf_cfg_as_string(w, &weights));
    const char *prefix = NULL;
    const mf_cfg *wp = mf_cfg_find(section, "weights_prefix");
    if (wp && wp->kind == MF_CFG_SCALAR && !schema_has(info, "weights"))
        MF_TRY(mf_cfg_as_string(wp, &prefix));
    if (weights && (*out)->module) {
        mf_named_tensors st = {0};
        mf_status s = mf_module_state((*out)->module, &st);
        if (s == MF_OK)
            s = prefix ? mf_state_dict_load_prefix(weights, prefix, st.items, st.n, true, NULL)
                       : mf_state_dict_load(weights, st.items, st.n, true, NULL);
        mf_named_tensors_free(&st);
        if (s != MF_OK) {
            (*out)->destroy(*out);
            *out = NULL;
            return mf_error_context(s, "%s: encoder.weights", mf_cfg_where(w));
        }
    }
    return MF_OK;
}

mf_status mf_plugin_create_loss(const mf_registry *reg, mf_cfg *section, mf_loss **out) {
    CREATE_PROLOGUE(MF_KIND_LOSS, mf_loss_vtable)
    return vt->create(section, out);
}

mf_status mf_plugin_create_solver(const mf_registry *reg, mf_cfg *section, mf_solver **out) {
    CREATE_PROLOGUE(MF_KIND_SOLVER, mf_solver_vtable)
    return vt->create(section, out);
}

mf_status mf_plugin_create_grad_estimator(const mf_registry *reg, mf_cfg *section, mf_grad_estimator **out) {
    CREATE_PROLOGUE(MF_KIND_GRAD_ESTIMATOR, mf_grad_estimator_vtable)
    return vt->create(section, out);
}

mf_status mf_plugin_create_task(const mf_registry *reg, const mf_task_env *env, mf_cfg *section, mf_task **out) {
    CREATE_PROLOGUE(MF_KIND_TASK, mf_task_vtable)
    return vt->create(env, section, out);
}
