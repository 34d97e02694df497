/* train.cuda_graph: the forward and backward of a training step captured
 * once as a CUDA graph and replayed after (medfm/graph.h). The first
 * WARMUP steps run eagerly (cuDNN algorithm choice, cuBLAS set-up,
 * optimiser state), the next one shaped like its predecessor is captured, and every later step copies
 * its batch into the captured inputs, replays, and hands the captured
 * gradient tensors back to the parameters for the optimiser, which runs
 * outside the graph (its learning rate and step count change every step).
 * A batch of another shape (a short last batch) runs eagerly. */
#include <stdlib.h>
#include <string.h>

#include "core/runner/internal.h"
#include "medfm/autograd.h"
#include "medfm/graph.h"

#define WARMUP 2

bool mf__step_graph_wanted(const mf_cfg *cfg) { return mf__train_flag(cfg, "train.cuda_graph"); }

void mf__step_graph_check(const mf_cfg *cfg, mf_diag *d) {
    const mf_cfg *n = mf_cfg_find(cfg, "train.cuda_graph");
    if (!mf__step_graph_wanted(cfg))
        return;
    const char *dev;
    if (mf__device_not_cuda(cfg, &dev))
        mf_diag_add(d, "%s: train.cuda_graph: CUDA graphs need device: cuda (this experiment runs on %s)",
                    mf_cfg_where(n), dev);
    mf_precision p;
    if (mf__runner_precision(cfg, &p) == MF_OK && p.scaled)
        mf_diag_add(d,
                    "%s: train.cuda_graph: does not combine with loss scaling (train.precision: f16 or "
                    "train.loss_scale): the scale changes between steps but a graph replays the one it captured; "
                    "use train.precision: bf16",
                    mf_cfg_where(n));
}

static void drop_capture(mf_step_graph *sg) {
    mf_graph_free(sg->graph);
    sg->graph = NULL;
    mf_batch_clear(&sg->inputs);
    mf_tensor_release(sg->loss);
    sg->loss = NULL;
    for (int i = 0; i < sg->n; i++)
        mf_tensor_release(sg->grads[i]);
    free(sg->grads);
    sg->grads = NULL;
    sg->n = 0;
}

void mf__step_graph_free(mf_step_graph *sg) {
    drop_capture(sg);
    mf_batch_clear(&sg->last);
}

/* Whether b has the captured batch's names, shapes and dtypes. */
static bool same_inputs(const mf_batch *a, const mf_batch *b) {
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++) {
        const mf_tensor *t = mf_batch_get(b, a->names[i]);
        if (!t || !mf_tensor_same_shape(t, a->tensors[i]) || t->dtype != a->tensors[i]->dtype)
            return false;
    }
    return true;
}

/* The step's forward (under the run's precision) and backward, with the
 * gradients zeroed first: run eagerly, or recorded inside a capture. */
static mf_status forward_backward(mf_task *task, mf_optimizer *opt, const mf_batch *b, const mf_precision *prec,
                                  mf_tensor **loss, mf_metrics *logs) {
    mf_optim_zero_grad(opt);
    MF_TRY(mf__precision_enter(prec));
    mf_status st = task->train_step(task, b, loss, logs);
    mf__precision_exit(prec);
    if (st == MF_OK)
        st = mf_backward(*loss, NULL, false);
    return st;
}

static mf_status capture(mf_step_graph *sg, mf_task *task, mf_optimizer *opt, mf_tensor *const *params, int n,
                         const mf_batch *b, const mf_precision *prec, mf_metrics *logs) {
    for (int i = 0; i < b->n; i++)
        if (!mf_device_equal(b->tensors[i]->storage->device, sg->dev))
            return MF_ERR(MF_ERR_CONFIG,
                          "train.cuda_graph: batch tensor '%s' is on %s; every input of a captured step must be on %s",
                          b->names[i], mf_device_name(b->tensors[i]->storage->device), mf_device_name(sg->dev));
    MF_TRY(mf_device_synchronize(sg->dev));
    MF_TRY(mf_graph_capture_begin(sg->dev));
    mf_tensor *loss = NULL;
    mf_status st = forward_backward(task, opt, b, prec, &loss, logs);
    mf_graph *g = NULL;
    mf_status end = mf_graph_capture_end(sg->dev, &g);
    if (st == MF_OK)
        st = end;
    if (st != MF_OK) {
        mf_graph_free(g);
        mf_tensor_release(loss);
        mf_optim_zero_grad(opt);
        return mf_error_context(st, "train.cuda_graph: the training step cannot be captured as a CUDA graph "
                                    "(set train.cuda_graph: false)");
    }
    sg->graph = g;
    sg->loss = loss;
    sg->grads = calloc((size_t)(n > 0 ? n : 1), sizeof *sg->grads);
    if (!sg->grads)
        return MF_ERR(MF_ERR_NOMEM, "train.cuda_graph: out of memory");
    sg->n = n;
    for (int i = 0; i < n; i++)
        sg->grads[i] = params[i]->grad ? mf_tensor_retain(params[i]->grad) : NULL;
    for (int i = 0; i < b->n; i++)
        MF_TRY(mf_batch_put(&sg->inputs, b->names[i], mf_tensor_retain(b->tensors[i])));
    return MF_OK;
}

mf_status mf__step_graph_step(mf_step_graph *sg, mf_task *task, mf_optimizer *opt, mf_tensor *const *params, int n,
                              const mf_batch *b, const mf_precision *prec, mf_tensor **loss, mf_metrics *logs) {
    *loss = NULL;
    /* Warm up, and capture only a batch shaped like the one before it, so
     * a short last batch is not the one captured. */
    if (!sg->graph && (sg->eager_steps < WARMUP || !same_inputs(&sg->last, b))) {
        sg->eager_steps++;
        mf_batch_clear(&sg->last);
        for (int i = 0; i < b->n; i++)
            MF_TRY(mf_batch_put(&sg->last, b->names[i], mf_tensor_retain(b->tensors[i])));
        return forward_backward(task, opt, b, prec, loss, logs);
    }
    mf_batch_clear(&sg->last);
    bool fresh = false;
    if (!sg->graph) {
        MF_TRY(capture(sg, task, opt, params, n, b, prec, logs));
        fresh = true; /* the capture ran nothing: the replay below computes this step */
    } else if (!same_inputs(&sg->inputs, b)) {
        sg->shape_changes++;
        return forward_backward(task, opt, b, prec, loss, logs);
    }
    if (!fresh)
        for (int i = 0; i < b->n; i++)
            MF_TRY(mf_tensor_copy_(mf_batch_get(&sg->inputs, b->names[i]), b->tensors[i]));
    MF_TRY(mf_graph_replay(sg->graph));
    sg->replays++;
    for (int i = 0; i < n && i < sg->n; i++) {
        mf_tensor_zero_grad(params[i]);
        params[i]->grad = sg->grads[i] ? mf_tensor_retain(sg->grads[i]) : NULL;
    }
    *loss = mf_tensor_retain(sg->loss);
    return MF_OK;
}
