/* End to end: a small conv net (two conv+BN+ReLU+maxpool blocks, global
 * average pool, Linear) built from nn modules learns a fixed synthetic task,
 * horizontal versus vertical stripes, with Adam. Proves forward, autograd
 * through every layer, BN running statistics, the parameter list and the
 * state dict (save, then load into a differently seeded net) work together. */
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/testing.h"
#include "medfm/nn.h"
#include "medfm/optim.h"

enum { N = 48, S = 16 };

static uint32_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

/* Sample i has class i % 2: 0 = horizontal stripes, 1 = vertical; random
 * period (3..5), phase and noise, from a fixed generator. */
static void make_data(mf_tensor **x, mf_tensor **y) {
    static float img[N * S * S];
    static int64_t lab[N];
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        int cls = i % 2, period = 3 + (int)(lcg(&s) % 3), phase = (int)(lcg(&s) % 5);
        lab[i] = cls;
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                int coord = cls ? c : r;
                float v = ((coord + phase) % period) < period / 2 + 1 ? 1.0f : 0.0f;
                img[(i * S + r) * S + c] = v + ((float)(lcg(&s) % 1000) / 1000.0f - 0.5f) * 0.4f;
            }
    }
    MF_OK_OR_FAIL(mf_tensor_from_data(4, (int64_t[]){N, 1, S, S}, MF_F32, img, x));
    MF_OK_OR_FAIL(mf_tensor_from_data(1, (int64_t[]){N}, MF_I64, lab, y));
}

/* Runs a constructor writing to `m`, then appends m to net. */
#define APPEND(call)                                       \
    do {                                                   \
        MF_OK_OR_FAIL(call);                               \
        MF_OK_OR_FAIL(mf_nn_sequential_append(net, m));    \
    } while (0)

static mf_module *make_net(mf_rng *rng) {
    mf_module *net, *m;
    MF_OK_OR_FAIL(mf_nn_sequential_new(&net));
    mf_pool_params pool = {.kernel = {2, 2}, .stride = {2, 2}};
    int64_t ch[3] = {1, 8, 16};
    for (int b = 0; b < 2; b++) {
        mf_conv_spec s = mf_conv_spec_make(2, ch[b], ch[b + 1], 3, 1, 1);
        APPEND(mf_nn_conv_new(&s, rng, &m));
        APPEND(mf_nn_batch_norm_new(2, ch[b + 1], NULL, &m));
        APPEND(mf_nn_activation_new(MF_ACT_RELU, &m));
        APPEND(mf_nn_max_pool_new(2, &pool, &m));
    }
    APPEND(mf_nn_adaptive_avg_pool_new(2, (int64_t[]){1, 1}, &m));
    APPEND(mf_nn_flatten_new(1, -1, &m));
    APPEND(mf_nn_linear_new(16, 2, true, rng, &m));
    return net;
}

static double accuracy(const mf_tensor *logits, const mf_tensor *y) {
    int ok = 0;
    for (int i = 0; i < N; i++) {
        int pred = mf_tensor_get_flat(logits, 2 * i + 1) > mf_tensor_get_flat(logits, 2 * i);
        ok += pred == (int)mf_tensor_get_flat(y, i);
    }
    return (double)ok / N;
}

Test(nn_train, conv_bn_net_learns_stripe_orientation_to_full_accuracy, .timeout = 60) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mf_tensor *x, *y;
    make_data(&x, &y);
    mf_rng rng;
    mf_rng_init(&rng, 0);
    mf_module *net = make_net(&rng);
    mf_named_tensors params;
    MF_OK_OR_FAIL(mf_module_named_parameters(net, &params));
    cr_assert_eq(params.n, 10); /* 2 x (conv w, b, bn w, b) + fc w, b */
    cr_assert_str_eq(params.items[9].name, "10.bias");
    mf_tensor **arr;
    int n_arr;
    MF_OK_OR_FAIL(mf_module_parameter_array(net, &arr, &n_arr));
    mf_adam_options adam = mf_adam_defaults(0.01);
    mf_optimizer *opt;
    MF_OK_OR_FAIL(mf_adam_new(arr, n_arr, &adam, &opt));
    free(arr);
    mf_ce_params ce = mf_ce_params_default();
    const int steps = 60;
    double loss_v = INFINITY, first = 0;
    mf_tensor *logits = NULL;
    for (int step = 0; step < steps; step++) {
        mf_tensor *loss;
        mf_module_zero_grad(net);
        mf_tensor_clear(&logits);
        MF_OK_OR_FAIL(mf_module_forward(net, x, &logits));
        MF_OK_OR_FAIL(mf_cross_entropy(logits, y, &ce, &loss));
        MF_OK_OR_FAIL(mf_tensor_item(loss, &loss_v));
        if (step == 0)
            first = loss_v;
        MF_OK_OR_FAIL(mf_backward(loss, NULL, false));
        mf_tensor_release(loss);
        for (int i = 0; i < params.n; i++)
            cr_assert_not_null(params.items[i].tensor->grad, "%s got no gradient", params.items[i].name);
        MF_OK_OR_FAIL(mf_optim_step(opt));
    }
    double train_acc = accuracy(logits, y);
    mf_tensor_release(logits);
    cr_assert(loss_v < 0.05, "loss %g after %d steps (first %g)", loss_v, steps, first);
    cr_assert_eq(train_acc, 1.0, "train accuracy %g", train_acc);

    /* Eval mode: running statistics classify the same data. */
    mf_module_train(net, false);
    mf_tensor *nbt;
    MF_OK_OR_FAIL(mf_module_find(net, "1.num_batches_tracked", &nbt));
    cr_assert_eq(mf_tensor_get_flat(nbt, 0), (double)steps);
    bool prev = mf_grad_set_enabled(false);
    MF_OK_OR_FAIL(mf_module_forward(net, x, &logits));
    mf_grad_set_enabled(prev);
    double eval_acc = accuracy(logits, y);
    cr_assert_eq(eval_acc, 1.0, "eval accuracy %g", eval_acc);

    /* The state dict carries everything: a differently seeded net that loads
     * it computes the same eval logits. */
    char path[] = "/tmp/mf_nn_state_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    mf_named_tensors state, state2;
    MF_OK_OR_FAIL(mf_module_state(net, &state));
    cr_assert_eq(state.n, 10 + 2 * 3);
    MF_OK_OR_FAIL(mf_state_dict_save(path, state.items, state.n, 0, NULL));
    mf_rng_init(&rng, 99);
    mf_module *net2 = make_net(&rng);
    MF_OK_OR_FAIL(mf_module_state(net2, &state2));
    MF_OK_OR_FAIL(mf_state_dict_load(path, state2.items, state2.n, true, NULL));
    unlink(path);
    mf_module_train(net2, false);
    mf_tensor *logits2;
    prev = mf_grad_set_enabled(false);
    MF_OK_OR_FAIL(mf_module_forward(net2, x, &logits2));
    mf_grad_set_enabled(prev);
    t_assert_close(logits2, logits, 0, 0, "logits after a state-dict round trip");
    mf_tensor_release(logits2);
    mf_named_tensors_free(&state);
    mf_named_tensors_free(&state2);
    mf_module_free(net2);
    mf_tensor_release(logits);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_log_info("nn_train: loss %.4f -> %.5f in %d steps, %.2f s", first, loss_v, steps,
                (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    mf_optimizer_free(opt);
    mf_named_tensors_free(&params);
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_module_free(net);
}
