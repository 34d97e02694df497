/* ResNet's two residual blocks, written with nn modules and ops only (autograd
 * derives the backward): BasicBlock  conv3x3-bn-relu-conv3x3-bn (+x) relu
 * and Bottleneck  conv1x1-bn-relu-conv3x3(stride)-bn-relu-conv1x1(x4)-bn (+x) relu. */
#include <string.h>

#include "resnet.h"

mf_status rn_conv(int64_t cin, int64_t cout, int64_t k, int64_t stride, mf_rng *rng, mf_module **out) {
    mf_conv_spec s = mf_conv_spec_make(2, cin, cout, k, stride, k / 2);
    s.bias = false;
    MF_TRY(mf_nn_conv_new(&s, rng, out));
    /* torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu") */
    mf_status st = mf_init_kaiming_normal_(mf_module_param(*out, 0), rng, 0, true);
    if (st != MF_OK) {
        mf_module_free(*out);
        *out = NULL;
    }
    return st;
}

mf_status rn_bn(int64_t c, mf_module **out) { return mf_nn_batch_norm_new(2, c, NULL, out); }

mf_status rn_bn_relu(mf_module *bn, const mf_tensor *x, mf_tensor **out) {
    if (!strncmp(mf_module_type(bn), "BatchNorm", 9))
        return mf_nn_batch_norm_relu_forward(bn, x, out); /* one pass each way */
    mf_tensor *y;
    MF_TRY(mf_module_forward(bn, x, &y));
    mf_status st = mf_relu(y, out);
    mf_tensor_release(y);
    return st;
}

typedef struct {
    mf_module base;
    int n_convs;  /* 2 (basic) or 3 (bottleneck): children conv_i at 2i, bn_i at 2i+1 */
    int down;     /* child slot of downsample, -1 if none */
} rn_block;

static mf_status run(mf_module *m, int slot, const mf_tensor *x, mf_tensor **out) {
    return mf_module_forward(mf_module_child(m, slot), x, out);
}

static mf_status block_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    rn_block *b = (rn_block *)m;
    mf_tensor *cur = mf_tensor_retain((mf_tensor *)x), *t = NULL, *idn = NULL, *sum = NULL;
    mf_status st = MF_OK;
    *out = NULL;
    for (int i = 0; i < b->n_convs; i++) {
        MF_CHECK(run(m, 2 * i, cur, &t));
        mf_tensor_clear(&cur);
        if (i + 1 < b->n_convs)
            MF_CHECK(rn_bn_relu(mf_module_child(m, 2 * i + 1), t, &cur));
        else
            MF_CHECK(run(m, 2 * i + 1, t, &cur));
        mf_tensor_clear(&t);
    }
    if (b->down >= 0)
        MF_CHECK(run(m, b->down, x, &idn));
    MF_CHECK(mf_add(cur, idn ? idn : x, &sum));
    st = mf_relu(sum, out);
cleanup:
    mf_tensor_release(cur);
    mf_tensor_release(t);
    mf_tensor_release(idn);
    mf_tensor_release(sum);
    return st;
}

static const mf_module_vtable basic_vt = {"BasicBlock", block_forward, NULL};
static const mf_module_vtable bottleneck_vt = {"Bottleneck", block_forward, NULL};

/* Builds a child with `make` (which writes c) and adds it under `name`. */
#define ADD(name, make)                                         \
    do {                                                        \
        MF_CHECK(make);                                         \
        MF_CHECK(mf_module_add_child(m, name, c, NULL));        \
    } while (0)

mf_status rn_block_new(bool bottleneck, int64_t inplanes, int64_t planes, int64_t stride, bool zero_init_residual,
                       mf_rng *rng, mf_module **out) {
    mf_module *m = NULL, *c = NULL;
    *out = NULL;
    MF_TRY(mf_module_alloc(sizeof(rn_block), bottleneck ? &bottleneck_vt : &basic_vt, &m));
    rn_block *b = (rn_block *)m;
    b->n_convs = bottleneck ? 3 : 2;
    b->down = -1;
    int64_t expansion = bottleneck ? 4 : 1, width = planes;
    mf_status st = MF_OK;
    if (bottleneck) {
        ADD("conv1", rn_conv(inplanes, width, 1, 1, rng, &c));
        ADD("bn1", rn_bn(width, &c));
        ADD("conv2", rn_conv(width, width, 3, stride, rng, &c));
        ADD("bn2", rn_bn(width, &c));
        ADD("conv3", rn_conv(width, planes * 4, 1, 1, rng, &c));
        ADD("bn3", rn_bn(planes * 4, &c));
    } else {
        ADD("conv1", rn_conv(inplanes, planes, 3, stride, rng, &c));
        ADD("bn1", rn_bn(planes, &c));
        ADD("conv2", rn_conv(planes, planes, 3, 1, rng, &c));
        ADD("bn2", rn_bn(planes, &c));
    }
    if (zero_init_residual)
        MF_CHECK(mf_init_zeros_(mf_module_param(mf_module_child(m, 2 * b->n_convs - 1), 0)));
    if (stride != 1 || inplanes != planes * expansion) {
        mf_module *d;
        MF_CHECK(mf_nn_sequential_new(&d));
        MF_CHECK(mf_module_add_child(m, "downsample", d, NULL));
        b->down = m->n_children - 1;
        MF_CHECK(rn_conv(inplanes, planes * expansion, 1, stride, rng, &c));
        MF_CHECK(mf_nn_sequential_append(d, c));
        MF_CHECK(rn_bn(planes * expansion, &c));
        MF_CHECK(mf_nn_sequential_append(d, c));
    }
    *out = m;
    return MF_OK;
cleanup:
    mf_module_free(m);
    return st;
}
