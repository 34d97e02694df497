/* Copying batches ahead to the device (see prefetch.h). Workers decode
 * into ordinary memory; each tensor is copied once into a pinned block,
 * queued on the copy stream, and the pinned block goes straight back to
 * the backend's cache, which reuses it only after the copy has read it. */
#include "core/runner/prefetch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/ops/view.h"

void mf__prefetch_init(mf_prefetch *p, mf_loader *l, mf_device dev) {
    memset(p, 0, sizeof *p);
    p->loader = l;
    p->dev = dev;
    const char *env = getenv("MEDFM_CUDA_PREFETCH");
    const mf_backend *be;
    if (dev.type == MF_CPU || (env && !strcmp(env, "0")) || mf_backend_get(dev, &be) != MF_OK)
        return; /* a missing backend reports itself on the first move */
    if (MF_BACKEND_HAS(be, pinned_alloc) && MF_BACKEND_HAS(be, pinned_free) && MF_BACKEND_HAS(be, copy_async) &&
        MF_BACKEND_HAS(be, copy_wait))
        p->be = be;
}

static void pinned_release(void *ctx, void *data, size_t nbytes) {
    mf_device dev = {MF_CUDA, (int32_t)(intptr_t)ctx};
    const mf_backend *be;
    if (mf_backend_get(dev, &be) == MF_OK && MF_BACKEND_HAS(be, pinned_free))
        be->pinned_free(dev, data, nbytes);
}

/* Replaces *t by a device tensor whose copy is queued; *ticket marks it. */
static mf_status stage(mf_prefetch *p, mf_tensor **t, void **ticket) {
    mf_tensor *h = *t, *pin = NULL, *d = NULL;
    size_t n = mf_tensor_nbytes(h);
    *ticket = NULL;
    if (n == 0 || p->dev.type != MF_CUDA) {
        MF_TRY(mf_to_device(h, p->dev, &d));
    } else {
        void *buf;
        MF_TRY(p->be->pinned_alloc(p->dev, n, &buf));
        mf_status st = mf_tensor_to_host(h, h->dtype, buf, n);
        if (st == MF_OK)
            st = mf_tensor_wrap(h->ndim, h->shape, h->dtype, MF_DEVICE_CPU, buf, pinned_release,
                                (void *)(intptr_t)p->dev.index, &pin);
        if (st != MF_OK) {
            p->be->pinned_free(p->dev, buf, n);
            return st;
        }
        st = mf_tensor_empty(h->ndim, h->shape, h->dtype, p->dev, &d);
        if (st == MF_OK)
            st = p->be->copy_async(d, pin, ticket);
        /* The cache hands the block out again only after the copy read it. */
        mf_tensor_release(pin);
        if (st != MF_OK) {
            mf_tensor_release(d); /* copy_async leaves nothing in flight on failure */
            return st;
        }
    }
    mf_tensor_release(h);
    *t = d;
    return MF_OK;
}

static mf_status wait_all(mf_prefetch *p) {
    mf_status st = MF_OK;
    for (int i = 0; i < p->n_tickets; i++) {
        mf_status s = p->be->copy_wait(p->dev, p->tickets[i]);
        if (st == MF_OK)
            st = s;
    }
    p->n_tickets = 0;
    return st;
}

/* Takes the loader's next batch into p->next and queues its copies;
 * a failure is kept for the caller that asks for this batch. */
static void fetch(mf_prefetch *p) {
    p->pending = true;
    p->n_tickets = 0;
    p->next_done = false;
    mf_status st = mf_loader_next(p->loader, &p->next, &p->next_done);
    for (int i = 0; st == MF_OK && !p->next_done && i < p->next.n; i++) {
        st = stage(p, &p->next.tensors[i], &p->tickets[p->n_tickets]);
        if (st == MF_OK && p->tickets[p->n_tickets])
            p->n_tickets++;
    }
    p->next_st = st;
    if (st != MF_OK)
        snprintf(p->next_msg, sizeof p->next_msg, "%s", mf_last_error());
}

mf_status mf__prefetch_next(mf_prefetch *p, mf_batch *b, bool *done, bool ahead) {
    if (!p->be) {
        MF_TRY(mf_loader_next(p->loader, b, done));
        if (!*done && p->dev.type != MF_CPU)
            MF_TRY(mf_batch_to_device(b, p->dev));
        return MF_OK;
    }
    if (!p->pending)
        fetch(p);
    mf_batch_clear(b);
    /* The compute stream waits for this batch's copies before anything
     * uses (or frees) its device tensors. */
    mf_status wst = wait_all(p);
    *b = p->next;
    memset(&p->next, 0, sizeof p->next);
    *done = p->next_done;
    mf_status st = p->next_st;
    p->pending = false;
    if (st != MF_OK) {
        mf_batch_clear(b);
        return mf_error_at(st, __FILE__, __LINE__, "%s", p->next_msg);
    }
    if (wst != MF_OK) {
        mf_batch_clear(b);
        return wst;
    }
    if (ahead && !*done)
        fetch(p);
    return MF_OK;
}

void mf__prefetch_reset(mf_prefetch *p) {
    if (!p->pending)
        return;
    if (p->be)
        wait_all(p);
    mf_batch_clear(&p->next);
    p->pending = false;
}
