/* The autocast scope (a thread-local stack of dtypes) and the per-op cast
 * policies that op entry points apply through mf_autocast_args. */
#include <stddef.h>

#include "medfm/amp.h"
#include "medfm/ops.h"

#define MAX_DEPTH 16

static _Thread_local mf_dtype stack[MAX_DEPTH];
static _Thread_local int depth;

mf_status mf_autocast_enter(mf_dtype lowp) {
    if (lowp != MF_BF16 && lowp != MF_F16)
        return MF_ERR(MF_ERR_DTYPE, "autocast: the lower precision must be bf16 or f16, got %s",
                      (unsigned)lowp < MF_DTYPE_COUNT ? mf_dtype_name(lowp) : "an unknown dtype");
    if (depth >= MAX_DEPTH)
        return MF_ERR(MF_ERR_STATE, "autocast: scopes nest at most %d deep", MAX_DEPTH);
    stack[depth++] = lowp;
    return MF_OK;
}

mf_status mf_autocast_exit(void) {
    if (depth == 0)
        return MF_ERR(MF_ERR_STATE, "autocast: exit without a matching enter");
    depth--;
    return MF_OK;
}

mf_dtype mf_autocast_dtype(void) { return depth ? stack[depth - 1] : MF_F32; }

bool mf_autocast_active(void) { return depth > 0; }

static bool is_lowp(mf_dtype dt) { return dt == MF_BF16 || dt == MF_F16; }

/* Rank of a float dtype for promotion: f16 and bf16 promote to f32 when
 * mixed with each other (neither holds the other). */
static int width(mf_dtype dt) { return dt == MF_F64 ? 3 : dt == MF_F32 ? 2 : 1; }

/* The dtype ins[i] should have under `policy`, or its own. */
static mf_dtype target(mf_amp_policy policy, int n, const mf_tensor *const *ins, const mf_tensor *x) {
    if (!mf_dtype_is_float(x->dtype))
        return x->dtype;
    switch (policy) {
    case MF_AMP_LOWP: return x->dtype == MF_F32 ? mf_autocast_dtype() : x->dtype;
    case MF_AMP_F32: return is_lowp(x->dtype) ? MF_F32 : x->dtype;
    case MF_AMP_WIDEST: {
        mf_dtype best = x->dtype;
        for (int i = 0; i < n; i++) {
            if (!ins[i] || !mf_dtype_is_float(ins[i]->dtype) || ins[i]->dtype == best)
                continue;
            if (width(ins[i]->dtype) > width(best))
                best = ins[i]->dtype;
            else if (width(ins[i]->dtype) == width(best)) /* bf16 with f16 */
                best = MF_F32;
        }
        return best;
    }
    }
    return x->dtype;
}

mf_status mf_autocast_args(mf_amp_policy policy, int n, const mf_tensor *const *ins, mf_tensor **outs) {
    for (int i = 0; i < n; i++)
        outs[i] = NULL;
    bool on = depth > 0;
    for (int i = 0; i < n; i++) {
        const mf_tensor *x = ins[i];
        if (!x)
            continue;
        mf_dtype dt = on ? target(policy, n, ins, x) : x->dtype;
        if (dt == x->dtype) {
            outs[i] = mf_tensor_retain((mf_tensor *)x);
            continue;
        }
        mf_status st = mf_to_dtype(x, dt, &outs[i]);
        if (st != MF_OK) {
            mf_autocast_release(n, outs);
            return st;
        }
    }
    return MF_OK;
}

void mf_autocast_release(int n, mf_tensor **ts) {
    for (int i = 0; i < n; i++) {
        mf_tensor_release(ts[i]);
        ts[i] = NULL;
    }
}
