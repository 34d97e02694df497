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

#ifdef __cplusplus
}
#endif
#endif
