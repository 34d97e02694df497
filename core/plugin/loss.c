/* mf_loss_new: the create/destroy every loss plugin with a few scalar
 * options would otherwise repeat (a loss struct plus one state block, both
 * freed by destroy). */
#include <stdlib.h>
#include <string.h>

#include "medfm/loss.h"

static void loss_destroy(mf_loss *l) {
    if (l)
        free(l->state);
    free(l);
}

mf_status mf_loss_new(const char *name, mf_loss_forward_fn forward, const void *state, size_t state_size,
                      mf_loss **out) {
    *out = NULL;
    if (!name || !forward)
        return MF_ERR(MF_ERR_INVALID, "loss %s: no %s", name ? name : "?", name ? "forward function" : "name");
    mf_loss *l = calloc(1, sizeof *l);
    /* a block even for state_size 0, so l->state is never NULL */
    void *s = calloc(1, state_size ? state_size : 1);
    if (!l || !s) {
        free(l), free(s);
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", name);
    }
    if (state)
        memcpy(s, state, state_size);
    *l = (mf_loss){sizeof *l, name, s, forward, loss_destroy};
    *out = l;
    return MF_OK;
}
