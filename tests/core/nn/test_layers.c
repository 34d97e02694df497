/* Layers: parameter/buffer names and shapes exactly as torch names them
 * (written by hand from torch's conventions), forward shapes, and
 * batch norm's train/eval behaviour. */
#include <math.h>

#include "tests/core/nn/nn_expect.h"

static mf_rng rng_of(uint64_t seed) {
    mf_rng r;
    mf_rng_init(&r, seed);
    return r;
}

Test(nn_layers, linear_has_torch_names_and_shapes) {
    mf_rng r = rng_of(1);
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_linear_new(4, 3, true, &r, &m));
    cr_assert_str_eq(mf_module_type(m), "Linear");
    t_expect want[] = {{"weight", 2, {3, 4}}, {"bias", 1, {3}}};
    t_expect_state(m, 2, want);
    mf_module_free(m);
    MF_OK_OR_FAIL(mf_nn_linear_new(4, 3, false, &r, &m));
    t_expect_state(m, 1, want);
    mf_module_free(m);
}

Test(nn_layers, linear_forward_maps_the_last_dim) {
    mf_rng r = rng_of(2);
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_linear_new(4, 3, true, &r, &m));
    mf_tensor *x = t_uniform(1, 3, (int64_t[]){2, 5, 4}, MF_F32, -1, 1), *y;
    MF_OK_OR_FAIL(mf_module_forward(m, x, &y));
    cr_assert_eq(y->ndim, 3);
    cr_assert_eq(y->shape[2], 3);
    /* y[0,0,0] = x[0,0,:] . W[0,:] + b[0] */
    double want = mf_tensor_get_flat(mf_module_param(m, 1), 0);
    for (int k = 0; k < 4; k++)
        want += mf_tensor_get_flat(x, k) * mf_tensor_get_flat(mf_module_param(m, 0), k);
    cr_assert_float_eq(mf_tensor_get_flat(y, 0), want, 1e-5);
    mf_tensor_release(y);
    mf_tensor *bad = t_uniform(1, 2, (int64_t[]){2, 5}, MF_F32, -1, 1);
    y = NULL;
    cr_assert_eq(mf_module_forward(m, bad, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "Linear(4, 3)") && strstr(mf_last_error(), "[2, 5]"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
    mf_tensor_release(bad);
    mf_module_free(m);
}

Test(nn_layers, convs_of_every_rank_have_torch_weight_layouts) {
    mf_rng r = rng_of(3);
    mf_module *m;
    mf_conv_spec s = mf_conv_spec_make(1, 2, 4, 5, 1, 2);
    MF_OK_OR_FAIL(mf_nn_conv_new(&s, &r, &m));
    cr_assert_str_eq(mf_module_type(m), "Conv1d");
    t_expect_state(m, 2, (t_expect[]){{"weight", 3, {4, 2, 5}}, {"bias", 1, {4}}});
    mf_module_free(m);

    s = mf_conv_spec_make(2, 4, 8, 3, 1, 1);
    s.p.groups = 2;
    s.bias = false;
    MF_OK_OR_FAIL(mf_nn_conv_new(&s, &r, &m));
    cr_assert_str_eq(mf_module_type(m), "Conv2d");
    t_expect_state(m, 1, (t_expect[]){{"weight", 4, {8, 2, 3, 3}}});
    mf_module_free(m);

    s = mf_conv_spec_make(3, 2, 4, 3, 1, 1);
    s.kernel[0] = 1; /* anisotropic (1, 3, 3) */
    MF_OK_OR_FAIL(mf_nn_conv_new(&s, &r, &m));
    cr_assert_str_eq(mf_module_type(m), "Conv3d");
    t_expect_state(m, 2, (t_expect[]){{"weight", 5, {4, 2, 1, 3, 3}}, {"bias", 1, {4}}});
    mf_module_free(m);

    s = mf_conv_spec_make(2, 4, 6, 2, 2, 0);
    MF_OK_OR_FAIL(mf_nn_conv_transpose_new(&s, &r, &m));
    cr_assert_str_eq(mf_module_type(m), "ConvTranspose2d");
    t_expect_state(m, 2, (t_expect[]){{"weight", 4, {4, 6, 2, 2}}, {"bias", 1, {6}}});
    mf_module_free(m);

    s = mf_conv_spec_make(3, 4, 6, 2, 2, 0);
    s.p.groups = 2;
    MF_OK_OR_FAIL(mf_nn_conv_transpose_new(&s, &r, &m));
    cr_assert_str_eq(mf_module_type(m), "ConvTranspose3d");
    t_expect_state(m, 2, (t_expect[]){{"weight", 5, {4, 3, 2, 2, 2}}, {"bias", 1, {6}}});
    mf_module_free(m);
}

Test(nn_layers, conv_forward_gives_torch_output_sizes) {
    mf_rng r = rng_of(4);
    mf_module *c, *t;
    mf_conv_spec s = mf_conv_spec_make(2, 3, 8, 3, 2, 1);
    MF_OK_OR_FAIL(mf_nn_conv_new(&s, &r, &c));
    s = mf_conv_spec_make(2, 8, 3, 2, 2, 0);
    MF_OK_OR_FAIL(mf_nn_conv_transpose_new(&s, &r, &t));
    mf_tensor *x = t_uniform(5, 4, (int64_t[]){2, 3, 9, 10}, MF_F32, -1, 1), *y, *z;
    MF_OK_OR_FAIL(mf_module_forward(c, x, &y));
    t_expect_state(c, 2, (t_expect[]){{"weight", 4, {8, 3, 3, 3}}, {"bias", 1, {8}}});
    cr_assert(y->shape[0] == 2 && y->shape[1] == 8 && y->shape[2] == 5 && y->shape[3] == 5, "%s", MF_SHAPE(y));
    MF_OK_OR_FAIL(mf_module_forward(t, y, &z));
    cr_assert(z->shape[1] == 3 && z->shape[2] == 10 && z->shape[3] == 10, "%s", MF_SHAPE(z));
    mf_tensor_release(z);
    z = NULL;
    cr_assert_eq(mf_module_forward(t, x, &z), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "ConvTranspose2d"), "%s", mf_last_error());
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_module_free(c);
    mf_module_free(t);
}

Test(nn_layers, batch_norm_has_affine_params_and_running_buffers) {
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_batch_norm_new(2, 8, NULL, &m));
    cr_assert_str_eq(mf_module_type(m), "BatchNorm2d");
    t_expect want[] = {{"weight", 1, {8}},
                       {"bias", 1, {8}},
                       {"running_mean", 1, {8}},
                       {"running_var", 1, {8}},
                       {"num_batches_tracked", 0, {0}}};
    t_expect_state(m, 5, want);
    mf_tensor *nbt;
    MF_OK_OR_FAIL(mf_module_find(m, "num_batches_tracked", &nbt));
    cr_assert_eq(nbt->dtype, MF_I64);
    MF_OK_OR_FAIL(mf_module_find(m, "running_var", &nbt));
    cr_assert_eq(mf_tensor_get_flat(nbt, 7), 1.0);
    mf_module_free(m);
    mf_norm_spec s = mf_norm_spec_default();
    s.affine = false;
    MF_OK_OR_FAIL(mf_nn_batch_norm_new(3, 8, &s, &m));
    cr_assert_str_eq(mf_module_type(m), "BatchNorm3d");
    t_expect_state(m, 3, want + 2);
    mf_module_free(m);
}

/* x (4, 2, 3): channel c holds values c*10 + (0..11) spread over batch and length. */
static mf_tensor *bn_input(void) {
    double v[24];
    for (int n = 0; n < 4; n++)
        for (int c = 0; c < 2; c++)
            for (int l = 0; l < 3; l++)
                v[(n * 2 + c) * 3 + l] = c * 10 + n * 3 + l + (c ? 0.5 * l : 0);
    return t_from(3, (int64_t[]){4, 2, 3}, MF_F32, v);
}

Test(nn_layers, batch_norm_training_normalises_with_batch_stats_and_updates_running_ones) {
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_batch_norm_new(1, 2, NULL, &m));
    mf_tensor *x = bn_input(), *y;
    MF_OK_OR_FAIL(mf_module_forward(m, x, &y));
    mf_tensor *mean, *var, *nbt;
    MF_OK_OR_FAIL(mf_module_find(m, "running_mean", &mean));
    MF_OK_OR_FAIL(mf_module_find(m, "running_var", &var));
    MF_OK_OR_FAIL(mf_module_find(m, "num_batches_tracked", &nbt));
    for (int c = 0; c < 2; c++) {
        double s = 0, ss = 0, ys = 0, yss = 0;
        for (int n = 0; n < 4; n++)
            for (int l = 0; l < 3; l++) {
                int64_t i = (n * 2 + c) * 3 + l;
                double v = mf_tensor_get_flat(x, i), w = mf_tensor_get_flat(y, i);
                s += v, ss += v * v, ys += w, yss += w * w;
            }
        double mu = s / 12, unbiased = (ss - 12 * mu * mu) / 11;
        cr_assert_float_eq(mf_tensor_get_flat(mean, c), 0.1 * mu, 1e-5);
        cr_assert_float_eq(mf_tensor_get_flat(var, c), 0.9 + 0.1 * unbiased, 1e-4);
        cr_assert_float_eq(ys / 12, 0, 1e-5);
        cr_assert_float_eq(yss / 12, 1, 1e-3);
    }
    cr_assert_eq(mf_tensor_get_flat(nbt, 0), 1.0);
    mf_tensor_release(y);
    MF_OK_OR_FAIL(mf_module_forward(m, x, &y));
    cr_assert_eq(mf_tensor_get_flat(nbt, 0), 2.0);
    mf_tensor_release(y);
    mf_tensor_release(x);
    mf_module_free(m);
}

Test(nn_layers, batch_norm_eval_uses_running_stats_and_leaves_them_alone) {
    mf_module *seq, *bn;
    MF_OK_OR_FAIL(mf_nn_sequential_new(&seq));
    MF_OK_OR_FAIL(mf_nn_batch_norm_new(1, 2, NULL, &bn));
    MF_OK_OR_FAIL(mf_nn_sequential_append(seq, bn));
    mf_tensor *mean, *var, *nbt;
    MF_OK_OR_FAIL(mf_module_find(seq, "0.running_mean", &mean));
    MF_OK_OR_FAIL(mf_module_find(seq, "0.running_var", &var));
    MF_OK_OR_FAIL(mf_module_find(seq, "0.num_batches_tracked", &nbt));
    mf_tensor_set_flat(mean, 0, 1.0);
    mf_tensor_set_flat(mean, 1, -2.0);
    mf_tensor_set_flat(var, 0, 4.0);
    mf_tensor_set_flat(var, 1, 0.25);
    mf_module_train(seq, false); /* reaches the child */
    mf_tensor *x = bn_input(), *y;
    MF_OK_OR_FAIL(mf_module_forward(seq, x, &y));
    for (int64_t i = 0; i < 24; i++) {
        int c = (int)((i / 3) % 2);
        double want = (mf_tensor_get_flat(x, i) - (c ? -2.0 : 1.0)) / sqrt((c ? 0.25 : 4.0) + 1e-5);
        cr_assert_float_eq(mf_tensor_get_flat(y, i), want, 1e-4, "element %lld", (long long)i);
    }
    cr_assert_eq(mf_tensor_get_flat(mean, 0), 1.0);
    cr_assert_eq(mf_tensor_get_flat(var, 1), 0.25);
    cr_assert_eq(mf_tensor_get_flat(nbt, 0), 0.0);
    mf_tensor_release(y);
    mf_tensor_release(x);
    mf_module_free(seq);
}

Test(nn_layers, batch_norm_rejects_the_wrong_rank_or_channels) {
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_batch_norm_new(2, 3, NULL, &m));
    mf_tensor *x = t_uniform(1, 3, (int64_t[]){2, 3, 4}, MF_F32, 0, 1), *y = NULL;
    cr_assert_eq(mf_module_forward(m, x, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "BatchNorm2d(3)") && strstr(mf_last_error(), "[2, 3, 4]"), "%s",
              mf_last_error());
    mf_tensor_release(x);
    mf_module_free(m);
}

Test(nn_layers, layer_and_group_norm_have_torch_names) {
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_layer_norm_new(2, (int64_t[]){4, 6}, NULL, &m));
    t_expect_state(m, 2, (t_expect[]){{"weight", 2, {4, 6}}, {"bias", 2, {4, 6}}});
    mf_tensor *x = t_uniform(2, 3, (int64_t[]){3, 4, 6}, MF_F32, -2, 5), *y;
    MF_OK_OR_FAIL(mf_module_forward(m, x, &y));
    double s = 0;
    for (int i = 0; i < 24; i++)
        s += mf_tensor_get_flat(y, i);
    cr_assert_float_eq(s / 24, 0, 1e-5);
    mf_tensor_release(y);
    mf_tensor_release(x);
    mf_module_free(m);
    MF_OK_OR_FAIL(mf_nn_group_norm_new(4, 16, NULL, &m));
    cr_assert_str_eq(mf_module_type(m), "GroupNorm");
    t_expect_state(m, 2, (t_expect[]){{"weight", 1, {16}}, {"bias", 1, {16}}});
    mf_module_free(m);
    cr_assert_eq(mf_nn_group_norm_new(3, 16, NULL, &m), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "16") && strstr(mf_last_error(), "3 groups"), "%s", mf_last_error());
    cr_assert_null(m);
}

Test(nn_layers, multihead_attention_has_packed_in_proj_and_out_proj_child) {
    mf_rng r = rng_of(7);
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_mha_new(16, 4, true, true, &r, &m));
    t_expect want[] = {{"in_proj_weight", 2, {48, 16}},
                       {"in_proj_bias", 1, {48}},
                       {"out_proj.weight", 2, {16, 16}},
                       {"out_proj.bias", 1, {16}}};
    t_expect_state(m, 4, want);
    mf_tensor *b;
    MF_OK_OR_FAIL(mf_module_find(m, "out_proj.bias", &b));
    for (int i = 0; i < 16; i++)
        cr_assert_eq(mf_tensor_get_flat(b, i), 0.0);
    mf_module_free(m);
}

/* Self-attention through the module equals the same computation spelled
 * out with ops (projection by packed rows, per-head softmax, out_proj). */
Test(nn_layers, multihead_attention_matches_a_hand_written_reference) {
    mf_rng r = rng_of(8);
    mf_module *m;
    const int64_t B = 2, L = 3, E = 4, H = 2, D = 2;
    MF_OK_OR_FAIL(mf_nn_mha_new(E, H, true, true, &r, &m));
    mf_tensor *bias;
    MF_OK_OR_FAIL(mf_module_find(m, "in_proj_bias", &bias));
    for (int i = 0; i < 3 * E; i++)
        mf_tensor_set_flat(bias, i, 0.1 * i - 0.5);
    mf_tensor *x = t_uniform(9, 3, (int64_t[]){B, L, E}, MF_F32, -1, 1), *y;
    MF_OK_OR_FAIL(mf_module_forward(m, x, &y));
    cr_assert(y->ndim == 3 && y->shape[0] == B && y->shape[1] == L && y->shape[2] == E, "%s", MF_SHAPE(y));
    mf_tensor *W = mf_module_param(m, 0), *Wo, *bo;
    MF_OK_OR_FAIL(mf_module_find(m, "out_proj.weight", &Wo));
    MF_OK_OR_FAIL(mf_module_find(m, "out_proj.bias", &bo));
    for (int64_t b = 0; b < B; b++) {
        double qkv[3][3][4]; /* [which][l][e] */
        for (int w = 0; w < 3; w++)
            for (int l = 0; l < L; l++)
                for (int e = 0; e < E; e++) {
                    double s = mf_tensor_get_flat(bias, w * E + e);
                    for (int k = 0; k < E; k++)
                        s += mf_tensor_get_flat(x, (b * L + l) * E + k) * mf_tensor_get_flat(W, (w * E + e) * E + k);
                    qkv[w][l][e] = s;
                }
        double att[3][4] = {{0}};
        for (int h = 0; h < H; h++)
            for (int i = 0; i < L; i++) {
                double sc[3], mx = -INFINITY, z = 0;
                for (int j = 0; j < L; j++) {
                    sc[j] = 0;
                    for (int d = 0; d < D; d++)
                        sc[j] += qkv[0][i][h * D + d] * qkv[1][j][h * D + d] / sqrt((double)D);
                    mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j < L; j++)
                    z += sc[j] = exp(sc[j] - mx);
                for (int j = 0; j < L; j++)
                    for (int d = 0; d < D; d++)
                        att[i][h * D + d] += sc[j] / z * qkv[2][j][h * D + d];
            }
        for (int i = 0; i < L; i++)
            for (int e = 0; e < E; e++) {
                double s = mf_tensor_get_flat(bo, e);
                for (int k = 0; k < E; k++)
                    s += att[i][k] * mf_tensor_get_flat(Wo, e * E + k);
                cr_assert_float_eq(mf_tensor_get_flat(y, (b * L + i) * E + e), s, 1e-5, "b %lld l %d e %d",
                                   (long long)b, i, e);
            }
    }
    /* Sequence-first layout gives the same numbers transposed. */
    mf_module *m2;
    mf_rng r2 = rng_of(8);
    MF_OK_OR_FAIL(mf_nn_mha_new(E, H, true, false, &r2, &m2));
    MF_OK_OR_FAIL(mf_tensor_copy_(mf_module_param(m2, 1), bias));
    mf_tensor *xt, *yt, *ytt;
    MF_OK_OR_FAIL(mf_transpose(x, 0, 1, &xt));
    MF_OK_OR_FAIL(mf_nn_mha_forward(m2, xt, NULL, NULL, NULL, &yt));
    MF_OK_OR_FAIL(mf_transpose(yt, 0, 1, &ytt));
    t_assert_close(ytt, y, 1e-6, 1e-5, "seq-first MHA");
    mf_tensor_release(xt);
    mf_tensor_release(yt);
    mf_tensor_release(ytt);
    mf_module_free(m2);
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_module_free(m);
}

Test(nn_layers, multihead_attention_gradients_reach_every_parameter) {
    mf_rng r = rng_of(10);
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_mha_new(8, 2, true, true, &r, &m));
    mf_tensor *q = t_uniform(11, 3, (int64_t[]){2, 3, 8}, MF_F32, -1, 1);
    mf_tensor *kv = t_uniform(12, 3, (int64_t[]){2, 5, 8}, MF_F32, -1, 1), *y, *s;
    MF_OK_OR_FAIL(mf_nn_mha_forward(m, q, kv, kv, NULL, &y));
    cr_assert(y->shape[1] == 3, "%s", MF_SHAPE(y));
    MF_OK_OR_FAIL(mf_sum(y, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    mf_named_tensors l;
    MF_OK_OR_FAIL(mf_module_named_parameters(m, &l));
    for (int64_t i = 0; i < l.n; i++) {
        mf_tensor *g = l.items[i].tensor->grad;
        cr_assert_not_null(g, "%s has no gradient", l.items[i].name);
        cr_assert(mf_tensor_same_shape(g, l.items[i].tensor));
    }
    mf_named_tensors_free(&l);
    mf_tensor *bad = t_uniform(13, 3, (int64_t[]){2, 3, 6}, MF_F32, -1, 1), *z = NULL;
    cr_assert_eq(mf_nn_mha_forward(m, q, bad, bad, NULL, &z), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "key") && strstr(mf_last_error(), "[2, 3, 6]"), "%s", mf_last_error());
    mf_tensor_release(bad);
    mf_tensor_release(s);
    mf_tensor_release(y);
    mf_tensor_release(q);
    mf_tensor_release(kv);
    mf_module_free(m);
}

Test(nn_layers, mlp_keeps_torchvision_indices) {
    mf_rng r = rng_of(14);
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_mlp_new(8, 3, (int64_t[]){16, 16, 4}, MF_ACT_GELU, 0.0, true, &r, &m));
    t_expect want[] = {{"0.weight", 2, {16, 8}}, {"0.bias", 1, {16}}, {"3.weight", 2, {16, 16}},
                       {"3.bias", 1, {16}},     {"6.weight", 2, {4, 16}}, {"6.bias", 1, {4}}};
    t_expect_state(m, 6, want);
    cr_assert_eq(m->n_children, 8);
    cr_assert_str_eq(mf_module_type(mf_module_child(m, 1)), "GELU");
    cr_assert_str_eq(mf_module_type(mf_module_child(m, 7)), "Dropout");
    mf_tensor *x = t_uniform(15, 2, (int64_t[]){5, 8}, MF_F32, -1, 1), *y;
    MF_OK_OR_FAIL(mf_module_forward(m, x, &y));
    cr_assert(y->shape[0] == 5 && y->shape[1] == 4);
    mf_tensor_release(y);
    mf_tensor_release(x);
    mf_module_free(m);
}

/* torchvision's ResNet block naming: layer1.0.{conv1,bn1,downsample.0,downsample.1}. */
Test(nn_layers, composed_modules_reproduce_torchvision_resnet_names) {
    mf_rng r = rng_of(16);
    mf_module *root, *layer1, *block, *down, *c;
    MF_OK_OR_FAIL(mf_nn_sequential_new(&root)); /* stands in for the ResNet */
    MF_OK_OR_FAIL(mf_nn_sequential_new(&layer1));
    MF_OK_OR_FAIL(mf_nn_sequential_new(&block));
    mf_conv_spec s = mf_conv_spec_make(2, 4, 8, 3, 2, 1);
    s.bias = false;
    MF_OK_OR_FAIL(mf_nn_conv_new(&s, &r, &c));
    MF_OK_OR_FAIL(mf_module_add_child(block, "conv1", c, NULL));
    MF_OK_OR_FAIL(mf_nn_batch_norm_new(2, 8, NULL, &c));
    MF_OK_OR_FAIL(mf_module_add_child(block, "bn1", c, NULL));
    MF_OK_OR_FAIL(mf_nn_sequential_new(&down));
    s = mf_conv_spec_make(2, 4, 8, 1, 2, 0);
    s.bias = false;
    MF_OK_OR_FAIL(mf_nn_conv_new(&s, &r, &c));
    MF_OK_OR_FAIL(mf_nn_sequential_append(down, c));
    MF_OK_OR_FAIL(mf_nn_batch_norm_new(2, 8, NULL, &c));
    MF_OK_OR_FAIL(mf_nn_sequential_append(down, c));
    MF_OK_OR_FAIL(mf_module_add_child(block, "downsample", down, NULL));
    MF_OK_OR_FAIL(mf_nn_sequential_append(layer1, block));
    MF_OK_OR_FAIL(mf_module_add_child(root, "layer1", layer1, NULL));
    t_expect want[] = {{"layer1.0.conv1.weight", 4, {8, 4, 3, 3}},
                       {"layer1.0.bn1.weight", 1, {8}},
                       {"layer1.0.bn1.bias", 1, {8}},
                       {"layer1.0.bn1.running_mean", 1, {8}},
                       {"layer1.0.bn1.running_var", 1, {8}},
                       {"layer1.0.bn1.num_batches_tracked", 0, {0}},
                       {"layer1.0.downsample.0.weight", 4, {8, 4, 1, 1}},
                       {"layer1.0.downsample.1.weight", 1, {8}},
                       {"layer1.0.downsample.1.bias", 1, {8}},
                       {"layer1.0.downsample.1.running_mean", 1, {8}},
                       {"layer1.0.downsample.1.running_var", 1, {8}},
                       {"layer1.0.downsample.1.num_batches_tracked", 0, {0}}};
    t_expect_state(root, 12, want);
    mf_module_free(root);
}

Test(nn_layers, invalid_constructor_arguments_are_rejected) {
    mf_rng r = rng_of(17);
    mf_module *m = (mf_module *)1;
    cr_assert_eq(mf_nn_linear_new(0, 3, true, &r, &m), MF_ERR_INVALID);
    cr_assert_null(m);
    mf_conv_spec s = mf_conv_spec_make(2, 3, 8, 3, 1, 1);
    s.p.groups = 2;
    cr_assert_eq(mf_nn_conv_new(&s, &r, &m), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "Conv2d") && strstr(mf_last_error(), "groups 2"), "%s", mf_last_error());
    s = mf_conv_spec_make(4, 3, 8, 3, 1, 1);
    cr_assert_eq(mf_nn_conv_new(&s, &r, &m), MF_ERR_INVALID);
    cr_assert_eq(mf_nn_mha_new(10, 3, true, true, &r, &m), MF_ERR_INVALID);
    cr_assert_eq(mf_nn_batch_norm_new(2, 4, &(mf_norm_spec){.eps = 0, .momentum = 0.1}, &m), MF_ERR_INVALID);
    cr_assert_eq(mf_nn_dropout_new(1.5, 0, &m), MF_ERR_INVALID);
}

Test(nn_layers, batch_norm_without_running_stats_uses_batch_stats_in_eval_too) {
    mf_norm_spec s = mf_norm_spec_default();
    s.track_running_stats = false;
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_batch_norm_new(1, 2, &s, &m));
    t_expect_state(m, 2, (t_expect[]){{"weight", 1, {2}}, {"bias", 1, {2}}});
    mf_tensor *x = bn_input(), *a, *b;
    MF_OK_OR_FAIL(mf_module_forward(m, x, &a));
    mf_module_train(m, false);
    MF_OK_OR_FAIL(mf_module_forward(m, x, &b));
    t_assert_close(b, a, 0, 0, "eval without running stats");
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(x);
    mf_module_free(m);
}

Test(nn_layers, dropout_drops_in_training_and_is_identity_in_eval) {
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_dropout_new(0.5, 7, &m));
    cr_assert_str_eq(mf_module_type(m), "Dropout");
    mf_tensor *x, *y;
    MF_OK_OR_FAIL(mf_tensor_full(1, (int64_t[]){1000}, MF_F32, MF_DEVICE_CPU, 1.0, &x));
    MF_OK_OR_FAIL(mf_module_forward(m, x, &y));
    int zeros = 0;
    for (int i = 0; i < 1000; i++) {
        double v = mf_tensor_get_flat(y, i);
        cr_assert(v == 0.0 || v == 2.0, "element %d is %g", i, v);
        zeros += v == 0.0;
    }
    cr_assert(zeros > 400 && zeros < 600, "%d zeros", zeros);
    mf_tensor_release(y);
    mf_module_train(m, false);
    MF_OK_OR_FAIL(mf_module_forward(m, x, &y));
    t_assert_close(y, x, 0, 0, "eval dropout");
    mf_tensor_release(y);
    mf_tensor_release(x);
    mf_module_free(m);
}

Test(nn_layers, pooling_and_flatten_modules_wrap_their_ops) {
    mf_module *mp, *ap, *fl;
    mf_pool_params p = {.kernel = {2, 2}, .stride = {2, 2}};
    MF_OK_OR_FAIL(mf_nn_max_pool_new(2, &p, &mp));
    MF_OK_OR_FAIL(mf_nn_adaptive_avg_pool_new(2, (int64_t[]){1, 1}, &ap));
    MF_OK_OR_FAIL(mf_nn_flatten_new(1, -1, &fl));
    cr_assert_str_eq(mf_module_type(mp), "MaxPool2d");
    cr_assert_str_eq(mf_module_type(ap), "AdaptiveAvgPool2d");
    mf_tensor *x = t_from(4, (int64_t[]){1, 1, 2, 4}, MF_F32, (double[]){1, 5, 2, 0, 3, 4, 8, 6}), *y, *z, *f;
    MF_OK_OR_FAIL(mf_module_forward(mp, x, &y));
    mf_tensor *want = t_from(4, (int64_t[]){1, 1, 1, 2}, MF_F32, (double[]){5, 8});
    t_assert_close(y, want, 0, 0, "max pool");
    MF_OK_OR_FAIL(mf_module_forward(ap, x, &z));
    MF_OK_OR_FAIL(mf_module_forward(fl, z, &f));
    cr_assert(f->ndim == 2 && f->shape[1] == 1);
    cr_assert_float_eq(mf_tensor_get_flat(f, 0), 29.0 / 8, 1e-6);
    mf_tensor *bad = t_uniform(1, 3, (int64_t[]){1, 2, 4}, MF_F32, 0, 1), *none = NULL;
    cr_assert_eq(mf_module_forward(mp, bad, &none), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "MaxPool2d"), "%s", mf_last_error());
    mf_tensor *tensors[] = {x, y, z, f, want, bad};
    for (int i = 0; i < 6; i++)
        mf_tensor_release(tensors[i]);
    mf_module_free(mp);
    mf_module_free(ap);
    mf_module_free(fl);
}
