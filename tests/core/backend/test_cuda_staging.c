/* Asynchronous host->device staging on the CUDA backend: the pinned block
 * cache, copies on the copy stream that the compute stream waits for, and
 * the CPU backend reporting the hooks as unsupported. The CUDA tests skip
 * without a device; under the CPU emulation (core/backend/cuda/emu) queued
 * copies run only when their event is waited, so a missing wait or a
 * staging block reused too early shows up as wrong data or an abort. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cuda/cuda_api.h"
#include "tests/core/backend/cuda_testing.h"

static mf_cuda_memory_stats_fn stats_fn(void **h) {
    const char *p = getenv("MEDFM_CUDA_MODULE");
    *h = dlopen(p && *p ? p : MEDFM_BUILD_DIR "/lib/libmedfm_cuda.so", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(*h, "%s", dlerror());
    mf_cuda_memory_stats_fn f = (mf_cuda_memory_stats_fn)dlsym(*h, MF_CUDA_MEMORY_STATS_SYMBOL);
    cr_assert_not_null(f);
    return f;
}

static const mf_backend *cuda_backend(void) {
    const mf_backend *be;
    MF_OK_OR_FAIL(mf_backend_get(T_CUDA, &be));
    cr_assert(MF_BACKEND_HAS(be, pinned_alloc) && MF_BACKEND_HAS(be, pinned_free) &&
              MF_BACKEND_HAS(be, copy_async) && MF_BACKEND_HAS(be, copy_wait));
    return be;
}

/* A CPU f32 tensor over a pinned block, filled with `base + i`. */
static mf_tensor *pinned_f32(const mf_backend *be, int64_t n, float base, void **buf) {
    MF_OK_OR_FAIL(be->pinned_alloc(T_CUDA, (size_t)n * 4, buf));
    float *f = *buf;
    for (int64_t i = 0; i < n; i++)
        f[i] = base + (float)i;
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_wrap(1, &n, MF_F32, MF_DEVICE_CPU, *buf, NULL, NULL, &t));
    return t;
}

Test(cuda_staging, the_cpu_backend_reports_async_staging_as_unsupported) {
    const mf_backend *be;
    MF_OK_OR_FAIL(mf_backend_get(MF_DEVICE_CPU, &be));
    cr_assert_not(MF_BACKEND_HAS(be, pinned_alloc));
    cr_assert_not(MF_BACKEND_HAS(be, copy_async));
    cr_assert_not(MF_BACKEND_HAS(be, copy_wait));
}

Test(cuda_staging, a_freed_pinned_block_is_handed_out_again_without_a_new_host_alloc) {
    t_need_cuda();
    const mf_backend *be = cuda_backend();
    void *h;
    mf_cuda_memory_stats_fn stats = stats_fn(&h);
    mf_cuda_mem_stats s0 = {.size = sizeof s0}, s1 = {.size = sizeof s1}, s2 = {.size = sizeof s2};
    MF_OK_OR_FAIL(stats(0, &s0));
    void *a, *b;
    MF_OK_OR_FAIL(be->pinned_alloc(T_CUDA, 5000, &a)); /* 8 KiB class */
    MF_OK_OR_FAIL(stats(0, &s1));
    cr_assert_eq(s1.pinned_current_bytes - s0.pinned_current_bytes, 8192u);
    be->pinned_free(T_CUDA, a, 5000);
    MF_OK_OR_FAIL(be->pinned_alloc(T_CUDA, 7000, &b)); /* same class: the cached block */
    MF_OK_OR_FAIL(stats(0, &s2));
    cr_assert_eq(b, a);
    cr_assert_eq(s2.pinned_host_allocs, s1.pinned_host_allocs);
    cr_assert_eq(s2.pinned_cache_hits - s1.pinned_cache_hits, 1u);
    be->pinned_free(T_CUDA, b, 7000);
    MF_OK_OR_FAIL(stats(0, &s2));
    cr_assert_eq(s2.pinned_current_bytes, s0.pinned_current_bytes);
    cr_assert_geq(s2.pinned_cached_bytes, 8192u);
    dlclose(h);
}

Test(cuda_staging, an_async_copy_is_complete_once_the_compute_stream_waited_for_it) {
    t_need_cuda();
    const mf_backend *be = cuda_backend();
    void *buf, *ticket;
    mf_tensor *src = pinned_f32(be, 3000, 1.0f, &buf), *dst, *want;
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){3000}, MF_F32, T_CUDA, &dst));
    MF_OK_OR_FAIL(be->copy_async(dst, src, &ticket));
    cr_assert_not_null(ticket);
    MF_OK_OR_FAIL(be->copy_wait(T_CUDA, ticket));
    want = t_on(src, MF_DEVICE_CPU, false);
    t_assert_matches_cpu(dst, want, 0, "copied batch");
    mf_tensor_release(src);
    be->pinned_free(T_CUDA, buf, 3000 * 4);
    mf_tensor_release(dst);
    mf_tensor_release(want);
}

Test(cuda_staging, a_staging_block_is_reused_only_after_its_queued_copy_read_it) {
    t_need_cuda();
    const mf_backend *be = cuda_backend();
    void *b1, *b2, *t1, *t2;
    mf_tensor *s1 = pinned_f32(be, 2048, 0.0f, &b1), *d1, *d2;
    mf_tensor *w1 = t_on(s1, MF_DEVICE_CPU, false);
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){2048}, MF_F32, T_CUDA, &d1));
    MF_OK_OR_FAIL(be->copy_async(d1, s1, &t1));
    mf_tensor_release(s1);
    be->pinned_free(T_CUDA, b1, 2048 * 4); /* the copy may still be queued */
    mf_tensor *s2 = pinned_f32(be, 2048, 1e6f, &b2); /* the same block, rewritten */
    cr_assert_eq(b2, b1, "the freed block should come back from the cache");
    mf_tensor *w2 = t_on(s2, MF_DEVICE_CPU, false);
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){2048}, MF_F32, T_CUDA, &d2));
    MF_OK_OR_FAIL(be->copy_async(d2, s2, &t2));
    MF_OK_OR_FAIL(be->copy_wait(T_CUDA, t1));
    MF_OK_OR_FAIL(be->copy_wait(T_CUDA, t2));
    t_assert_matches_cpu(d1, w1, 0, "first copy keeps the first contents");
    t_assert_matches_cpu(d2, w2, 0, "second copy");
    mf_tensor_release(s2);
    be->pinned_free(T_CUDA, b2, 2048 * 4);
    mf_tensor *all[] = {d1, d2, w1, w2};
    for (int i = 0; i < 4; i++)
        mf_tensor_release(all[i]);
}

Test(cuda_staging, copy_async_rejects_views_and_mismatched_dtypes) {
    t_need_cuda();
    const mf_backend *be = cuda_backend();
    void *ticket = (void *)1;
    mf_tensor *h = t_uniform(1, 2, (int64_t[]){4, 6}, MF_F32, -1, 1), *ht, *d, *d64;
    MF_OK_OR_FAIL(mf_transpose(h, 0, 1, &ht));
    MF_OK_OR_FAIL(mf_tensor_empty(2, (int64_t[]){6, 4}, MF_F32, T_CUDA, &d));
    MF_OK_OR_FAIL(mf_tensor_empty(2, (int64_t[]){4, 6}, MF_F64, T_CUDA, &d64));
    cr_assert_eq(be->copy_async(d, ht, &ticket), MF_ERR_INVALID);
    cr_assert_null(ticket);
    cr_assert(strstr(mf_last_error(), "contiguous"), "%s", mf_last_error());
    cr_assert_eq(be->copy_async(d64, h, &ticket), MF_ERR_INVALID);
    mf_tensor *all[] = {h, ht, d, d64};
    for (int i = 0; i < 4; i++)
        mf_tensor_release(all[i]);
}
