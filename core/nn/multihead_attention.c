/* nn.MultiheadAttention (no dropout): packed in_proj_weight/in_proj_bias as
 * torch stores them, an out_proj Linear child, and scaled dot-product
 * attention per head through the mf_attention op. */
#include "core/nn/internal.h"

typedef struct {
    mf_module base;
    int64_t e, heads;
    bool batch_first;
    int w, b, out_proj;
} mha_module;

/* x (B, L, E) projected with rows [i*E, (i+1)*E) of the packed weights. */
static mf_status project(mha_module *a, const mf_tensor *x, int i, mf_tensor **out) {
    mf_tensor *w = NULL, *b = NULL;
    mf_tensor *pw = mf_module_param(&a->base, a->w), *pb = mf_module_param(&a->base, a->b);
    mf_status st;
    MF_CHECK(mf_slice(pw, 0, i * a->e, (i + 1) * a->e, 1, &w));
    if (pb)
        MF_CHECK(mf_slice(pb, 0, i * a->e, (i + 1) * a->e, 1, &b));
    st = mf_linear(x, w, b, out);
cleanup:
    mf_tensor_release(w);
    mf_tensor_release(b);
    return st;
}

/* (B, L, E) -> (B, H, L, D) */
static mf_status split_heads(mha_module *a, mf_tensor *x, mf_tensor **out) {
    mf_tensor *r = NULL;
    MF_TRY(mf_reshape(x, 4, (int64_t[]){x->shape[0], x->shape[1], a->heads, a->e / a->heads}, &r));
    mf_status st = mf_permute(r, (int[]){0, 2, 1, 3}, out);
    mf_tensor_release(r);
    return st;
}

static mf_status to_batch_first(mha_module *a, const mf_tensor *x, mf_tensor **out) {
    if (a->batch_first) {
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    }
    return mf_transpose(x, 0, 1, out);
}

mf_status mf_nn_mha_forward(mf_module *m, const mf_tensor *query, const mf_tensor *key, const mf_tensor *value,
                            const mf_tensor *attn_bias, mf_tensor **out) {
    *out = NULL;
    mha_module *a = (mha_module *)m;
    if (!key)
        key = query;
    if (!value)
        value = key;
    const mf_tensor *in[3] = {query, key, value};
    for (int i = 0; i < 3; i++)
        if (in[i]->ndim != 3 || in[i]->shape[2] != a->e)
            return MF_ERR(MF_ERR_SHAPE, "MultiheadAttention(%lld, heads %lld): %s %s must be 3-D ending in %lld",
                          (long long)a->e, (long long)a->heads, i == 0 ? "query" : i == 1 ? "key" : "value",
                          MF_SHAPE(in[i]), (long long)a->e);
    mf_tensor *t[16] = {0};
    mf_tensor *q, *k, *v, *o;
    mf_status st;
    /* t[0..2]: batch-first inputs, t[3..5]: projections, t[6..8]: heads. */
    for (int i = 0; i < 3; i++)
        MF_CHECK(to_batch_first(a, in[i], &t[i]));
    bool self = query == key && key == value;
    if (self) {
        mf_tensor *pw = mf_module_param(m, a->w), *pb = mf_module_param(m, a->b);
        MF_CHECK(mf_linear(t[0], pw, pb, &t[9]));
        for (int i = 0; i < 3; i++)
            MF_CHECK(mf_slice(t[9], 2, i * a->e, (i + 1) * a->e, 1, &t[3 + i]));
    } else {
        for (int i = 0; i < 3; i++)
            MF_CHECK(project(a, t[i], i, &t[3 + i]));
    }
    if (t[4]->shape[0] != t[3]->shape[0] || t[4]->shape[1] != t[5]->shape[1]) {
        st = MF_ERR(MF_ERR_SHAPE, "MultiheadAttention: query %s, key %s and value %s disagree on batch or length",
                    MF_SHAPE(query), MF_SHAPE(key), MF_SHAPE(value));
        goto cleanup;
    }
    for (int i = 0; i < 3; i++)
        MF_CHECK(split_heads(a, t[3 + i], &t[6 + i]));
    q = t[6], k = t[7], v = t[8];
    MF_CHECK(mf_attention(q, k, v, attn_bias, 0.0, &t[10]));
    o = t[10];
    MF_CHECK(mf_permute(o, (int[]){0, 2, 1, 3}, &t[11]));
    MF_CHECK(mf_reshape(t[11], 3, (int64_t[]){o->shape[0], o->shape[2], a->e}, &t[12]));
    MF_CHECK(mf_module_forward(mf_module_child(m, a->out_proj), t[12], &t[13]));
    if (a->batch_first) {
        *out = t[13];
        t[13] = NULL;
    } else {
        MF_CHECK(mf_transpose(t[13], 0, 1, out));
    }
cleanup:
    for (int i = 0; i < 16; i++)
        mf_tensor_release(t[i]);
    return st;
}

static mf_status mha_self(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    return mf_nn_mha_forward(m, x, x, x, NULL, out);
}

static const mf_module_vtable mha_vt = {"MultiheadAttention", mha_self, NULL};

mf_status mf_nn_mha_new(int64_t embed_dim, int64_t num_heads, bool bias, bool batch_first, mf_rng *rng,
                        mf_module **out) {
    *out = NULL;
    if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads)
        return MF_ERR(MF_ERR_INVALID, "MultiheadAttention: embed_dim %lld must split into %lld heads",
                      (long long)embed_dim, (long long)num_heads);
    mf_module *m;
    MF_TRY(mf_module_alloc(sizeof(mha_module), &mha_vt, &m));
    mha_module *a = (mha_module *)m;
    a->e = embed_dim;
    a->heads = num_heads;
    a->batch_first = batch_first;
    a->w = a->b = a->out_proj = -1;
    mf_tensor *w = NULL;
    mf_module *proj = NULL;
    mf_status st;
    MF_CHECK(mf__nn_zeros(2, (int64_t[]){3 * embed_dim, embed_dim}, &w));
    MF_CHECK(mf_init_xavier_uniform_(w, rng, 1.0));
    st = mf_module_add_param(m, "in_proj_weight", w, &a->w);
    w = NULL;
    MF_CHECK(st);
    if (bias)
        MF_CHECK(mf__nn_param_const(m, "in_proj_bias", 1, (int64_t[]){3 * embed_dim}, 0.0, &a->b));
    /* torch draws out_proj's weight with Linear's default init, then zeroes its bias. */
    MF_CHECK(mf_nn_linear_new(embed_dim, embed_dim, bias, rng, &proj));
    if (bias)
        MF_CHECK(mf_init_zeros_(mf_module_param(proj, 1)));
    st = mf_module_add_child(m, "out_proj", proj, &a->out_proj);
    proj = NULL;
cleanup:
    mf_tensor_release(w);
    mf_module_free(proj);
    if (st != MF_OK)
        mf_module_free(m);
    else
        *out = m;
    return st;
}
