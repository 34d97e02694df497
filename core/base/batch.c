/* Named-tensor batches. */
#include "medfm/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/ops/view.h"

mf_status mf_batch_put(mf_batch *b, const char *name, mf_tensor *t) {
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->names[i], name)) {
            mf_tensor_release(b->tensors[i]);
            b->tensors[i] = t;
            return MF_OK;
        }
    if (b->n >= MF_BATCH_MAX) {
        mf_tensor_release(t);
        return MF_ERR(MF_ERR_INVALID, "batch: more than %d named tensors (adding '%s')", MF_BATCH_MAX, name);
    }
    char *copy = strdup(name);
    if (!copy) {
        mf_tensor_release(t);
        return MF_ERR(MF_ERR_NOMEM, "batch: out of memory");
    }
    b->names[b->n] = copy;
    b->tensors[b->n++] = t;
    return MF_OK;
}

mf_tensor *mf_batch_get(const mf_batch *b, const char *name) {
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->names[i], name))
            return b->tensors[i];
    return NULL;
}

mf_status mf_batch_need(const mf_batch *b, const char *name, const char *who, mf_tensor **out) {
    mf_tensor *t = mf_batch_get(b, name);
    if (t) {
        *out = t;
        return MF_OK;
    }
    char have[512] = "";
    size_t len = 0;
    for (int i = 0; i < b->n && len < sizeof have; i++)
        len += (size_t)snprintf(have + len, sizeof have - len, "%s%s", i ? ", " : "", b->names[i]);
    return MF_ERR(MF_ERR_NOT_FOUND, "%s needs '%s' in each batch, but the data provides: %s", who, name,
                  b->n ? have : "nothing");
}

void mf_batch_clear(mf_batch *b) {
    for (int i = 0; i < b->n; i++) {
        free(b->names[i]);
        mf_tensor_release(b->tensors[i]);
    }
    if (b->sample_ids) {
        for (int64_t i = 0; i < b->size; i++)
            free(b->sample_ids[i]);
        free(b->sample_ids);
    }
    memset(b, 0, sizeof *b);
}

mf_status mf_batch_to_device(mf_batch *b, mf_device dev) {
    for (int i = 0; i < b->n; i++) {
        mf_tensor *m;
        MF_TRY(mf_to_device(b->tensors[i], dev, &m));
        mf_tensor_release(b->tensors[i]);
        b->tensors[i] = m;
    }
    return MF_OK;
}
