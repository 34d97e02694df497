/* Copying batches ahead to the device (core/runner/prefetch.c): on the CPU
 * the loader's batches pass as they are; on CUDA every batch arrives whole
 * and in order, over epochs, restarts mid-epoch and dropped batches, and
 * the pinned staging blocks are reused. The CUDA tests skip without a
 * device; they also run under the CPU emulation of the CUDA module
 * (core/backend/cuda/emu), whose queued copies run only when waited for. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cuda/cuda_api.h"
#include "core/runner/prefetch.h"
#include "tests/core/backend/cuda_testing.h"

static const char *CFG = "data:\n"
                         "  train:\n"
                         "    source: {type: phantom2d, size: 16, count: 20, num_classes: 3}\n"
                         "    transforms: [{name: random_resized_crop, size: 12, scale: [0.4, 1.0]}, {name: hflip}]\n"
                         "    batch_size: 6\n"
                         "    workers: 2\n";

static mf_loader *loader(void) {
    mf_cfg *c = NULL;
    MF_OK_OR_FAIL(mf_cfg_parse_string(CFG, "prefetch.yaml", &c));
    mf_loader *l = NULL;
    MF_OK_OR_FAIL(mf_loader_from_cfg(mf_cfg_find(c, "data.train"), 5, &l));
    mf_cfg_free(c);
    return l;
}

/* Asserts that batch `got` (any device) holds exactly the CPU batch `want`. */
static void same_batch(const mf_batch *want, const mf_batch *got, mf_device dev, const char *what) {
    cr_assert_eq(got->n, want->n, "%s", what);
    cr_assert_eq(got->size, want->size, "%s", what);
    for (int i = 0; i < want->n; i++) {
        mf_tensor *t = mf_batch_get(got, want->names[i]);
        cr_assert_not_null(t, "%s: %s missing", what, want->names[i]);
        cr_assert(mf_device_equal(t->storage->device, dev), "%s: %s on %s", what, want->names[i],
                  mf_device_name(t->storage->device));
        mf_tensor *h = t_on(t, MF_DEVICE_CPU, false);
        cr_assert_eq(mf_tensor_nbytes(h), mf_tensor_nbytes(want->tensors[i]));
        cr_assert_eq(memcmp(mf_tensor_data(h), mf_tensor_data(want->tensors[i]), mf_tensor_nbytes(h)), 0,
                     "%s: %s differs", what, want->names[i]);
        mf_tensor_release(h);
    }
    for (int64_t i = 0; i < want->size; i++)
        cr_assert_str_eq(got->sample_ids[i], want->sample_ids[i], "%s", what);
}

/* Epoch `epoch` from batch `first` through the prefetcher, checked batch by
 * batch against a plain CPU loader. */
static void check_epoch(mf_prefetch *p, mf_loader *l, mf_loader *ref, int64_t epoch, int64_t first, mf_device dev) {
    mf__prefetch_reset(p);
    MF_OK_OR_FAIL(mf_loader_start_epoch_at(l, epoch, first));
    MF_OK_OR_FAIL(mf_loader_start_epoch_at(ref, epoch, first));
    int64_t k = first;
    for (;; k++) {
        mf_batch got = {0}, want = {0};
        bool done = false, rdone = false;
        MF_OK_OR_FAIL(mf__prefetch_next(p, &got, &done, true));
        MF_OK_OR_FAIL(mf_loader_next(ref, &want, &rdone));
        cr_assert_eq(done, rdone, "epoch %lld batch %lld", (long long)epoch, (long long)k);
        if (!done) {
            char what[64];
            snprintf(what, sizeof what, "epoch %lld batch %lld", (long long)epoch, (long long)k);
            same_batch(&want, &got, dev, what);
        }
        mf_batch_clear(&got);
        mf_batch_clear(&want);
        if (done)
            break;
    }
    cr_assert_eq(k, mf_loader_num_batches(ref), "every batch of epoch %lld arrives", (long long)epoch);
}

Test(prefetch, on_the_cpu_batches_are_the_loaders_own) {
    mf_loader *l = loader(), *ref = loader();
    mf_prefetch p = {0};
    mf__prefetch_init(&p, l, MF_DEVICE_CPU);
    cr_assert_null(p.be, "no copies ahead on the CPU");
    for (int64_t e = 0; e < 2; e++)
        check_epoch(&p, l, ref, e, 0, MF_DEVICE_CPU);
    mf__prefetch_reset(&p);
    mf_loader_free(l);
    mf_loader_free(ref);
}

Test(prefetch, cuda_batches_arrive_whole_and_in_order_over_epochs) {
    t_need_cuda();
    mf_loader *l = loader(), *ref = loader();
    mf_prefetch p = {0};
    mf__prefetch_init(&p, l, T_CUDA);
    cr_assert_not_null(p.be, "the CUDA backend copies ahead");
    for (int64_t e = 0; e < 3; e++)
        check_epoch(&p, l, ref, e, 0, T_CUDA);
    mf__prefetch_reset(&p);
    mf_loader_free(l);
    mf_loader_free(ref);
}

Test(prefetch, a_restart_mid_epoch_drops_the_batch_in_flight_and_resumes_exactly) {
    t_need_cuda();
    mf_loader *l = loader(), *ref = loader();
    mf_prefetch p = {0};
    mf__prefetch_init(&p, l, T_CUDA);
    MF_OK_OR_FAIL(mf_loader_start_epoch(l, 1));
    mf_batch b = {0};
    bool done;
    MF_OK_OR_FAIL(mf__prefetch_next(&p, &b, &done, true)); /* batch 1 is now in flight */
    cr_assert(p.pending);
    mf_batch_clear(&b);
    /* as a resumed run does: the same epoch again from batch 2 */
    check_epoch(&p, l, ref, 1, 2, T_CUDA);
    mf__prefetch_reset(&p);
    mf_loader_free(l);
    mf_loader_free(ref);
}

Test(prefetch, staging_blocks_are_reused_across_steps) {
    t_need_cuda();
    const char *mp = getenv("MEDFM_CUDA_MODULE");
    void *h = dlopen(mp && *mp ? mp : MEDFM_BUILD_DIR "/lib/libmedfm_cuda.so", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(h, "%s", dlerror());
    mf_cuda_memory_stats_fn stats = (mf_cuda_memory_stats_fn)dlsym(h, MF_CUDA_MEMORY_STATS_SYMBOL);
    cr_assert_not_null(stats);
    mf_loader *l = loader();
    mf_prefetch p = {0};
    mf__prefetch_init(&p, l, T_CUDA);
    mf_cuda_mem_stats s0 = {.size = sizeof s0}, s1 = {.size = sizeof s1};
    MF_OK_OR_FAIL(stats(0, &s0));
    int steps = 0, staged = 0, per_batch = 0;
    for (int64_t e = 0; e < 3; e++) {
        mf__prefetch_reset(&p);
        MF_OK_OR_FAIL(mf_loader_start_epoch(l, e));
        for (bool done = false; !done;) {
            mf_batch b = {0};
            MF_OK_OR_FAIL(mf__prefetch_next(&p, &b, &done, true));
            steps += !done;
            staged += b.n;
            per_batch = b.n > per_batch ? b.n : per_batch;
            mf_batch_clear(&b);
        }
    }
    mf__prefetch_reset(&p);
    MF_OK_OR_FAIL(stats(0, &s1));
    /* A staging block goes back to the cache as soon as its copy is queued,
     * so one block per tensor of a full batch and of the short last batch
     * serves every step. */
    uint64_t allocs = s1.pinned_host_allocs - s0.pinned_host_allocs;
    cr_assert_gt(steps, 6);
    cr_assert_leq(allocs, (uint64_t)(2 * per_batch), "%llu cudaHostAlloc calls for %d batches of %d tensors",
                  (unsigned long long)allocs, steps, per_batch);
    cr_assert_eq(s1.pinned_cache_hits - s0.pinned_cache_hits, (uint64_t)staged - allocs);
    cr_assert_eq(s1.pinned_current_bytes, s0.pinned_current_bytes, "every staging block went back to the cache");
    mf_loader_free(l);
    dlclose(h);
}
