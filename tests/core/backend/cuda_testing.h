/* Helpers of the CUDA backend tests: skip when no CUDA backend can be had
 * (saying why), move tensors between devices, and compare a CUDA result
 * with the CPU one. Every CUDA test holds the device to the CPU backend. */
#ifndef MF_TEST_CUDA_TESTING_H
#define MF_TEST_CUDA_TESTING_H

#include "core/backend/backend.h"
#include "tests/support/testing.h"

#define T_CUDA ((mf_device){MF_CUDA, 0})

/* Skips the calling test unless device cuda:0 has a backend. */
static inline void t_need_cuda(void) {
    const mf_backend *be;
    if (mf_backend_get(T_CUDA, &be) != MF_OK)
        cr_skip_test("CUDA backend unavailable: %s", mf_last_error());
}

/* A copy of x on dev without autograd history; a leaf that requires grad
 * when `param`. */
static inline mf_tensor *t_on(const mf_tensor *x, mf_device dev, bool param) {
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_tensor_empty(x->ndim, x->shape, x->dtype, dev, &y));
    MF_OK_OR_FAIL(mf_tensor_copy_(y, x));
    if (param)
        MF_OK_OR_FAIL(mf_tensor_set_requires_grad(y, true));
    return y;
}

/* x's values on `dev` as a view whose data starts one element past the
 * start of its storage: off the 16-byte alignment that vector kernels
 * need (x contiguous). A leaf requiring grad when `param`. */
static inline mf_tensor *t_misaligned_on(const mf_tensor *x, mf_device dev, bool param) {
    int64_t n = mf_tensor_numel(x), len = n + 1;
    mf_tensor *buf, *flat, *tail, *view, *src;
    MF_OK_OR_FAIL(mf_tensor_zeros(1, &len, x->dtype, dev, &buf));
    MF_OK_OR_FAIL(mf_slice(buf, 0, 1, len, 1, &tail));
    MF_OK_OR_FAIL(mf_reshape(x, 1, &n, &src));
    MF_OK_OR_FAIL(mf_tensor_copy_(tail, src));
    MF_OK_OR_FAIL(mf_reshape(tail, x->ndim, x->shape, &flat));
    MF_OK_OR_FAIL(mf_tensor_detach(flat, &view));
    mf_tensor_release(buf), mf_tensor_release(tail), mf_tensor_release(src), mf_tensor_release(flat);
    cr_assert_eq(view->offset, 1, "t_misaligned_on: the view should start at element 1");
    if (param)
        MF_OK_OR_FAIL(mf_tensor_set_requires_grad(view, true));
    return view;
}

/* Tolerances for comparing CUDA with CPU results of a dtype. */
/* bf16/f16 results are rounded once from f32 accumulations on both sides,
 * so they differ by at most about one unit in the last place (2^-8, 2^-11). */
static inline double t_rtol(mf_dtype dt) {
    return dt == MF_F64 ? 1e-12 : dt == MF_F32 ? 1e-5 : dt == MF_BF16 ? 1e-2 : dt == MF_F16 ? 2e-3 : 0.0;
}
static inline double t_atol(mf_dtype dt) {
    return dt == MF_F64 ? 1e-13 : dt == MF_F32 ? 1e-6 : dt == MF_BF16 ? 1e-3 : dt == MF_F16 ? 1e-4 : 0.0;
}

/* Exact f32 (no TF32) for comparisons with the CPU: the module reads the
 * switch on every call. */
static inline void t_cuda_exact(void) { setenv("MEDFM_CUDA_TF32", "0", 1); }

/* Asserts that a CUDA tensor matches a CPU tensor within the dtype's
 * tolerance (scaled by `slack` for long chains of ops). */
static inline void t_assert_matches_cpu(const mf_tensor *gpu, const mf_tensor *cpu, double slack, const char *what) {
    cr_assert_eq(gpu->storage->device.type, MF_CUDA, "%s: result is not on the CUDA device", what);
    cr_assert_eq(gpu->dtype, cpu->dtype, "%s: dtype %s vs %s", what, mf_dtype_name(gpu->dtype),
                 mf_dtype_name(cpu->dtype));
    mf_tensor *h = t_on(gpu, MF_DEVICE_CPU, false);
    t_assert_close(h, cpu, t_atol(cpu->dtype) * slack, t_rtol(cpu->dtype) * slack, what);
    mf_tensor_release(h);
}

#endif
