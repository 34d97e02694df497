/* f32 scratch twins of bf16/f16 tensors for the CPU kernels (see lowp.h). */
#include "core/backend/cpu/lowp.h"

static mf_status twin(mf_lowp_frame *f, const mf_tensor *x, bool load, mf_tensor *dst, mf_tensor **out) {
    if (f->n >= MF_LOWP_MAX)
        return MF_ERR(MF_ERR_STATE, "lowp: more than %d tensors in one kernel", MF_LOWP_MAX);
    mf_tensor *t;
    MF_TRY(mf_tensor_empty(x->ndim, x->shape, MF_F32, x->storage->device, &t));
    f->scratch[f->n] = t;
    f->dst[f->n++] = dst;
    if (load)
        MF_TRY(mf_tensor_copy_(t, x));
    *out = t;
    return MF_OK;
}

mf_status mf__lowp_begin(mf_lowp_frame *f, int n_in, const mf_tensor *const *ins, const mf_tensor **in32,
                         int n_out, mf_tensor *const *outs, mf_tensor **out32, bool load_out) {
    f->n = 0;
    mf_status st = MF_OK;
    for (int i = 0; st == MF_OK && i < n_in; i++) {
        in32[i] = ins[i];
        mf_tensor *t;
        if (ins[i] && mf__lowp(ins[i]->dtype) && (st = twin(f, ins[i], true, NULL, &t)) == MF_OK)
            in32[i] = t;
    }
    for (int i = 0; st == MF_OK && i < n_out; i++) {
        out32[i] = outs[i];
        if (outs[i] && mf__lowp(outs[i]->dtype))
            st = twin(f, outs[i], load_out, outs[i], &out32[i]);
    }
    if (st != MF_OK)
        mf__lowp_end(f, st);
    return st;
}

mf_status mf__lowp_end(mf_lowp_frame *f, mf_status st) {
    for (int i = 0; i < f->n; i++) {
        if (st == MF_OK && f->dst[i])
            st = mf_tensor_copy_(f->dst[i], f->scratch[i]);
        mf_tensor_release(f->scratch[i]);
        f->scratch[i] = NULL;
    }
    f->n = 0;
    return st;
}
