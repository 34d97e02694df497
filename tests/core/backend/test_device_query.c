/* mf_memory_stats (live bytes, peak and reset) and mf_device_synchronize,
 * on the CPU always and on a CUDA device when there is one; a clear device
 * error when there is not. */
#include <stddef.h>
#include <string.h>

#include "medfm/memory.h"
#include "tests/core/backend/cuda_testing.h"

#define MIB ((uint64_t)1 << 20)

/* Allocates 4 MiB and 8 MiB on dev, frees them, and checks the figures. */
static void check_device(mf_device dev) {
    mf_memory_stats s0, s1, s2, s3;
    MF_OK_OR_FAIL(mf_memory_reset_peak(dev));
    MF_OK_OR_FAIL(mf_memory_stats_get(dev, &s0));
    cr_assert_eq(s0.peak_bytes, s0.current_bytes, "a reset peak starts at the current figure");
    mf_tensor *a, *b;
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){1 << 20}, MF_F32, dev, &a));
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){1 << 21}, MF_F32, dev, &b));
    MF_OK_OR_FAIL(mf_memory_stats_get(dev, &s1));
    /* 12 MiB more, rounded up to the allocator's blocks by at most 1/8 */
    cr_assert(s1.current_bytes - s0.current_bytes >= 12 * MIB, "%llu -> %llu", (unsigned long long)s0.current_bytes,
              (unsigned long long)s1.current_bytes);
    cr_assert(s1.current_bytes - s0.current_bytes <= 14 * MIB);
    cr_assert_geq(s1.peak_bytes, s1.current_bytes);
    mf_tensor_release(b);
    MF_OK_OR_FAIL(mf_memory_stats_get(dev, &s2));
    cr_assert(s1.current_bytes - s2.current_bytes >= 8 * MIB, "freeing 8 MiB lowers the live figure");
    cr_assert_eq(s2.peak_bytes, s1.peak_bytes, "the peak stays");
    cr_assert_geq(s2.cached_bytes, 8 * MIB, "the freed block is kept for reuse");
    MF_OK_OR_FAIL(mf_memory_reset_peak(dev));
    MF_OK_OR_FAIL(mf_memory_stats_get(dev, &s3));
    cr_assert_eq(s3.peak_bytes, s3.current_bytes);
    cr_assert_lt(s3.peak_bytes, s1.peak_bytes);
    MF_OK_OR_FAIL(mf_memory_empty_cache(dev));
    MF_OK_OR_FAIL(mf_memory_stats_get(dev, &s3));
    cr_assert_eq(s3.cached_bytes, 0u, "emptying the cache leaves nothing cached");
    cr_assert_eq(s3.current_bytes, s2.current_bytes, "live tensors are kept");
    float *pa = NULL;
    if (dev.type == MF_CPU) {
        pa = mf_tensor_data(a);
        pa[0] = 1.5f;
        pa[(1 << 20) - 1] = 2.5f;
        cr_assert(pa[0] == 1.5f && pa[(1 << 20) - 1] == 2.5f);
    }
    mf_tensor_release(a);
}

Test(memory_stats, cpu_counts_live_storage_its_peak_and_the_cache) { check_device(MF_DEVICE_CPU); }

Test(memory_stats, cuda_counts_live_storage_its_peak_and_the_cache) {
    t_need_cuda();
    check_device(T_CUDA);
}

Test(memory_stats, cuda_without_a_device_is_a_device_error) {
    const mf_backend *be;
    if (mf_backend_get(T_CUDA, &be) == MF_OK)
        cr_skip_test("a CUDA device is present");
    mf_memory_stats s;
    cr_assert_eq(mf_memory_stats_get(T_CUDA, &s), MF_ERR_DEVICE);
    cr_assert(strstr(mf_last_error(), "cuda"), "%s", mf_last_error());
    cr_assert_eq(mf_memory_reset_peak(T_CUDA), MF_ERR_DEVICE);
    cr_assert_eq(mf_device_synchronize(T_CUDA), MF_ERR_DEVICE);
    cr_assert(strstr(mf_last_error(), "cuda:0"), "%s", mf_last_error());
}

/* Requested bytes in 512-byte units, reserved bytes from the driver, and
 * both peaks, through a reuse, a cache release and a reset. */
Test(memory_stats, cuda_counts_requested_and_reserved_bytes_like_torch) {
    t_need_cuda();
    MF_OK_OR_FAIL(mf_memory_empty_cache(T_CUDA));
    MF_OK_OR_FAIL(mf_memory_reset_peak(T_CUDA));
    mf_memory_detail d0 = {.size = sizeof d0}, d1 = {.size = sizeof d1}, d2 = {.size = sizeof d2},
                     d3 = {.size = sizeof d3};
    MF_OK_OR_FAIL(mf_memory_detail_get(T_CUDA, &d0));
    cr_assert_eq(d0.size, sizeof d0);
    cr_assert_eq(d0.peak_requested_bytes, d0.requested_bytes, "a reset peak starts at the current figure");
    cr_assert_eq(d0.peak_reserved_bytes, d0.reserved_bytes);
    mf_tensor *a, *b;
    /* 1000 B -> 1024 requested; 3 000 004 B -> 3 000 320 requested, 46 x 64 KiB held */
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){250}, MF_F32, T_CUDA, &a));
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){750001}, MF_F32, T_CUDA, &b));
    MF_OK_OR_FAIL(mf_memory_detail_get(T_CUDA, &d1));
    cr_assert_eq(d1.requested_bytes - d0.requested_bytes, 1024u + 3000320u, "requested grew by %llu",
                 (unsigned long long)(d1.requested_bytes - d0.requested_bytes));
    cr_assert_eq(d1.reserved_bytes - d0.reserved_bytes, 1024u + (46u << 16), "both came from the driver");
    cr_assert_eq(d1.peak_requested_bytes, d1.requested_bytes);
    cr_assert_eq(d1.peak_reserved_bytes, d1.reserved_bytes);
    mf_tensor_release(b);
    MF_OK_OR_FAIL(mf_memory_detail_get(T_CUDA, &d2));
    cr_assert_eq(d1.requested_bytes - d2.requested_bytes, 3000320u, "a free gives back what it asked for");
    cr_assert_eq(d2.reserved_bytes, d1.reserved_bytes, "the freed block stays reserved in the cache");
    cr_assert_eq(d2.peak_requested_bytes, d1.peak_requested_bytes, "the peak stays");
    /* 5859 x 512 B exactly, in the class of the cached block: reused */
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){749952}, MF_F32, T_CUDA, &b));
    MF_OK_OR_FAIL(mf_memory_detail_get(T_CUDA, &d3));
    cr_assert_eq(d3.reserved_bytes, d1.reserved_bytes, "a reused block takes nothing new from the driver");
    cr_assert_eq(d3.requested_bytes - d2.requested_bytes, 2999808u);
    mf_tensor_release(b);
    MF_OK_OR_FAIL(mf_memory_empty_cache(T_CUDA));
    MF_OK_OR_FAIL(mf_memory_detail_get(T_CUDA, &d3));
    cr_assert_eq(d3.reserved_bytes, d2.reserved_bytes - (46u << 16), "emptying the cache gives the block back");
    cr_assert_eq(d3.peak_reserved_bytes, d1.peak_reserved_bytes);
    MF_OK_OR_FAIL(mf_memory_reset_peak(T_CUDA));
    MF_OK_OR_FAIL(mf_memory_detail_get(T_CUDA, &d3));
    cr_assert_eq(d3.peak_reserved_bytes, d3.reserved_bytes);
    cr_assert_eq(d3.peak_requested_bytes, d3.requested_bytes);
    mf_tensor_release(a);
}

/* A caller built with an older, shorter struct gets only what it has room for. */
Test(memory_stats, the_detail_fills_only_the_fields_a_caller_knows) {
    t_need_cuda();
    mf_memory_detail d;
    memset(&d, 0xAB, sizeof d);
    d.size = (uint32_t)offsetof(mf_memory_detail, reserved_bytes);
    MF_OK_OR_FAIL(mf_memory_detail_get(T_CUDA, &d));
    cr_assert_eq(d.size, offsetof(mf_memory_detail, reserved_bytes));
    cr_assert_eq(d.reserved_bytes, 0xABABABABABABABABull, "a field past the caller's size was written");
}

Test(memory_stats, the_detail_on_the_cpu_or_without_a_size_is_an_error_saying_why) {
    mf_memory_detail d = {.size = sizeof d};
    cr_assert_eq(mf_memory_detail_get(MF_DEVICE_CPU, &d), MF_ERR_UNSUPPORTED);
    cr_assert(strstr(mf_last_error(), "cpu") && strstr(mf_last_error(), "cuda"), "%s", mf_last_error());
    d.size = 0;
    cr_assert_eq(mf_memory_detail_get(T_CUDA, &d), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "size"), "%s", mf_last_error());
    cr_assert_eq(mf_memory_detail_get(T_CUDA, NULL), MF_ERR_INVALID);
}

Test(memory_stats, synchronizing_the_cpu_returns_at_once) { MF_OK_OR_FAIL(mf_device_synchronize(MF_DEVICE_CPU)); }
