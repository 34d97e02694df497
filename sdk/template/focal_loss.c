/* focal_loss: an example third-party loss plugin (kind "loss", name "focal").
 * Focal loss (Lin et al., 2017) for classification over named inputs
 * "logits" (N, C) and "label" (N) int64:
 *
 *     FL = -alpha[y] * (1 - p_y)^gamma * log p_y,   p = softmax(logits)
 *
 * averaged (reduction: mean) or summed (reduction: sum) over the batch.
 * gamma = 0 without alpha is plain cross-entropy. Written only with public
 * differentiable ops, so it has no backward code of its own and runs on
 * any device the ops support. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/loss.h"
#include "medfm/ops.h"
#include "medfm/plugin.h"

#define NL MF_NO_LIMIT
static const mf_key_spec keys[] = {
    {"gamma", MF_KEY_FLOAT, "2.0", "focusing exponent on (1 - p_y); 0 gives cross-entropy", 0, NL, NULL, NULL, false},
    {"alpha", MF_KEY_LIST, "~", "per-class weights (a list of C numbers >= 0), or null for none", NL, NL, NULL,
     NULL, true},
    {"reduction", MF_KEY_CHOICE, "mean", "mean or sum over the batch", NL, NL, "mean|sum", NULL, false},
};
static const mf_schema schema = {"loss focal", keys, 3, false};

/* The loss's state: one block (mf_loss_new), the class weights at its end. */
typedef struct focal {
    double gamma;
    bool sum;
    int n_alpha;     /* 0: no class weights */
    double alpha[];  /* n_alpha class weights */
} focal;

/* The alpha weights of each sample's class as a (N, 1) tensor like logits. */
static mf_status alpha_of(const focal *f, const mf_tensor *logits, const mf_tensor *label, mf_tensor **out) {
    *out = NULL;
    if (logits->shape[1] != f->n_alpha)
        return MF_ERR(MF_ERR_SHAPE, "focal loss: alpha has %d class weights but logits %s have %lld classes",
                      f->n_alpha, MF_SHAPE(logits), (long long)logits->shape[1]);
    int64_t n = f->n_alpha, col[2] = {label->shape[0], 1};
    mf_tensor *host = NULL, *typed = NULL, *dev = NULL, *picked = NULL;
    mf_status st;
    MF_CHECK(mf_tensor_from_data(1, &n, MF_F64, f->alpha, &host));
    MF_CHECK(mf_to_dtype(host, logits->dtype, &typed));
    MF_CHECK(mf_to_device(typed, logits->storage->device, &dev));
    MF_CHECK(mf_index_select(dev, 0, label, &picked));
    st = mf_reshape(picked, 2, col, out);
cleanup:
    mf_tensor_release(host);
    mf_tensor_release(typed);
    mf_tensor_release(dev);
    mf_tensor_release(picked);
    return st;
}

static mf_status forward(mf_loss *l, const mf_batch *inputs, mf_tensor **loss, mf_batch *logs) {
    const focal *f = l->state;
    *loss = NULL;
    mf_tensor *logits, *label;
    MF_TRY(mf_batch_need(inputs, "logits", "focal loss", &logits));
    MF_TRY(mf_batch_need(inputs, "label", "focal loss", &label));
    if (logits->ndim != 2)
        return MF_ERR(MF_ERR_SHAPE, "focal loss: logits must be (N, C), got %s", MF_SHAPE(logits));
    if (label->dtype != MF_I64 || label->ndim != 1 || label->shape[0] != logits->shape[0])
        return MF_ERR(MF_ERR_SHAPE, "focal loss: label must be int64 (N) for logits %s, got %s %s", MF_SHAPE(logits),
                      mf_dtype_name(label->dtype), MF_SHAPE(label));

    mf_tensor *logp = NULL, *idx = NULL, *logpt = NULL, *pt = NULL, *rest = NULL, *safe = NULL, *weight = NULL,
              *term = NULL, *alpha = NULL, *weighted = NULL, *total = NULL;
    mf_status st;
    MF_CHECK(mf_log_softmax(logits, 1, &logp));
    MF_CHECK(mf_unsqueeze(label, 1, &idx));
    MF_CHECK(mf_gather(logp, 1, idx, &logpt)); /* (N, 1): log p_y */
    if (f->gamma > 0) {
        MF_CHECK(mf_exp(logpt, &pt));
        MF_CHECK(mf_affine(pt, -1.0, 1.0, &rest)); /* 1 - p_y */
        /* p_y rounds to 1 for confident samples: keep the base positive so
         * the gradient of x^gamma stays finite for gamma < 1. */
        MF_CHECK(mf_clamp(rest, 1e-12, 1.0, &safe));
        MF_CHECK(mf_pow_scalar(safe, f->gamma, &weight));
        MF_CHECK(mf_mul(weight, logpt, &term));
    } else {
        term = mf_tensor_retain(logpt);
    }
    if (f->n_alpha) {
        MF_CHECK(alpha_of(f, logits, label, &alpha));
        MF_CHECK(mf_mul(term, alpha, &weighted));
    } else {
        weighted = mf_tensor_retain(term);
    }
    MF_CHECK(f->sum ? mf_sum(weighted, 0, NULL, false, &total) : mf_mean(weighted, 0, NULL, false, &total));
    MF_CHECK(mf_neg(total, loss));
    if (logs && pt) {
        /* The mean probability of the true class: how "easy" the batch is. */
        mf_tensor *m = NULL, *d = NULL;
        st = mf_mean(pt, 0, NULL, false, &m);
        if (st == MF_OK)
            st = mf_tensor_detach(m, &d);
        mf_tensor_release(m);
        if (st == MF_OK)
            st = mf_batch_put(logs, "focal_p_true", d);
        if (st != MF_OK)
            mf_tensor_clear(loss);
    }
cleanup:
    mf_tensor_release(logp);
    mf_tensor_release(idx);
    mf_tensor_release(logpt);
    mf_tensor_release(pt);
    mf_tensor_release(rest);
    mf_tensor_release(safe);
    mf_tensor_release(weight);
    mf_tensor_release(term);
    mf_tensor_release(alpha);
    mf_tensor_release(weighted);
    mf_tensor_release(total);
    return st;
}

/* cfg has been checked against the schema (types, ranges, defaults) by the
 * host; only alpha's items are ours to check. mf_loss_new gives the loss
 * its state block and a destroy that frees it. */
static mf_status create(const mf_cfg *cfg, mf_loss **out) {
    *out = NULL;
    double gamma;
    const char *reduction;
    MF_TRY(mf_cfg_get_float(cfg, "gamma", 2.0, &gamma));
    MF_TRY(mf_cfg_get_string(cfg, "reduction", "mean", &reduction));
    const mf_cfg *a = mf_cfg_find(cfg, "alpha");
    int n_alpha = a && a->kind == MF_CFG_LIST ? a->n : 0;
    if (a && a->kind == MF_CFG_LIST && n_alpha == 0)
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: give one weight per class, or null", mf_cfg_where(a), mf_cfg_path(a));
    mf_loss *l;
    MF_TRY(mf_loss_new("focal", forward, NULL, sizeof(focal) + sizeof(double) * (size_t)n_alpha, &l));
    focal *f = l->state;
    f->gamma = gamma;
    f->sum = !strcmp(reduction, "sum");
    f->n_alpha = n_alpha;
    for (int i = 0; i < n_alpha; i++) {
        mf_status st = mf_cfg_as_float(a->items[i], &f->alpha[i]);
        if (st == MF_OK && !(f->alpha[i] >= 0 && isfinite(f->alpha[i])))
            st = MF_ERR(MF_ERR_CONFIG, "%s: %s: class weight %g must be finite and >= 0", mf_cfg_where(a->items[i]),
                        mf_cfg_path(a), f->alpha[i]);
        if (st != MF_OK) {
            l->destroy(l);
            return st;
        }
    }
    *out = l;
    return MF_OK;
}

static const mf_loss_vtable vtable = {sizeof vtable, create};
static const mf_plugin_info info = {sizeof(mf_plugin_info), MF_KIND_LOSS, "focal", "0.1.0",
                                    "focal loss on logits (N,C) and int64 labels (N)", &schema, &vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "focal"));
    return mf_registry_add(reg, &info);
}
