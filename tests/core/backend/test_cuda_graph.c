/* CUDA graphs (medfm/graph.h): a captured forward + backward replays with
 * new inputs to the values an eager run gives, the graph's memory is not
 * handed to tensors allocated after the capture, and captures that a graph
 * cannot hold (host reads, random draws) fail saying why. Skips without a
 * CUDA backend; the CPU emulation of the module (core/backend/cuda/emu)
 * runs it too. */
#include "medfm/autograd.h"
#include "medfm/graph.h"
#include "medfm/nn.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/index.h"
#include "medfm/ops/linalg.h"
#include "medfm/ops/pool.h"
#include "medfm/ops/random.h"
#include "medfm/ops/reduce.h"
#include "tests/core/backend/cuda_testing.h"

/* A CUDA copy of a CPU tensor, which is released. */
static mf_tensor *on_cuda(mf_tensor *cpu) {
    mf_tensor *d = t_on(cpu, T_CUDA, false);
    mf_tensor_release(cpu);
    return d;
}

/* loss = mean(relu(x w1^T + b1) w2^T) squared, over a 16 x 32 batch. */
static mf_tensor *mlp_loss(mf_tensor *x, mf_tensor *w1, mf_tensor *b1, mf_tensor *w2) {
    mf_tensor *h, *r, *y, *y2, *loss;
    MF_OK_OR_FAIL(mf_linear(x, w1, b1, &h));
    MF_OK_OR_FAIL(mf_relu(h, &r));
    MF_OK_OR_FAIL(mf_linear(r, w2, NULL, &y));
    MF_OK_OR_FAIL(mf_mul(y, y, &y2));
    MF_OK_OR_FAIL(mf_mean(y2, 0, NULL, false, &loss));
    mf_tensor *tmp[] = {h, r, y, y2};
    for (int i = 0; i < 4; i++)
        mf_tensor_release(tmp[i]);
    return loss;
}

Test(cuda_graph, a_captured_forward_and_backward_replays_new_inputs_like_eager_runs) {
    t_need_cuda();
    t_cuda_exact(); /* TF32 products would differ from the CPU's by more than the check allows */
    mf_tensor *w[3] = {t_uniform(1, 2, (int64_t[]){32, 32}, MF_F32, -0.3, 0.3),
                       t_uniform(2, 1, (int64_t[]){32}, MF_F32, -0.1, 0.1),
                       t_uniform(3, 2, (int64_t[]){4, 32}, MF_F32, -0.3, 0.3)};
    mf_tensor *dw[3];
    for (int i = 0; i < 3; i++)
        dw[i] = t_on(w[i], T_CUDA, true);
    mf_tensor *x0 = t_uniform(10, 2, (int64_t[]){16, 32}, MF_F32, -1, 1);
    mf_tensor *dx = t_on(x0, T_CUDA, false); /* the graph's input */
    MF_OK_OR_FAIL(mf_graph_capture_begin(T_CUDA));
    mf_tensor *dloss = mlp_loss(dx, dw[0], dw[1], dw[2]);
    MF_OK_OR_FAIL(mf_backward(dloss, NULL, false));
    mf_graph *g;
    MF_OK_OR_FAIL(mf_graph_capture_end(T_CUDA, &g));
    mf_tensor *dgrad[3];
    for (int i = 0; i < 3; i++)
        dgrad[i] = mf_tensor_retain(dw[i]->grad);
    for (uint64_t k = 0; k < 3; k++) {
        mf_tensor *x = t_uniform(20 + k, 2, (int64_t[]){16, 32}, MF_F32, -1, 1);
        MF_OK_OR_FAIL(mf_tensor_copy_(dx, x));
        MF_OK_OR_FAIL(mf_graph_replay(g));
        /* The same step eagerly on the CPU. */
        mf_tensor *cw[3];
        for (int i = 0; i < 3; i++)
            cw[i] = t_on(w[i], MF_DEVICE_CPU, true);
        mf_tensor *closs = mlp_loss(x, cw[0], cw[1], cw[2]);
        MF_OK_OR_FAIL(mf_backward(closs, NULL, false));
        t_assert_matches_cpu(dloss, closs, 8, "replayed loss");
        for (int i = 0; i < 3; i++) {
            t_assert_matches_cpu(dgrad[i], cw[i]->grad, 8, "replayed gradient");
            mf_tensor_release(cw[i]);
        }
        mf_tensor_release(closs);
        mf_tensor_release(x);
    }
    mf_graph_free(g);
    mf_tensor *all[] = {dloss, dx, x0, w[0], w[1], w[2], dw[0], dw[1], dw[2], dgrad[0], dgrad[1], dgrad[2]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mf_tensor_release(all[i]);
}

/* The intermediates of the capture (16 x 32 f32, freed inside it) have the
 * size of z: a z allocated after the capture must not get one of their
 * blocks, or every replay would overwrite it. */
Test(cuda_graph, tensors_allocated_after_a_capture_survive_its_replays) {
    t_need_cuda();
    mf_tensor *x = on_cuda(t_uniform(1, 2, (int64_t[]){16, 32}, MF_F32, -1, 1));
    mf_tensor *w = on_cuda(t_uniform(2, 2, (int64_t[]){32, 32}, MF_F32, -1, 1));
    MF_OK_OR_FAIL(mf_graph_capture_begin(T_CUDA));
    mf_tensor *out = x;
    mf_tensor_retain(out);
    for (int i = 0; i < 4; i++) {
        mf_tensor *next;
        MF_OK_OR_FAIL(mf_linear(out, w, NULL, &next));
        mf_tensor_release(out);
        out = next;
    }
    mf_graph *g;
    MF_OK_OR_FAIL(mf_graph_capture_end(T_CUDA, &g));
    mf_tensor *z[4];
    for (int i = 0; i < 4; i++) {
        MF_OK_OR_FAIL(mf_tensor_empty(2, (int64_t[]){16, 32}, MF_F32, T_CUDA, &z[i]));
        MF_OK_OR_FAIL(mf_tensor_fill_(z[i], 7.0));
    }
    MF_OK_OR_FAIL(mf_graph_replay(g));
    MF_OK_OR_FAIL(mf_graph_replay(g));
    for (int i = 0; i < 4; i++) {
        mf_tensor *h = t_on(z[i], MF_DEVICE_CPU, false);
        const float *p = mf_tensor_data(h);
        for (int j = 0; j < 16 * 32; j++)
            cr_assert_eq(p[j], 7.0f, "tensor %d element %d was overwritten by a replay: %g", i, j, p[j]);
        mf_tensor_release(h);
        mf_tensor_release(z[i]);
    }
    mf_graph_free(g);
    mf_tensor_release(out);
    mf_tensor_release(x);
    mf_tensor_release(w);
}

Test(cuda_graph, a_capture_that_reads_the_device_on_the_host_fails_and_the_device_works_after) {
    t_need_cuda();
    mf_tensor *x = on_cuda(t_uniform(1, 1, (int64_t[]){8}, MF_F32, -1, 1)), *s;
    MF_OK_OR_FAIL(mf_graph_capture_begin(T_CUDA));
    MF_OK_OR_FAIL(mf_sum(x, 0, NULL, false, &s));
    double v;
    cr_assert_neq(mf_tensor_item(s, &v), MF_OK, "a host read inside a capture must fail");
    mf_tensor_release(s);
    mf_graph *g = (mf_graph *)1;
    cr_assert_neq(mf_graph_capture_end(T_CUDA, &g), MF_OK);
    cr_assert_null(g);
    cr_assert(strstr(mf_last_error(), "capture"), "%s", mf_last_error());
    /* Not capturing any more: work runs. */
    MF_OK_OR_FAIL(mf_sum(x, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_tensor_item(s, &v));
    mf_tensor *h = t_on(x, MF_DEVICE_CPU, false);
    double want = 0;
    for (int i = 0; i < 8; i++)
        want += ((const float *)mf_tensor_data(h))[i];
    cr_assert_float_eq(v, want, 1e-5);
    mf_tensor_release(h);
    mf_tensor_release(s);
    mf_tensor_release(x);
}

Test(cuda_graph, random_draws_inside_a_capture_are_refused_saying_why) {
    t_need_cuda();
    mf_tensor *x;
    MF_OK_OR_FAIL(mf_tensor_empty(1, (int64_t[]){8}, MF_F32, T_CUDA, &x));
    mf_rng rng;
    mf_rng_init(&rng, 1);
    MF_OK_OR_FAIL(mf_graph_capture_begin(T_CUDA));
    cr_assert_eq(mf_rand_normal_(x, &rng, 0, 1), MF_ERR_UNSUPPORTED);
    cr_assert(strstr(mf_last_error(), "replay would draw the same"), "%s", mf_last_error());
    mf_graph *g;
    MF_OK_OR_FAIL(mf_graph_capture_end(T_CUDA, &g)); /* nothing was recorded: an empty graph */
    mf_graph_free(g);
    MF_OK_OR_FAIL(mf_rand_normal_(x, &rng, 0, 1));
    mf_tensor_release(x);
}

/* pad and nearest upsampling read index maps that the host builds: a
 * capture keeps valid device copies of them (and makes none per replay). */
Test(cuda_graph, padding_and_upsampling_replay_like_eager_runs) {
    t_need_cuda();
    mf_tensor *dx = on_cuda(t_uniform(1, 4, (int64_t[]){2, 3, 5, 6}, MF_F32, -1, 1)), *p, *u;
    const int64_t pads[4] = {1, 2, 2, 1}, size[2] = {10, 12};
    MF_OK_OR_FAIL(mf_graph_capture_begin(T_CUDA));
    MF_OK_OR_FAIL(mf_pad(dx, 4, pads, MF_PAD_REFLECT, 0, &p));
    MF_OK_OR_FAIL(mf_upsample(p, size, MF_UPSAMPLE_NEAREST, false, &u));
    mf_graph *g;
    MF_OK_OR_FAIL(mf_graph_capture_end(T_CUDA, &g));
    for (uint64_t k = 0; k < 2; k++) {
        mf_tensor *x = t_uniform(5 + k, 4, (int64_t[]){2, 3, 5, 6}, MF_F32, -1, 1), *cp, *cu;
        MF_OK_OR_FAIL(mf_tensor_copy_(dx, x));
        MF_OK_OR_FAIL(mf_graph_replay(g));
        MF_OK_OR_FAIL(mf_pad(x, 4, pads, MF_PAD_REFLECT, 0, &cp));
        MF_OK_OR_FAIL(mf_upsample(cp, size, MF_UPSAMPLE_NEAREST, false, &cu));
        t_assert_matches_cpu(u, cu, 1, "replayed pad + upsample");
        mf_tensor *all[] = {x, cp, cu};
        for (int i = 0; i < 3; i++)
            mf_tensor_release(all[i]);
    }
    mf_graph_free(g);
    mf_tensor *all[] = {dx, p, u};
    for (int i = 0; i < 3; i++)
        mf_tensor_release(all[i]);
}

static int64_t batches_tracked(mf_module *bn) {
    mf_tensor *c;
    MF_OK_OR_FAIL(mf_module_find(bn, "num_batches_tracked", &c));
    double v;
    MF_OK_OR_FAIL(mf_tensor_item(c, &v));
    return (int64_t)v;
}

/* BatchNorm counts batches on the device, so eager steps count without a
 * host round trip and every replay of a captured forward counts too. */
Test(cuda_graph, batch_norm_counts_every_replayed_batch) {
    t_need_cuda();
    mf_module *bn;
    MF_OK_OR_FAIL(mf_nn_batch_norm_new(2, 3, NULL, &bn));
    MF_OK_OR_FAIL(mf_module_to_device(bn, T_CUDA));
    mf_module_train(bn, true);
    mf_tensor *x = on_cuda(t_uniform(1, 4, (int64_t[]){4, 3, 5, 5}, MF_F32, -1, 1)), *y;
    MF_OK_OR_FAIL(mf_module_forward(bn, x, &y));
    mf_tensor_release(y);
    cr_assert_eq(batches_tracked(bn), 1);
    MF_OK_OR_FAIL(mf_graph_capture_begin(T_CUDA));
    MF_OK_OR_FAIL(mf_module_forward(bn, x, &y));
    mf_graph *g;
    MF_OK_OR_FAIL(mf_graph_capture_end(T_CUDA, &g));
    cr_assert_eq(batches_tracked(bn), 1, "a capture runs nothing");
    for (int i = 0; i < 3; i++)
        MF_OK_OR_FAIL(mf_graph_replay(g));
    cr_assert_eq(batches_tracked(bn), 4);
    mf_graph_free(g);
    mf_tensor_release(y);
    mf_tensor_release(x);
    mf_module_free(bn);
}

/* Gathers check their indices on the device, so they can be captured; a
 * bad index copied into a captured index tensor is reported at the read
 * after the replay. */
Test(cuda_graph, a_captured_gather_replays_new_indices_and_a_bad_one_is_reported_at_the_next_read) {
    t_need_cuda();
    mf_tensor *x = on_cuda(t_from(1, (int64_t[]){4}, MF_F32, (double[]){10, 11, 12, 13}));
    mf_tensor *idx = on_cuda(t_from(1, (int64_t[]){2}, MF_I64, (double[]){0, 1})), *y;
    MF_OK_OR_FAIL(mf_graph_capture_begin(T_CUDA));
    MF_OK_OR_FAIL(mf_index_select(x, 0, idx, &y));
    mf_graph *g;
    MF_OK_OR_FAIL(mf_graph_capture_end(T_CUDA, &g));
    mf_tensor *ok = t_from(1, (int64_t[]){2}, MF_I64, (double[]){3, 2});
    MF_OK_OR_FAIL(mf_tensor_copy_(idx, ok));
    MF_OK_OR_FAIL(mf_graph_replay(g));
    float h[2];
    MF_OK_OR_FAIL(mf_tensor_to_host(y, MF_F32, h, sizeof h));
    cr_assert(h[0] == 13 && h[1] == 12, "got %g %g", h[0], h[1]);
    mf_tensor *bad = t_from(1, (int64_t[]){2}, MF_I64, (double[]){1, 4});
    MF_OK_OR_FAIL(mf_tensor_copy_(idx, bad));
    MF_OK_OR_FAIL(mf_graph_replay(g));
    cr_assert_eq(mf_tensor_to_host(y, MF_F32, h, sizeof h), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "index 4") && strstr(mf_last_error(), "replayed CUDA graph"), "%s",
              mf_last_error());
    MF_OK_OR_FAIL(mf_tensor_copy_(idx, ok));
    MF_OK_OR_FAIL(mf_graph_replay(g));
    MF_OK_OR_FAIL(mf_tensor_to_host(y, MF_F32, h, sizeof h));
    cr_assert(h[0] == 13 && h[1] == 12, "got %g %g", h[0], h[1]);
    mf_graph_free(g);
    mf_tensor *all[] = {x, idx, y, ok, bad};
    for (int i = 0; i < 5; i++)
        mf_tensor_release(all[i]);
}

Test(cuda_graph, graphs_on_the_cpu_are_an_error_naming_the_device) {
    cr_assert_eq(mf_graph_capture_begin(MF_DEVICE_CPU), MF_ERR_DEVICE);
    cr_assert(strstr(mf_last_error(), "cpu"), "%s", mf_last_error());
    mf_graph *g = (mf_graph *)1;
    cr_assert_eq(mf_graph_capture_end(MF_DEVICE_CPU, &g), MF_ERR_DEVICE);
    cr_assert_null(g);
    cr_assert_eq(mf_graph_replay(NULL), MF_ERR_INVALID);
    mf_graph_free(NULL);
}
