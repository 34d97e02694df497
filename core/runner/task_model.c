/* The model root a task builds around its encoder: the encoder's module
 * listed as child "encoder" (so names and optimisers see one tree) while
 * the mf_encoder keeps owning it. The root destroys the encoder with
 * itself, or hands it back when the task's creation fails. */
#include <stdlib.h>
#include <string.h>

#include "core/nn/internal.h"
#include "medfm/nn.h"
#include "medfm/task.h"

typedef struct task_model {
    mf_module base;
    mf_module_vtable vt; /* the task's type name, this file's destroy */
    mf_encoder *enc;     /* NULL once released */
} task_model;

static void task_model_destroy(mf_module *m);
static const mf_module_vtable alloc_vt = {"TaskModel", NULL, task_model_destroy};

static task_model *as_task_model(const mf_module *m) {
    return m && m->vt && m->vt->destroy == task_model_destroy ? (task_model *)m : NULL;
}

/* Takes the encoder's module out of the children without freeing it: the
 * module belongs to the mf_encoder. */
static void detach(task_model *r) {
    mf_module *m = &r->base;
    for (int i = 0; i < m->n_children; i++)
        if (m->children[i].item == r->enc->module) {
            free(m->children[i].name);
            memmove(&m->children[i], &m->children[i + 1], sizeof m->children[0] * (size_t)(m->n_children - i - 1));
            m->n_children--;
            return;
        }
}

static void task_model_destroy(mf_module *m) {
    task_model *r = (task_model *)m;
    if (!r->enc)
        return;
    detach(r);
    if (r->enc->destroy)
        r->enc->destroy(r->enc);
    r->enc = NULL;
}

mf_status mf_task_model_new(const char *type_name, mf_encoder *enc, mf_module **out) {
    *out = NULL;
    if (!enc || !enc->module)
        return MF_ERR(MF_ERR_INVALID, "task model %s: %s", type_name ? type_name : "?",
                      enc ? "the encoder has no module" : "no encoder");
    mf_module *m;
    MF_TRY(mf_module_alloc(sizeof(task_model), &alloc_vt, &m));
    task_model *r = (task_model *)m;
    r->vt = alloc_vt;
    if (type_name)
        r->vt.type_name = type_name;
    m->vt = &r->vt;
    /* The encoder is added without being attached to r->enc yet, and with
     * the variant that leaves it alone on failure: a failed creation must
     * not touch what the caller still owns. */
    mf_status st = mf__module_add_child_keep(m, "encoder", enc->module, NULL);
    if (st != MF_OK) {
        mf_module_free(m);
        return st;
    }
    r->enc = enc;
    *out = m;
    return MF_OK;
}

mf_encoder *mf_task_model_encoder(const mf_module *model) {
    task_model *r = as_task_model(model);
    return r ? r->enc : NULL;
}

mf_encoder *mf_task_model_release_encoder(mf_module *model) {
    task_model *r = as_task_model(model);
    if (!r || !r->enc)
        return NULL;
    detach(r);
    mf_encoder *enc = r->enc;
    r->enc = NULL;
    return enc;
}
