/* The channels-last layout on the CPU: what counts as channels-last, the
 * differentiable conversion, elementwise ops that keep the layout with the
 * same values, and the convolution switch, which the CPU backend ignores. */
#include <string.h>

#include "medfm/ops/conv.h"
#include "tests/support/testing.h"

/* An (N, C, H, W) view of a contiguous (N, H, W, C) tensor: channels-last. */
static mf_tensor *nhwc_view(uint64_t seed, int64_t n, int64_t c, int64_t h, int64_t w) {
    mf_tensor *t = t_uniform(seed, 4, (int64_t[]){n, h, w, c}, MF_F64, -1, 1), *v;
    MF_OK_OR_FAIL(mf_permute(t, (int[]){0, 3, 1, 2}, &v));
    mf_tensor_release(t);
    return v;
}

Test(channels_last, a_permuted_nhwc_tensor_is_channels_last_and_a_plain_one_is_not) {
    mf_tensor *v = nhwc_view(1, 2, 3, 4, 5), *plain = t_uniform(2, 4, (int64_t[]){2, 3, 4, 5}, MF_F32, 0, 1);
    mf_tensor *one_c = t_uniform(3, 4, (int64_t[]){2, 1, 4, 5}, MF_F32, 0, 1), *sl, *r3;
    cr_assert(mf_tensor_is_channels_last(v) && !mf_tensor_is_contiguous(v));
    cr_assert(!mf_tensor_is_channels_last(plain));
    cr_assert(mf_tensor_is_channels_last(one_c) && mf_tensor_is_contiguous(one_c), "one channel: both layouts");
    MF_OK_OR_FAIL(mf_slice(v, 3, 0, 5, 2, &sl));
    cr_assert(!mf_tensor_is_channels_last(sl), "a strided slice is not dense");
    MF_OK_OR_FAIL(mf_reshape(plain, 3, (int64_t[]){2, 3, 20}, &r3));
    cr_assert(!mf_tensor_is_channels_last(r3), "rank 3 is never channels-last");
    int64_t st[5];
    mf_channels_last_strides(5, (int64_t[]){2, 3, 4, 5, 6}, st);
    cr_assert(st[0] == 360 && st[1] == 1 && st[2] == 90 && st[3] == 18 && st[4] == 3);
    mf_tensor *list[] = {v, plain, one_c, sl, r3};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        mf_tensor_release(list[i]);
}

Test(channels_last, conversion_keeps_values_and_passes_the_gradient_through) {
    mf_tensor *x = t_param(t_uniform(4, 4, (int64_t[]){2, 3, 4, 5}, MF_F64, -1, 1)), *y, *y2, *r, *p, *l;
    MF_OK_OR_FAIL(mf_contiguous_channels_last(x, &y));
    cr_assert(mf_tensor_is_channels_last(y) && !mf_tensor_is_contiguous(y));
    cr_assert(y->storage != x->storage, "a copy, not a view");
    for (int64_t i = 0; i < mf_tensor_numel(x); i++)
        cr_assert_eq(mf_tensor_get_flat(y, i), mf_tensor_get_flat(x, i));
    MF_OK_OR_FAIL(mf_contiguous_channels_last(y, &y2));
    cr_assert(y2 == y, "an input already channels-last comes back itself");
    r = t_uniform(5, 4, x->shape, MF_F64, -1, 1);
    MF_OK_OR_FAIL(mf_mul(y, r, &p));
    MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l));
    MF_OK_OR_FAIL(mf_backward(l, NULL, false));
    t_assert_close(x->grad, r, 0, 0, "d sum(y * r) / dx = r");
    mf_tensor *list[] = {x, y, y2, r, p, l};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        mf_tensor_release(list[i]);
}

Test(channels_last, conversion_and_allocation_refuse_ranks_other_than_4_and_5) {
    mf_tensor *x = t_uniform(6, 3, (int64_t[]){2, 3, 4}, MF_F32, 0, 1), *y = NULL;
    cr_assert_eq(mf_contiguous_channels_last(x, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "contiguous_channels_last") && strstr(mf_last_error(), "[2, 3, 4]"), "%s",
              mf_last_error());
    cr_assert_eq(mf_tensor_empty_channels_last(3, x->shape, MF_F32, MF_DEVICE_CPU, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "channels-last tensor [2, 3, 4]"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(channels_last, elementwise_outputs_and_gradients_keep_the_layout_with_the_same_values) {
    mf_tensor *a = nhwc_view(7, 2, 3, 4, 5), *b = nhwc_view(8, 2, 3, 4, 5), *ac, *bc;
    MF_OK_OR_FAIL(mf_clone(a, &ac));
    MF_OK_OR_FAIL(mf_clone(b, &bc));
    MF_OK_OR_FAIL(mf_tensor_set_requires_grad(a, true));
    MF_OK_OR_FAIL(mf_tensor_set_requires_grad(ac, true));
    mf_tensor *y[2], *r[2], *l[2], *in[2][2] = {{a, b}, {ac, bc}};
    for (int k = 0; k < 2; k++) {
        MF_OK_OR_FAIL(mf_mul(in[k][0], in[k][1], &y[k]));
        MF_OK_OR_FAIL(mf_relu(y[k], &r[k]));
        MF_OK_OR_FAIL(mf_sum(r[k], 0, NULL, false, &l[k]));
        MF_OK_OR_FAIL(mf_backward(l[k], NULL, false));
    }
    cr_assert(mf_tensor_is_contiguous(ac) && mf_tensor_is_contiguous(r[1]), "the reference runs contiguous");
    cr_assert(mf_tensor_is_channels_last(y[0]) && !mf_tensor_is_contiguous(y[0]), "binary output");
    cr_assert(mf_tensor_is_channels_last(r[0]) && !mf_tensor_is_contiguous(r[0]), "unary output");
    cr_assert(mf_tensor_is_contiguous(a->grad), "a leaf's gradient is contiguous whatever the leaf's layout");
    t_assert_close(r[0], r[1], 0, 0, "relu(a * b) in either layout");
    t_assert_close(a->grad, ac->grad, 0, 0, "its gradient in either layout");
    for (int k = 0; k < 2; k++) {
        mf_tensor_release(y[k]);
        mf_tensor_release(r[k]);
        mf_tensor_release(l[k]);
    }
    mf_tensor *list[] = {a, b, ac, bc};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        mf_tensor_release(list[i]);
}

Test(channels_last, the_cpu_backend_ignores_the_convolution_switch) {
    mf_tensor *x = nhwc_view(9, 2, 3, 6, 5), *w = t_uniform(10, 4, (int64_t[]){4, 3, 3, 3}, MF_F64, -1, 1), *y, *y0;
    mf_conv_params p = mf_conv_params_default();
    MF_OK_OR_FAIL(mf_conv(x, w, NULL, &p, &y0));
    cr_assert(!mf_conv_channels_last(), "off by default");
    bool was = mf_conv_set_channels_last(true);
    cr_assert(!was && mf_conv_channels_last());
    mf_status st = mf_conv(x, w, NULL, &p, &y);
    mf_conv_set_channels_last(false);
    MF_OK_OR_FAIL(st);
    cr_assert(mf_tensor_is_contiguous(y), "the cpu kernels run N-C-spatial");
    t_assert_close(y, y0, 0, 0, "same values with the switch on");
    mf_tensor *list[] = {x, w, y, y0};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        mf_tensor_release(list[i]);
}
