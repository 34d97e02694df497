/* mf_memory_stats (live bytes, peak and reset) and mf_device_synchronize,
 * on the CPU always and on a CUDA device when there is one; a clear device
 * error when there is not. */
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

Test(memory_stats, synchronizing_the_cpu_returns_at_once) { MF_OK_OR_FAIL(mf_device_synchronize(MF_DEVICE_CPU)); }
