/* Shared by the loss plugin tests: load a built loss plugin, create it from
 * YAML text, and call it on named tensors. */
#ifndef MF_TEST_LOSS_SUPPORT_H
#define MF_TEST_LOSS_SUPPORT_H

#include <stdio.h>

#include "medfm/loss.h"
#include "medfm/medfm.h"
#include "medfm/plugin.h"
#include "tests/support/testing.h"

typedef struct tl_loss {
    mf_registry *reg;
    mf_loss *loss;
    const char *names[2];
} tl_loss;

static inline tl_loss tl_open(const char *plugin, const char *cfg_yaml, const char *a, const char *b) {
    tl_loss t = {.names = {a, b}};
    char path[1024];
    snprintf(path, sizeof path, "%s/lib/medfm/plugins/%s.so", MEDFM_BUILD_DIR, plugin);
    MF_OK_OR_FAIL(mf_registry_new(&t.reg));
    MF_OK_OR_FAIL(mf_registry_load(t.reg, path));
    const mf_plugin_info *info;
    MF_OK_OR_FAIL(mf_registry_get(t.reg, MF_KIND_LOSS, plugin, &info));
    mf_cfg *cfg = NULL;
    if (cfg_yaml)
        MF_OK_OR_FAIL(mf_cfg_parse_string(cfg_yaml, "test", &cfg));
    MF_OK_OR_FAIL(((const mf_loss_vtable *)info->vtable)->create(cfg, &t.loss));
    mf_cfg_free(cfg);
    return t;
}

static inline void tl_close(tl_loss *t) {
    t->loss->destroy(t->loss);
    mf_registry_free(t->reg);
}

/* t_fn for t_gradcheck: ctx is a tl_loss, inputs the two named tensors. */
static inline mf_status tl_call(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    tl_loss *t = ctx;
    mf_batch b = {0};
    mf_status st = mf_batch_put(&b, t->names[0], mf_tensor_retain(in[0]));
    if (st == MF_OK)
        st = mf_batch_put(&b, t->names[1], mf_tensor_retain(in[1]));
    if (st == MF_OK)
        st = t->loss->forward(t->loss, &b, out, NULL);
    mf_batch_clear(&b);
    return st;
}

#endif
