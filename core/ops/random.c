/* In-place random fills from the counter-based generator: check the
 * arguments, run the backend's fill at the generator's offset, then advance
 * the offset by the counters the draw consumed (see kern_random.h). */
#include <math.h>

#include "core/backend/kern_random.h"
#include "core/ops/internal.h"
#include "core/ops/random_internal.h"

mf_status mf__rand_fill(const char *op, mf_rand_kind kind, mf_tensor *t, mf_rng *rng, const double p[4]) {
    if (!rng)
        return MF_ERR(MF_ERR_INVALID, "%s: generator is NULL", op);
    if (!mf_dtype_is_float(t->dtype))
        return MF_ERR(MF_ERR_DTYPE, "%s: needs a floating tensor, got %s", op, mf_dtype_name(t->dtype));
    int64_t n = mf_tensor_numel(t);
    if (n == 0)
        return MF_OK;
    const mf_backend *be;
    MF_TRY(mf_backend_of(t, &be));
    mf_status (*fn)(mf_rand_kind, mf_tensor *, uint64_t, uint64_t, const double *);
    MF_KERNEL(fn, be, random, fill, op);
    mf_status st = fn(kind, t, rng->seed, rng->offset, p);
    if (st != MF_OK)
        return mf_error_context(st, "%s", op);
    rng->offset += mf_rand_blocks(kind, t->dtype, n);
    return MF_OK;
}

mf_status mf_rand_uniform_(mf_tensor *t, mf_rng *rng, double lo, double hi) {
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        return MF_ERR(MF_ERR_INVALID, "rand_uniform_: needs finite lo <= hi, got [%g, %g)", lo, hi);
    return mf__rand_fill("rand_uniform_", MF_RAND_UNIFORM, t, rng, (double[4]){lo, hi, 0, 0});
}

mf_status mf_rand_normal_(mf_tensor *t, mf_rng *rng, double mean, double std) {
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return MF_ERR(MF_ERR_INVALID, "rand_normal_: needs finite mean and std >= 0, got mean %g std %g", mean, std);
    return mf__rand_fill("rand_normal_", MF_RAND_NORMAL, t, rng, (double[4]){mean, std, 0, 0});
}

mf_status mf_rand_gumbel_(mf_tensor *t, mf_rng *rng, double loc, double scale) {
    if (!(scale > 0) || !isfinite(scale) || !isfinite(loc))
        return MF_ERR(MF_ERR_INVALID, "rand_gumbel_: needs finite loc and scale > 0, got loc %g scale %g", loc,
                      scale);
    return mf__rand_fill("rand_gumbel_", MF_RAND_GUMBEL, t, rng, (double[4]){loc, scale, 0, 0});
}

mf_status mf_rand_trunc_normal_(mf_tensor *t, mf_rng *rng, double mean, double std, double a, double b) {
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean) || !(a < b))
        return MF_ERR(MF_ERR_INVALID, "rand_trunc_normal_: needs std >= 0 and a < b, got mean %g std %g [%g, %g]",
                      mean, std, a, b);
    return mf__rand_fill("rand_trunc_normal_", MF_RAND_TRUNC_NORMAL, t, rng, (double[4]){mean, std, a, b});
}
