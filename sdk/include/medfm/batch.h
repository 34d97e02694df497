/* Batches: named tensors travelling from the data layer to tasks and
 * losses ("image", "label", "mask", "view0", "grid0", ...). A batch owns
 * its tensors. */
#ifndef MEDFM_BATCH_H
#define MEDFM_BATCH_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MF_BATCH_MAX 32

typedef struct mf_batch {
    int n;
    char *names[MF_BATCH_MAX];
    mf_tensor *tensors[MF_BATCH_MAX];
    int64_t size;       /* samples in the batch */
    char **sample_ids;  /* size entries (file names or generator ids), may be NULL */
} mf_batch;

/* Stores t under name, taking the caller's reference (also on failure);
 * replaces an existing entry of that name. */
mf_status mf_batch_put(mf_batch *b, const char *name, mf_tensor *t);
/* Borrowed tensor or NULL. */
mf_tensor *mf_batch_get(const mf_batch *b, const char *name);
/* Borrowed tensor, or an error naming `who` (the task or loss asking), the
 * missing name and the names present. */
mf_status mf_batch_need(const mf_batch *b, const char *name, const char *who, mf_tensor **out);
/* Releases every tensor and id; the struct is left empty and reusable. */
void mf_batch_clear(mf_batch *b);
/* Moves every tensor to `dev` (in place). */
mf_status mf_batch_to_device(mf_batch *b, mf_device dev);

#ifdef __cplusplus
}
#endif
#endif
