/* Batches for the experiment loop, on the run's device (runner-internal).
 * On the CPU this is the loader as is. On a device whose backend copies
 * asynchronously (CUDA), each batch's tensors are staged in pinned host
 * memory and copied on the device's copy stream, and batch k+1's copy is
 * queued before batch k is handed out, so it overlaps step k's compute;
 * the compute stream waits for a batch's copies before the batch is
 * returned. Other devices, or MEDFM_CUDA_PREFETCH=0, move batches
 * synchronously. */
#ifndef MEDFM_RUNNER_PREFETCH_H
#define MEDFM_RUNNER_PREFETCH_H

#include "core/backend/backend.h"
#include "medfm/loader.h"

typedef struct mf_prefetch {
    mf_loader *loader;
    mf_device dev;
    const mf_backend *be; /* NULL: no copies ahead */
    bool pending;         /* `next` holds the next batch (or why there is none) */
    bool next_done;
    mf_status next_st;
    mf_batch next;
    int n_tickets;
    void *tickets[MF_BATCH_MAX]; /* copies of `next` not yet waited */
    char next_msg[1024];
} mf_prefetch;

/* Sets p up over loader l (not owned) for device dev. A zeroed
 * mf_prefetch may be reset before (or without) init. */
void mf__prefetch_init(mf_prefetch *p, mf_loader *l, mf_device dev);
/* The loader's next batch into *b on the device (*done: the epoch has no
 * more). With `ahead`, the copy of the batch after it starts now. */
mf_status mf__prefetch_next(mf_prefetch *p, mf_batch *b, bool *done, bool ahead);
/* Drops a batch copied ahead (after its copies finish). Call before
 * restarting the loader's epoch and before freeing the loader. */
void mf__prefetch_reset(mf_prefetch *p);

#endif
