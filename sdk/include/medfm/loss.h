/* Loss plugins (kind "loss"): a configured objective over named inputs,
 * e.g. hamming {x, target}, infonce {z0, z1}, mpot {volume, slice},
 * dice_ce {logits, mask}. Inputs are a batch of named tensors so every
 * loss has the same call shape. */
#ifndef MEDFM_LOSS_H
#define MEDFM_LOSS_H

#include "medfm/batch.h"
#include "medfm/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_loss mf_loss;
struct mf_loss {
    uint32_t size;
    const char *name;
    void *state;
    /* Scalar loss (recorded on the tape) from named inputs; `logs` (may
     * be NULL) receives extra scalars worth logging, as 0-d tensors. */
    mf_status (*forward)(mf_loss *l, const mf_batch *inputs, mf_tensor **loss, mf_batch *logs);
    void (*destroy)(mf_loss *l);
};

typedef struct mf_loss_vtable {
    uint32_t size;
    mf_status (*create)(const mf_cfg *cfg, mf_loss **out);
} mf_loss_vtable;

typedef mf_status (*mf_loss_forward_fn)(mf_loss *l, const mf_batch *inputs, mf_tensor **loss, mf_batch *logs);

/* A new loss whose state is one block of `state_size` bytes that it owns:
 * a copy of `state` (its options, read and checked by the plugin's
 * create), or zeroes when state is NULL for the plugin to fill through
 * (*out)->state. (*out)->destroy frees the block and the loss, so a plugin
 * needs no destroy of its own. `name` must outlive the loss (a literal);
 * out of memory is an error naming it. A state with pointers to more
 * memory wants its own create and destroy instead. */
mf_status mf_loss_new(const char *name, mf_loss_forward_fn forward, const void *state, size_t state_size,
                      mf_loss **out);

#ifdef __cplusplus
}
#endif
#endif
