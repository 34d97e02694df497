/* Scaled dot-product attention softmax(q k^T scale + bias) v: argument
 * checks, forward dispatch and the fused backward (one kernel for the
 * gradients of q, k, v and the scores; the bias gradient is the score
 * gradient summed back to the bias's broadcast shape). Kernels: the
 * `attention` table. Rows masked entirely by -inf give 0 (not NaN) in the
 * output and 0 gradients; torch's math path gives NaN there.
 * MEDFM_CUDA_ATTENTION picks the kernels where a backend has both: `gemm`
 * (the default: forward and backward entries, p saved for backward) or
 * `flash` (fused entries: out and the rows' log-sum-exp saved, p
 * recomputed in backward; f64 and head dims over the fused limit stay on
 * gemm). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/kern_attention.h"
#include "core/ops/internal.h"
#include "medfm/amp.h"

#define OP "attention"

static mf_status check_args(const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *bias,
                            int64_t *sshape) {
    MF_TRY(mf__need_float(OP, q));
    MF_TRY(mf__need_rank(OP, "q", q, 4));
    MF_TRY(mf__need_rank(OP, "k", k, 4));
    MF_TRY(mf__need_rank(OP, "v", v, 4));
    MF_TRY(mf__same_device(OP, q, k));
    MF_TRY(mf__same_device(OP, q, v));
    MF_TRY(mf__same_dtype(OP, q, k));
    MF_TRY(mf__same_dtype(OP, q, v));
    if (k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] || k->shape[3] != q->shape[3])
        return MF_ERR(MF_ERR_SHAPE, OP ": k %s must be (B, H, Lk, D) matching q %s in batch, heads and head dim",
                      MF_SHAPE(k), MF_SHAPE(q));
    if (v->shape[0] != k->shape[0] || v->shape[1] != k->shape[1] || v->shape[2] != k->shape[2])
        return MF_ERR(MF_ERR_SHAPE, OP ": v %s must be (B, H, Lk, Dv) matching k %s in batch, heads and length",
                      MF_SHAPE(v), MF_SHAPE(k));
    sshape[0] = q->shape[0];
    sshape[1] = q->shape[1];
    sshape[2] = q->shape[2];
    sshape[3] = k->shape[2];
    if (bias) {
        MF_TRY(mf__same_device(OP, q, bias));
        MF_TRY(mf__same_dtype(OP, q, bias));
        bool ok = bias->ndim <= 4;
        for (int i = 0; ok && i < bias->ndim; i++) {
            int64_t b = bias->shape[bias->ndim - 1 - i];
            ok = b == 1 || b == sshape[3 - i];
        }
        if (!ok)
            return MF_ERR(MF_ERR_SHAPE, OP ": bias %s does not broadcast to the scores' shape %s", MF_SHAPE(bias),
                          mf_shape_str(4, sshape));
    }
    return MF_OK;
}

/* saved: q, k, v, p (all contiguous); farg[0] = scale */
static mf_status attention_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_tensor *q = n->saved[0], *k = n->saved[1], *v = n->saved[2], *p = n->saved[3];
    const mf_backend *be;
    MF_TRY(mf_backend_of(q, &be));
    mf_status (*fn)(mf_tensor *, mf_tensor *, mf_tensor *, mf_tensor *, const mf_tensor *, const mf_tensor *,
                    const mf_tensor *, const mf_tensor *, const mf_tensor *, double);
    MF_KERNEL(fn, be, attention, backward, n->op);
    mf_tensor *gc = NULL, *g4[4] = {NULL, NULL, NULL, NULL};
    const mf_tensor *like[4] = {q, k, v, p};
    mf_status st;
    MF_CHECK(mf__contiguous_raw(g, &gc));
    for (int i = 0; i < 4; i++)
        if (n->in[i]) /* zeros: the kernel writes nothing when Lq == 0 */
            MF_CHECK(q->shape[2] == 0 ? mf_tensor_zeros_like(like[i], &g4[i]) : mf_tensor_empty_like(like[i], &g4[i]));
    MF_CHECK(fn(g4[0], g4[1], g4[2], g4[3], gc, q, k, v, p, n->farg[0]));
    for (int i = 0; i < 3; i++) {
        gin[i] = g4[i];
        g4[i] = NULL;
    }
    if (g4[3])
        MF_CHECK(mf_sum_to_shape(g4[3], n->in_ndim[3], n->in_shape[3], &gin[3]));
cleanup:
    mf_tensor_release(gc);
    for (int i = 0; i < 4; i++)
        mf_tensor_release(g4[i]);
    return st;
}

/* Whether this call takes the fused entries (see the top of the file). */
static mf_status use_flash(const mf_backend *be, const mf_tensor *q, const mf_tensor *v, bool *flash) {
    *flash = false;
    if (!be->attention || !be->attention->flash_forward || !be->attention->flash_backward)
        return MF_OK;
    const char *e = getenv("MEDFM_CUDA_ATTENTION");
    if (!e || !*e || !strcmp(e, "gemm"))
        return MF_OK;
    if (strcmp(e, "flash"))
        return MF_ERR(MF_ERR_CONFIG, OP ": MEDFM_CUDA_ATTENTION is '%s'; allowed values: gemm (the default), flash", e);
    *flash = q->dtype != MF_F64 && q->shape[3] <= MF_ATTENTION_FLASH_MAX_DIM &&
             v->shape[3] <= MF_ATTENTION_FLASH_MAX_DIM;
    return MF_OK;
}

/* saved: q, k, v (contiguous), the expanded bias view or NULL, out, lse;
 * farg[0] = scale. The bias gradient comes back in f32 at the bias's own
 * shape padded to 4 dims (1 where it broadcasts). */
static mf_status attention_flash_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_tensor *q = n->saved[0], *k = n->saved[1], *v = n->saved[2], *bias = n->saved[3], *y = n->saved[4],
                    *lse = n->saved[5];
    const mf_backend *be;
    MF_TRY(mf_backend_of(q, &be));
    mf_status (*fn)(mf_tensor *, mf_tensor *, mf_tensor *, mf_tensor *, const mf_tensor *, const mf_tensor *,
                    const mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *,
                    double);
    MF_KERNEL(fn, be, attention, flash_backward, n->op);
    mf_tensor *gc = NULL, *g3[3] = {NULL, NULL, NULL}, *gb = NULL, *gbt = NULL;
    const mf_tensor *like[3] = {q, k, v};
    mf_status st;
    MF_CHECK(mf__contiguous_raw(g, &gc));
    for (int i = 0; i < 3; i++)
        if (n->in[i])
            MF_CHECK(mf_tensor_empty_like(like[i], &g3[i]));
    if (n->in[3]) {
        int nd = n->in_ndim[3];
        int64_t bshape[4] = {1, 1, 1, 1};
        for (int d = 0; d < nd; d++)
            bshape[4 - nd + d] = n->in_shape[3][d];
        MF_CHECK(mf_tensor_zeros(4, bshape, MF_F32, q->storage->device, &gb));
    }
    MF_CHECK(fn(g3[0], g3[1], g3[2], gb, gc, q, k, v, bias, y, lse, n->farg[0]));
    for (int i = 0; i < 3; i++) {
        gin[i] = g3[i];
        g3[i] = NULL;
    }
    if (gb) {
        MF_CHECK(mf_to_dtype(gb, n->in[3]->dtype, &gbt));
        MF_CHECK(mf_reshape(gbt, n->in_ndim[3], n->in_shape[3], &gin[3]));
    }
cleanup:
    mf_tensor_release(gc);
    for (int i = 0; i < 3; i++)
        mf_tensor_release(g3[i]);
    mf_tensor_release(gb);
    mf_tensor_release(gbt);
    return st;
}

/* Shared by both paths; the fused one (use_flash) computes out and the
 * rows' log-sum-exp instead of p and saves out, lse and the bias for its
 * backward. */
static mf_status attention_op(const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *bias,
                               double scale, mf_tensor **out) {
    int64_t sshape[4];
    MF_TRY(check_args(q, k, v, bias, sshape));
    if (!(scale > 0))
        scale = q->shape[3] > 0 ? 1.0 / sqrt((double)q->shape[3]) : 1.0;
    const mf_backend *be;
    MF_TRY(mf_backend_of(q, &be));
    bool flash;
    MF_TRY(use_flash(be, q, v, &flash));
    mf_status (*fn)(mf_tensor *, mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *,
                    const mf_tensor *, double) = NULL;
    if (!flash)
        MF_KERNEL(fn, be, attention, forward, OP);
    mf_tensor *qc = NULL, *kc = NULL, *vc = NULL, *bv = NULL, *p = NULL, *y = NULL;
    mf_status st;
    int64_t oshape[4] = {q->shape[0], q->shape[1], q->shape[2], v->shape[3]};
    MF_CHECK(mf__contiguous_raw(q, &qc));
    MF_CHECK(mf__contiguous_raw(k, &kc));
    MF_CHECK(mf__contiguous_raw(v, &vc));
    if (bias)
        MF_CHECK(mf__expand_raw(bias, 4, sshape, &bv));
    /* p: the probabilities, or for the fused path the f32 log-sum-exp */
    MF_CHECK(flash ? mf__new_like_shape(q, 3, sshape, MF_F32, &p) : mf__new_like_shape(q, 4, sshape, q->dtype, &p));
    MF_CHECK(mf__new_like_shape(q, 4, oshape, q->dtype, &y));
    MF_CHECK(flash ? be->attention->flash_forward(y, p, qc, kc, vc, bv, scale) : fn(y, p, qc, kc, vc, bv, scale));
    mf_node *n;
    mf_tensor *ins[4] = {(mf_tensor *)q, (mf_tensor *)k, (mf_tensor *)v, (mf_tensor *)bias};
    MF_CHECK(mf_autograd_record(OP, y, 4, ins, flash ? attention_flash_backward : attention_backward, &n));
    if (n) {
        n->farg[0] = scale;
        MF_CHECK(mf_node_save(n, qc));
        MF_CHECK(mf_node_save(n, kc));
        MF_CHECK(mf_node_save(n, vc));
        if (flash) {
            MF_CHECK(mf_node_save(n, bv));
            MF_CHECK(mf_node_save(n, y));
        }
        MF_CHECK(mf_node_save(n, p));
    }
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(qc);
    mf_tensor_release(kc);
    mf_tensor_release(vc);
    mf_tensor_release(bv);
    mf_tensor_release(p);
    mf_tensor_release(y);
    return st;
}

/* Public entry: the autocast policy first. */
mf_status mf_attention(const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *bias,
                       double scale, mf_tensor **out) {
    mf_tensor *c[4];
    MF_TRY(mf_autocast_args(MF_AMP_LOWP, 4, (const mf_tensor *const[]){q, k, v, bias}, c));
    mf_status st = attention_op(c[0], c[1], c[2], c[3], scale, out);
    mf_autocast_release(4, c);
    return st;
}
