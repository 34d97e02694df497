/* CUDA backend memory: module loading without a device, the caching
 * allocator, copies between host and device (strided, every dtype),
 * conversions and fills on the device, all held to the CPU backend. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend/cuda/cuda_api.h"
#include "tests/core/backend/cuda_testing.h"

static const char *module_path(void) {
    const char *p = getenv("MEDFM_CUDA_MODULE");
    return p && *p ? p : MEDFM_BUILD_DIR "/lib/libmedfm_cuda.so";
}

Test(cuda_memory, requesting_cuda_without_a_device_gives_a_device_error_saying_why) {
    const mf_backend *be;
    mf_status st = mf_backend_get(T_CUDA, &be);
    if (st == MF_OK)
        cr_skip_test("a CUDA device is present; the no-device path cannot be exercised here");
    cr_assert_eq(st, MF_ERR_DEVICE, "status %s: %s", mf_status_name(st), mf_last_error());
    cr_assert(strstr(mf_last_error(), "cuda:0"), "%s", mf_last_error());
    if (access(module_path(), F_OK) == 0) /* module built: the driver is what is missing */
        cr_assert(strstr(mf_last_error(), "no CUDA device: "), "%s", mf_last_error());
    else
        cr_assert(strstr(mf_last_error(), "module not available"), "%s", mf_last_error());
    mf_tensor *t = NULL;
    cr_assert_eq(mf_tensor_empty(1, (int64_t[]){4}, MF_F32, T_CUDA, &t), MF_ERR_DEVICE);
    cr_assert_null(t);
}

Test(cuda_memory, a_device_index_that_does_not_exist_is_a_device_error) {
    t_need_cuda();
    mf_tensor *t = NULL;
    cr_assert_eq(mf_tensor_empty(1, (int64_t[]){4}, MF_F32, (mf_device){MF_CUDA, 99}, &t), MF_ERR_DEVICE);
    cr_assert(strstr(mf_last_error(), "cuda:99"), "%s", mf_last_error());
    cr_assert_null(t);
}

Test(cuda_memory, every_dtype_round_trips_through_the_device_bit_exactly) {
    t_need_cuda();
    for (int dt = 0; dt < MF_DTYPE_COUNT; dt++) {
        mf_tensor *x = t_uniform(5 + dt, 2, (int64_t[]){3, 37}, (mf_dtype)dt, -100, 200);
        mf_tensor *d = t_on(x, T_CUDA, false);
        mf_tensor *back = t_on(d, MF_DEVICE_CPU, false);
        t_assert_close(back, x, 0, 0, mf_dtype_name((mf_dtype)dt));
        mf_tensor_release(x);
        mf_tensor_release(d);
        mf_tensor_release(back);
    }
}

/* Small uploads return before the device has read their staging block;
 * the block is reused only after, so back-to-back uploads of different
 * data (the host overwriting its source at once) all arrive intact. */
Test(cuda_memory, back_to_back_uploads_without_a_wait_each_arrive_intact) {
    t_need_cuda();
    enum { N = 40 };
    float host[64];
    mf_tensor *d[N];
    for (int k = 0; k < N; k++) {
        for (int i = 0; i < 64; i++)
            host[i] = (float)(k * 1000 + i);
        mf_tensor *h;
        MF_OK_OR_FAIL(mf_tensor_wrap(1, (int64_t[]){64}, MF_F32, MF_DEVICE_CPU, host, NULL, NULL, &h));
        d[k] = t_on(h, T_CUDA, false);
        mf_tensor_release(h);
    }
    for (int k = 0; k < N; k++) {
        float back[64];
        MF_OK_OR_FAIL(mf_tensor_to_host(d[k], MF_F32, back, sizeof back));
        for (int i = 0; i < 64; i++)
            cr_assert_eq(back[i], (float)(k * 1000 + i), "upload %d element %d", k, i);
        mf_tensor_release(d[k]);
    }
}

Test(cuda_memory, strided_views_copy_in_both_directions_and_on_the_device) {
    t_need_cuda();
    mf_tensor *x = t_uniform(1, 3, (int64_t[]){6, 5, 4}, MF_F64, -1, 1);
    mf_tensor *xt, *xs;
    MF_OK_OR_FAIL(mf_transpose(x, 0, 2, &xt));          /* [4, 5, 6], non-contiguous */
    MF_OK_OR_FAIL(mf_slice(xt, 2, 1, 6, 2, &xs));       /* [4, 5, 3], step 2 */
    /* host view -> device view */
    mf_tensor *dbase, *dt_, *dv;
    MF_OK_OR_FAIL(mf_tensor_zeros(3, (int64_t[]){3, 5, 8}, MF_F64, T_CUDA, &dbase));
    MF_OK_OR_FAIL(mf_permute(dbase, (int[]){2, 1, 0}, &dt_)); /* [8, 5, 3] */
    MF_OK_OR_FAIL(mf_slice(dt_, 0, 0, 8, 2, &dv));            /* [4, 5, 3] */
    MF_OK_OR_FAIL(mf_tensor_copy_(dv, xs));
    /* device view -> host view */
    mf_tensor *hbase, *hv;
    MF_OK_OR_FAIL(mf_tensor_zeros(3, (int64_t[]){3, 5, 4}, MF_F64, MF_DEVICE_CPU, &hbase));
    MF_OK_OR_FAIL(mf_permute(hbase, (int[]){2, 1, 0}, &hv)); /* [4, 5, 3] */
    MF_OK_OR_FAIL(mf_tensor_copy_(hv, dv));
    t_assert_close(hv, xs, 0, 0, "host -> device view -> host view");
    /* device view -> device contiguous */
    mf_tensor *dc;
    MF_OK_OR_FAIL(mf_contiguous(dv, &dc));
    t_assert_matches_cpu(dc, xs, 0, "device gather");
    /* untouched elements of the device base stay zero */
    double s;
    mf_tensor *sum;
    MF_OK_OR_FAIL(mf_sum(dbase, 0, NULL, false, &sum));
    MF_OK_OR_FAIL(mf_tensor_item(sum, &s));
    mf_tensor *hs;
    MF_OK_OR_FAIL(mf_sum(xs, 0, NULL, false, &hs));
    cr_assert_float_eq(s, mf_tensor_get_flat(hs, 0), 1e-12);
    mf_tensor *all[] = {x, xt, xs, dbase, dt_, dv, hbase, hv, dc, sum, hs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mf_tensor_release(all[i]);
}

Test(cuda_memory, dtype_conversion_on_the_device_matches_the_cpu) {
    t_need_cuda();
    double vals[] = {0.0, -0.0, 1.5, -2.5, 3.7, -3.7, 255.9, 256.0, -129.0, 70000.5, -70000.5, 1e10, -1e10,
                     65504.0, 1e-6, 0.1, NAN, INFINITY, -INFINITY, 3e38};
    int n = (int)(sizeof vals / sizeof vals[0]);
    for (int sd = 0; sd < 2; sd++) {
        mf_tensor *x = t_from(1, (int64_t[]){n}, (mf_dtype)sd, vals);
        mf_tensor *dx = t_on(x, T_CUDA, false);
        for (int dd = 0; dd < MF_DTYPE_COUNT; dd++) {
            mf_tensor *want, *got;
            MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){n}, (mf_dtype)dd, MF_DEVICE_CPU, &want));
            MF_OK_OR_FAIL(mf_tensor_copy_(want, x));
            MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){n}, (mf_dtype)dd, T_CUDA, &got));
            MF_OK_OR_FAIL(mf_tensor_copy_(got, dx));
            mf_tensor *h = t_on(got, MF_DEVICE_CPU, false);
            for (int i = 0; i < n; i++) {
                double a = mf_tensor_get_flat(h, i), b = mf_tensor_get_flat(want, i);
                cr_assert((isnan(a) && isnan(b)) || a == b, "%s -> %s of %g: device %.17g, cpu %.17g",
                          mf_dtype_name((mf_dtype)sd), mf_dtype_name((mf_dtype)dd), vals[i], a, b);
            }
            /* and back to the source dtype on the device */
            mf_tensor *back, *wback;
            MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){n}, (mf_dtype)sd, T_CUDA, &back));
            MF_OK_OR_FAIL(mf_tensor_copy_(back, got));
            MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){n}, (mf_dtype)sd, MF_DEVICE_CPU, &wback));
            MF_OK_OR_FAIL(mf_tensor_copy_(wback, want));
            mf_tensor *hb = t_on(back, MF_DEVICE_CPU, false);
            for (int i = 0; i < n; i++) {
                double a = mf_tensor_get_flat(hb, i), b = mf_tensor_get_flat(wback, i);
                cr_assert((isnan(a) && isnan(b)) || a == b, "%s -> %s -> back of %g: device %.17g, cpu %.17g",
                          mf_dtype_name((mf_dtype)sd), mf_dtype_name((mf_dtype)dd), vals[i], a, b);
            }
            mf_tensor_release(hb);
            mf_tensor_release(want);
            mf_tensor_release(got);
            mf_tensor_release(h);
            mf_tensor_release(back);
            mf_tensor_release(wback);
        }
        mf_tensor_release(x);
        mf_tensor_release(dx);
    }
}

/* A host f64 buffer into an f32 device tensor and back, as the LVM-Med
 * solvers write their solutions (this was an error before). */
Test(cuda_memory, copies_between_host_and_device_also_convert_dtypes) {
    t_need_cuda();
    double vals[] = {0.1, -2.5, 1e10, 3.7, -0.0, 65504.0};
    mf_tensor *x = t_from(1, (int64_t[]){6}, MF_F64, vals), *d, *back;
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){6}, MF_F32, T_CUDA, &d));
    MF_OK_OR_FAIL(mf_tensor_copy_(d, x));
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){6}, MF_F64, MF_DEVICE_CPU, &back));
    MF_OK_OR_FAIL(mf_tensor_copy_(back, d));
    for (int i = 0; i < 6; i++)
        cr_assert_eq(mf_tensor_get_flat(back, i), (double)(float)vals[i], "element %d: %.17g", i,
                     mf_tensor_get_flat(back, i));
    mf_tensor_release(x);
    mf_tensor_release(d);
    mf_tensor_release(back);
}

Test(cuda_memory, fill_writes_every_element_of_a_strided_view) {
    t_need_cuda();
    mf_dtype dts[] = {MF_F32, MF_F64, MF_I32, MF_I64, MF_U8, MF_BOOL, MF_BF16, MF_F16, MF_I16};
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
        mf_tensor *cpu, *dev, *cv, *dvw;
        MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){7, 9}, dts[k], MF_DEVICE_CPU, &cpu));
        MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){7, 9}, dts[k], T_CUDA, &dev));
        MF_OK_OR_FAIL(mf_slice(cpu, 1, 1, 9, 3, &cv));
        MF_OK_OR_FAIL(mf_slice(dev, 1, 1, 9, 3, &dvw));
        MF_OK_OR_FAIL(mf_tensor_fill_(cv, 3.25));
        MF_OK_OR_FAIL(mf_tensor_fill_(dvw, 3.25));
        t_assert_matches_cpu(dev, cpu, 0, mf_dtype_name(dts[k]));
        MF_OK_OR_FAIL(mf_tensor_fill_(dev, 0.0));
        MF_OK_OR_FAIL(mf_tensor_fill_(cpu, 0.0));
        t_assert_matches_cpu(dev, cpu, 0, "zero fill");
        mf_tensor_release(cpu);
        mf_tensor_release(dev);
        mf_tensor_release(cv);
        mf_tensor_release(dvw);
    }
}

Test(cuda_memory, the_allocator_reuses_freed_blocks_and_tracks_peak_bytes) {
    t_need_cuda();
    void *h = dlopen(module_path(), RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(h, "%s", dlerror());
    mf_cuda_memory_stats_fn stats = (mf_cuda_memory_stats_fn)dlsym(h, MF_CUDA_MEMORY_STATS_SYMBOL);
    mf_cuda_empty_cache_fn empty = (mf_cuda_empty_cache_fn)dlsym(h, MF_CUDA_EMPTY_CACHE_SYMBOL);
    cr_assert(stats && empty);
    mf_cuda_mem_stats s0 = {.size = sizeof s0}, s1 = {.size = sizeof s1}, s2 = {.size = sizeof s2};
    MF_OK_OR_FAIL(stats(0, &s0));
    mf_tensor *a, *b;
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){250}, MF_F32, T_CUDA, &a));    /* 1000 B -> 1024 B class */
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){750000}, MF_F32, T_CUDA, &b)); /* 3 MB -> 46 x 64 KiB */
    MF_OK_OR_FAIL(stats(0, &s1));
    cr_assert_eq(s1.current_bytes - s0.current_bytes, 1024u + (46u << 16));
    cr_assert_geq(s1.peak_bytes, s1.current_bytes);
    mf_tensor_release(a);
    mf_tensor_release(b);
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){200}, MF_F64, T_CUDA, &a)); /* 1600 B -> 2048 B class */
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){752500}, MF_F32, T_CUDA, &b)); /* 3.01 MB: reuses that block */
    MF_OK_OR_FAIL(stats(0, &s2));
    cr_assert_eq(s2.current_bytes - s0.current_bytes, 2048u + (46u << 16));
    cr_assert_eq(s2.cache_hits - s1.cache_hits, 1u, "the 3 MB block should be reused");
    cr_assert_eq(s2.device_mallocs - s1.device_mallocs, 1u, "only the new 2 KiB class needs cudaMalloc");
    cr_assert_geq(s2.peak_bytes, s2.current_bytes);
    cr_assert_geq(s2.cached_bytes, 1024u);
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_cuda_mem_stats s3 = {.size = sizeof s3};
    MF_OK_OR_FAIL(stats(0, &s3));
    cr_assert_eq(s3.current_bytes, s0.current_bytes);
    cr_assert_eq(s3.peak_bytes, s2.peak_bytes, "peak survives frees");
    MF_OK_OR_FAIL(empty(0));
    MF_OK_OR_FAIL(stats(0, &s2));
    cr_assert_eq(s2.cached_bytes, 0u);
    cr_assert_eq(s2.current_bytes, s0.current_bytes);
    dlclose(h);
}

Test(cuda_memory, large_blocks_are_at_most_a_32nd_larger_than_asked) {
    t_need_cuda();
    void *h = dlopen(module_path(), RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(h, "%s", dlerror());
    mf_cuda_memory_stats_fn stats = (mf_cuda_memory_stats_fn)dlsym(h, MF_CUDA_MEMORY_STATS_SYMBOL);
    cr_assert(stats);
    /* bytes asked -> bytes held: (2^k, 2^(k+1)] rounds up to a multiple of 2^(k-5) */
    const int64_t numel[] = {524289, 25000000, 1 << 20};
    const uint64_t held[] = {33u << 16, 48ull << 21, 4u << 20};
    for (int i = 0; i < 3; i++) {
        mf_cuda_mem_stats s0 = {.size = sizeof s0}, s1 = {.size = sizeof s1};
        MF_OK_OR_FAIL(stats(0, &s0));
        mf_tensor *t;
        MF_OK_OR_FAIL(mf_tensor_empty(1, &numel[i], MF_F32, T_CUDA, &t));
        MF_OK_OR_FAIL(stats(0, &s1));
        cr_assert_eq(s1.current_bytes - s0.current_bytes, held[i], "%lld bytes asked: held %llu, want %llu",
                     (long long)numel[i] * 4, (unsigned long long)(s1.current_bytes - s0.current_bytes),
                     (unsigned long long)held[i]);
        mf_tensor_release(t);
    }
    dlclose(h);
}

/* autocast's f32 <-> bf16 casts on the device round like the CPU's: ties
 * to even, overflow to inf, subnormals, signed zero. */
Test(cuda_memory, f32_and_bf16_convert_on_the_device_exactly_as_on_the_cpu) {
    t_need_cuda();
    double vals[] = {1.00390625, 1.01171875, -1.00390625, 3.3961e38, 3.4e38, 1e-40, -0.0, INFINITY,
                     -INFINITY,  0.1,        -2.5,        65504.0,   1e-3,   7.0,   123456.7};
    int64_t n = (int64_t)(sizeof vals / sizeof vals[0]);
    mf_tensor *x64 = t_from(1, &n, MF_F64, vals), *x, *dx, *cb, *db, *cf, *df;
    MF_OK_OR_FAIL(mf_to_dtype(x64, MF_F32, &x));
    dx = t_on(x, T_CUDA, false);
    MF_OK_OR_FAIL(mf_to_dtype(x, MF_BF16, &cb));
    MF_OK_OR_FAIL(mf_to_dtype(dx, MF_BF16, &db));
    t_assert_matches_cpu(db, cb, 0, "f32 -> bf16");
    MF_OK_OR_FAIL(mf_to_dtype(cb, MF_F32, &cf));
    MF_OK_OR_FAIL(mf_to_dtype(db, MF_F32, &df));
    t_assert_matches_cpu(df, cf, 0, "bf16 -> f32");
    cr_assert_eq(mf_tensor_get_flat(cf, 0), 1.0, "a tie rounds to even");
    cr_assert_eq(mf_tensor_get_flat(cf, 1), 1.015625, "a tie rounds to even");
    mf_tensor *all[] = {x64, x, dx, cb, db, cf, df};
    t_release_all(all, 7);
}
