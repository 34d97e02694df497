/* classification: a linear or MLP head on the encoder's pooled features,
 * trained with cross-entropy, or with the loss plugin named in an optional
 * `loss:` section (it receives "logits" (N, C) and "label" (N)), so a
 * third-party loss swaps in from the config. freeze_encoder gives a linear probe (the
 * encoder runs without gradients and keeps its batch-norm statistics).
 * Evaluation reports accuracy, balanced accuracy (mean per-class recall),
 * macro one-vs-rest AUC and the mean loss. Batches carry "image" and
 * "label" (int64 class indices). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/autograd.h"
#include "medfm/nn.h"
#include "medfm/ops/loss.h"
#include "medfm/ops/softmax.h"
#include "medfm/plugin.h"
#include "medfm/runner.h"
#include "medfm/task.h"

#define NL MF_NO_LIMIT
static const mf_key_spec keys[] = {
    {"num_classes", MF_KEY_INT, "4", "number of classes", 2, NL, NULL, NULL, false},
    {"head", MF_KEY_CHOICE, "linear", "linear or mlp head", NL, NL, "linear|mlp", NULL, false},
    {"hidden", MF_KEY_INT, "128", "mlp head: hidden width", 1, NL, NULL, NULL, false},
    {"freeze_encoder", MF_KEY_BOOL, "false", "train only the head (linear probe)", NL, NL, NULL, NULL, false},
    {"label_smoothing", MF_KEY_FLOAT, "0.0", "cross-entropy label smoothing", 0, 1, NULL, NULL, false},
    {"loss", MF_KEY_MAP, "~", "loss plugin section ({plugin: NAME, ...}) on logits and label; null: cross-entropy",
     NL, NL, NULL, NULL, true},
    {"monitor", MF_KEY_CHOICE, "accuracy", "metric picking the best checkpoint", NL, NL,
     "accuracy|balanced_accuracy|auc|loss", NULL, false},
};
static const mf_schema schema = {"task classification", keys, 7, false};

typedef struct cls {
    mf_module *root; /* mf_task_model_new: children "encoder" and "head" */
    mf_module *head;
    int64_t classes;
    bool freeze;
    double smoothing;
    mf_loss *loss; /* the `loss:` plugin, or NULL for built-in cross-entropy */
    /* evaluation accumulators */
    int64_t n, cap;
    float *probs;
    int64_t *labels;
    double loss_sum;
} cls;

static mf_status logits_of(cls *s, const mf_batch *b, mf_tensor **logits, mf_tensor **label) {
    mf_tensor *img;
    MF_TRY(mf_batch_need(b, "image", "classification", &img));
    MF_TRY(mf_batch_need(b, "label", "classification", label));
    mf_encoder *e = mf_task_model_encoder(s->root);
    mf_encoder_output eo;
    bool grad = true;
    if (s->freeze) {
        mf_module_train(e->module, false);
        grad = mf_grad_set_enabled(false);
    }
    mf_status st = e->forward(e, img, false, &eo);
    if (s->freeze)
        mf_grad_set_enabled(grad);
    MF_TRY(st);
    st = mf_module_forward(s->head, eo.pooled, logits);
    mf_encoder_output_clear(&eo);
    return st;
}

static mf_status ce(cls *s, mf_tensor *logits, mf_tensor *label, mf_tensor **loss) {
    if (s->loss) {
        mf_batch in = {0};
        in.size = logits->shape[0];
        mf_status st = mf_batch_put(&in, "logits", mf_tensor_retain(logits));
        if (st == MF_OK)
            st = mf_batch_put(&in, "label", mf_tensor_retain(label));
        if (st == MF_OK)
            st = s->loss->forward(s->loss, &in, loss, NULL);
        mf_batch_clear(&in);
        return st;
    }
    mf_ce_params p = mf_ce_params_default();
    p.label_smoothing = s->smoothing;
    return mf_cross_entropy(logits, label, &p, loss);
}

static mf_status train_step(mf_task *t, const mf_batch *b, mf_tensor **loss, mf_metrics *logs) {
    cls *s = t->state;
    mf_tensor *logits, *label;
    MF_TRY(logits_of(s, b, &logits, &label));
    mf_status st = ce(s, logits, label, loss);
    mf_tensor_release(logits);
    return st;
}

static mf_status eval_begin(mf_task *t) {
    cls *s = t->state;
    s->n = 0;
    s->loss_sum = 0;
    return MF_OK;
}

static mf_status eval_batch(mf_task *t, const mf_batch *b) {
    cls *s = t->state;
    mf_tensor *logits, *label, *loss = NULL, *prob = NULL;
    MF_TRY(logits_of(s, b, &logits, &label));
    mf_status st;
    MF_CHECK(ce(s, logits, label, &loss));
    MF_CHECK(mf_softmax(logits, 1, &prob));
    int64_t n = logits->shape[0], C = s->classes;
    if (s->n + n > s->cap) {
        int64_t cap = (s->n + n) * 2;
        float *p = realloc(s->probs, sizeof *p * (size_t)(cap * C));
        if (p)
            s->probs = p;
        int64_t *l = realloc(s->labels, sizeof *l * (size_t)cap);
        if (l)
            s->labels = l;
        if (!p || !l) {
            st = MF_ERR(MF_ERR_NOMEM, "classification: out of memory");
            goto cleanup;
        }
        s->cap = cap;
    }
    MF_CHECK(mf_tensor_to_host(prob, MF_F32, s->probs + s->n * C, sizeof(float) * (size_t)(n * C)));
    MF_CHECK(mf_tensor_to_host(label, MF_I64, s->labels + s->n, sizeof(int64_t) * (size_t)n));
    double lv;
    MF_CHECK(mf_tensor_item(loss, &lv));
    s->loss_sum += lv * (double)n;
    s->n += n;
cleanup:
    mf_tensor_release(logits);
    mf_tensor_release(loss);
    mf_tensor_release(prob);
    return st;
}

typedef struct scored {
    float score;
    int pos;
} scored;
static int cmp_scored(const void *a, const void *b) {
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

/* One-vs-rest AUC of class c (Mann-Whitney with average ranks for ties);
 * NAN when the class or its complement is absent. */
static double auc_of(const cls *s, int64_t c, scored *buf) {
    int64_t npos = 0;
    for (int64_t i = 0; i < s->n; i++) {
        buf[i].score = s->probs[i * s->classes + c];
        buf[i].pos = s->labels[i] == c;
        npos += buf[i].pos;
    }
    int64_t nneg = s->n - npos;
    if (!npos || !nneg)
        return NAN;
    qsort(buf, (size_t)s->n, sizeof *buf, cmp_scored);
    double rank_sum = 0;
    for (int64_t i = 0; i < s->n;) {
        int64_t j = i;
        while (j < s->n && buf[j].score == buf[i].score)
            j++;
        double avg = (double)(i + j + 1) / 2.0; /* ranks i+1 .. j */
        for (int64_t k = i; k < j; k++)
            if (buf[k].pos)
                rank_sum += avg;
        i = j;
    }
    return (rank_sum - (double)npos * (double)(npos + 1) / 2.0) / ((double)npos * (double)nneg);
}

static mf_status eval_end(mf_task *t, mf_metrics *out) {
    cls *s = t->state;
    int64_t C = s->classes, correct = 0;
    int64_t *tp = calloc((size_t)C, sizeof *tp), *cnt = calloc((size_t)C, sizeof *cnt);
    scored *buf = malloc(sizeof *buf * (size_t)(s->n ? s->n : 1));
    if (!tp || !cnt || !buf) {
        free(tp), free(cnt), free(buf);
        return MF_ERR(MF_ERR_NOMEM, "classification: out of memory");
    }
    for (int64_t i = 0; i < s->n; i++) {
        const float *p = s->probs + i * C;
        int64_t arg = 0;
        for (int64_t c = 1; c < C; c++)
            if (p[c] > p[arg])
                arg = c;
        int64_t y = s->labels[i];
        if (y >= 0 && y < C) {
            cnt[y]++;
            if (arg == y) {
                tp[y]++;
                correct++;
            }
        }
    }
    double bal = 0, auc = 0;
    int nb = 0, na = 0;
    for (int64_t c = 0; c < C; c++) {
        if (cnt[c]) {
            bal += (double)tp[c] / (double)cnt[c];
            nb++;
        }
        double a = auc_of(s, c, buf);
        if (!isnan(a)) {
            auc += a;
            na++;
        }
    }
    mf_metrics_set(out, "accuracy", s->n ? (double)correct / (double)s->n : NAN);
    mf_metrics_set(out, "balanced_accuracy", nb ? bal / nb : NAN);
    mf_metrics_set(out, "auc", na ? auc / na : NAN);
    mf_metrics_set(out, "loss", s->n ? s->loss_sum / (double)s->n : NAN);
    free(tp), free(cnt), free(buf);
    return MF_OK;
}

static void destroy(mf_task *t) {
    if (!t)
        return;
    cls *s = t->state;
    if (s) {
        mf_module_free(s->root);
        if (s->loss && s->loss->destroy)
            s->loss->destroy(s->loss);
        free(s->probs);
        free(s->labels);
        free(s);
    }
    free(t);
}

static mf_status create(const mf_task_env *env, const mf_cfg *cfg, mf_task **out) {
    *out = NULL;
    if (!env->encoder)
        return MF_ERR(MF_ERR_CONFIG, "classification: the experiment needs an `encoder:` section");
    int64_t classes, hidden;
    const char *head, *monitor;
    bool freeze;
    double smoothing;
    mf_encoder *enc = env->encoder;
    mf_status st;
    MF_CHECK(mf_cfg_get_int(cfg, "num_classes", 4, &classes));
    MF_CHECK(mf_cfg_get_int(cfg, "hidden", 128, &hidden));
    MF_CHECK(mf_cfg_get_string(cfg, "head", "linear", &head));
    MF_CHECK(mf_cfg_get_string(cfg, "monitor", "accuracy", &monitor));
    MF_CHECK(mf_cfg_get_bool(cfg, "freeze_encoder", false, &freeze));
    MF_CHECK(mf_cfg_get_float(cfg, "label_smoothing", 0, &smoothing));
    mf_task *t = calloc(1, sizeof *t);
    cls *s = calloc(1, sizeof *s);
    if (!t || !s) {
        free(t);
        free(s);
        st = MF_ERR(MF_ERR_NOMEM, "classification: out of memory");
        goto cleanup;
    }
    t->size = sizeof *t;
    t->state = s;
    s->classes = classes;
    s->freeze = freeze;
    s->smoothing = smoothing;
    st = mf_task_model_new("Classifier", enc, &s->root);
    if (st == MF_OK) {
        int64_t sizes[2] = {hidden, classes};
        if (!strcmp(head, "mlp"))
            st = mf_nn_mlp_new(enc->embed_dim, 2, sizes, MF_ACT_RELU, 0.0, true, env->rng, &s->head);
        else
            st = mf_nn_linear_new(enc->embed_dim, classes, true, env->rng, &s->head);
    }
    if (st == MF_OK)
        st = mf_module_add_child(s->root, "head", s->head, NULL);
    mf_cfg *loss_section = mf_cfg_find(cfg, "loss");
    if (st == MF_OK && loss_section && loss_section->kind != MF_CFG_NULL)
        st = mf_plugin_create_loss(env->registry, loss_section, &s->loss); /* fills the section's defaults */
    if (st == MF_OK && freeze) {
        mf_named_tensors ps = {0};
        st = mf_module_named_parameters(enc->module, &ps);
        for (int i = 0; st == MF_OK && i < ps.n; i++)
            st = mf_tensor_set_requires_grad(ps.items[i].tensor, false);
        mf_named_tensors_free(&ps);
    }
    if (st != MF_OK) {
        mf_task_model_release_encoder(s->root); /* a task not created leaves the encoder to the caller */
        destroy(t);
        return st;
    }
    t->model = s->root;
    t->monitor = !strcmp(monitor, "loss") ? "loss" : monitor;
    t->monitor_max = strcmp(monitor, "loss") != 0;
    t->train_step = train_step;
    t->eval_begin = eval_begin;
    t->eval_batch = eval_batch;
    t->eval_end = eval_end;
    t->destroy = destroy;
    *out = t;
    return MF_OK;
cleanup:
    return st; /* the caller still owns the encoder */
}

static const mf_task_vtable vtable = {sizeof vtable, create};
static const mf_plugin_info info = {sizeof(mf_plugin_info), MF_KIND_TASK, "classification", "0.1.0",
                                    "linear/MLP head on pooled encoder features, cross-entropy", &schema, &vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "classification"));
    return mf_registry_add(reg, &info);
}
