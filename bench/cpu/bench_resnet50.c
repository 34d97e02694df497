/* ResNet-50 (torchvision layout: Bottleneck blocks [3, 4, 6, 3], stride on
 * the 3x3 conv, conv1x1+BN downsample) built from medfm nn modules; times
 * forward + backward at batch 8. Usage: bench_resnet50 [size ...] (default
 * 64 224). Prints "medfm resnet50 <size> <median wall s> <median CPU s>" per size;
 * bench/cpu/run_resnet50.sh sets it beside torch and prints the ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_memory.h"
#include "medfm/amp.h"
#include "medfm/graph.h"
#include "medfm/medfm.h"
#include "medfm/nn.h"
#include "medfm/ops/conv.h"

#define CHECK(expr)                                                                            \
    do {                                                                                       \
        mf_status st_ = (expr);                                                                \
        if (st_ != MF_OK) {                                                                    \
            fprintf(stderr, "bench_resnet50: %s failed: %s\n", #expr, mf_last_error());        \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

/* ---- Bottleneck: conv1 1x1, conv2 3x3 (stride), conv3 1x1 (x4), residual ---- */

typedef struct {
    mf_module base;
    int down; /* child slot of downsample, -1 if none */
} bottleneck;

/* relu: the child is a BatchNorm followed by relu, run fused. */
static mf_status run_child(mf_module *m, int slot, mf_tensor *x, bool relu, mf_tensor **out) {
    if (relu)
        return mf_nn_batch_norm_relu_forward(mf_module_child(m, slot), x, out);
    return mf_module_forward(mf_module_child(m, slot), x, out);
}

static mf_status bottleneck_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    bottleneck *b = (bottleneck *)m;
    mf_tensor *t[8] = {0};
    mf_status st;
    /* children: 0 conv1, 1 bn1, 2 conv2, 3 bn2, 4 conv3, 5 bn3, [6 downsample] */
    MF_CHECK(run_child(m, 0, (mf_tensor *)x, false, &t[0]));
    MF_CHECK(run_child(m, 1, t[0], true, &t[1]));
    MF_CHECK(run_child(m, 2, t[1], false, &t[2]));
    MF_CHECK(run_child(m, 3, t[2], true, &t[3]));
    MF_CHECK(run_child(m, 4, t[3], false, &t[4]));
    MF_CHECK(run_child(m, 5, t[4], false, &t[5]));
    if (b->down >= 0)
        MF_CHECK(run_child(m, b->down, (mf_tensor *)x, false, &t[6]));
    MF_CHECK(mf_add(t[5], b->down >= 0 ? t[6] : x, &t[7]));
    st = mf_relu(t[7], out);
cleanup:
    for (int i = 0; i < 8; i++)
        mf_tensor_release(t[i]);
    return st;
}

static const mf_module_vtable bottleneck_vt = {"Bottleneck", bottleneck_forward, NULL};

static mf_module *conv(int64_t cin, int64_t cout, int64_t k, int64_t stride, mf_rng *rng) {
    mf_conv_spec s = mf_conv_spec_make(2, cin, cout, k, stride, k / 2);
    s.bias = false;
    mf_module *m;
    CHECK(mf_nn_conv_new(&s, rng, &m));
    /* torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu") */
    CHECK(mf_init_kaiming_normal_(mf_module_param(m, 0), rng, 0, true));
    return m;
}

static mf_module *bn(int64_t c) {
    mf_module *m;
    CHECK(mf_nn_batch_norm_new(2, c, NULL, &m));
    return m;
}

static mf_module *make_bottleneck(int64_t inplanes, int64_t planes, int64_t stride, mf_rng *rng) {
    mf_module *m;
    CHECK(mf_module_alloc(sizeof(bottleneck), &bottleneck_vt, &m));
    bottleneck *b = (bottleneck *)m;
    b->down = -1;
    CHECK(mf_module_add_child(m, "conv1", conv(inplanes, planes, 1, 1, rng), NULL));
    CHECK(mf_module_add_child(m, "bn1", bn(planes), NULL));
    CHECK(mf_module_add_child(m, "conv2", conv(planes, planes, 3, stride, rng), NULL));
    CHECK(mf_module_add_child(m, "bn2", bn(planes), NULL));
    CHECK(mf_module_add_child(m, "conv3", conv(planes, planes * 4, 1, 1, rng), NULL));
    CHECK(mf_module_add_child(m, "bn3", bn(planes * 4), NULL));
    if (stride != 1 || inplanes != planes * 4) {
        mf_module *d;
        CHECK(mf_nn_sequential_new(&d));
        CHECK(mf_nn_sequential_append(d, conv(inplanes, planes * 4, 1, stride, rng)));
        CHECK(mf_nn_sequential_append(d, bn(planes * 4)));
        CHECK(mf_module_add_child(m, "downsample", d, &b->down));
    }
    return m;
}

/* ---- ResNet: children conv1, bn1, relu, maxpool, layer1..4, avgpool, fc ---- */

static mf_status resnet_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    mf_tensor *cur = mf_tensor_retain((mf_tensor *)x);
    for (int i = 0; i < m->n_children; i++) {
        mf_tensor *next;
        mf_module *c = mf_module_child(m, i);
        mf_status st;
        if (!strcmp(m->children[i].name, "fc")) {
            mf_tensor *flat;
            st = mf_flatten(cur, 1, -1, &flat);
            if (st == MF_OK) {
                st = mf_module_forward(c, flat, &next);
                mf_tensor_release(flat);
            }
        } else {
            st = mf_module_forward(c, cur, &next);
        }
        mf_tensor_release(cur);
        if (st != MF_OK)
            return st;
        cur = next;
    }
    *out = cur;
    return MF_OK;
}

static const mf_module_vtable resnet_vt = {"ResNet", resnet_forward, NULL};

static mf_module *make_resnet50(mf_rng *rng) {
    mf_module *m, *c;
    CHECK(mf_module_alloc(sizeof(mf_module), &resnet_vt, &m));
    CHECK(mf_module_add_child(m, "conv1", conv(3, 64, 7, 2, rng), NULL));
    CHECK(mf_module_add_child(m, "bn1", bn(64), NULL));
    CHECK(mf_nn_activation_new(MF_ACT_RELU, &c));
    CHECK(mf_module_add_child(m, "relu", c, NULL));
    mf_pool_params pool = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    CHECK(mf_nn_max_pool_new(2, &pool, &c));
    CHECK(mf_module_add_child(m, "maxpool", c, NULL));
    const int blocks[4] = {3, 4, 6, 3};
    int64_t inplanes = 64;
    for (int l = 0; l < 4; l++) {
        int64_t planes = 64 << l;
        mf_module *layer;
        CHECK(mf_nn_sequential_new(&layer));
        for (int b = 0; b < blocks[l]; b++) {
            CHECK(mf_nn_sequential_append(layer, make_bottleneck(inplanes, planes, b == 0 && l > 0 ? 2 : 1, rng)));
            inplanes = planes * 4;
        }
        char name[16];
        snprintf(name, sizeof name, "layer%d", l + 1);
        CHECK(mf_module_add_child(m, name, layer, NULL));
    }
    CHECK(mf_nn_adaptive_avg_pool_new(2, (int64_t[]){1, 1}, &c));
    CHECK(mf_module_add_child(m, "avgpool", c, NULL));
    CHECK(mf_nn_linear_new(2048, 1000, true, rng, &c));
    CHECK(mf_module_add_child(m, "fc", c, NULL));
    return m;
}

static double clock_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Wall seconds of one training step; its process CPU seconds go to *cpu
 * (a steadier measure on a shared machine). */
/* MEDFM_BENCH_PRECISION=bf16 (or f16): the forward under autocast, as
 * train.precision does; the backward outside it. */
static mf_dtype autocast = MF_F32;

/* Zeroes the gradients, runs the forward (under autocast when asked) and
 * the backward of mean(net(x)). */
static void forward_backward(mf_module *net, const mf_tensor *x, mf_tensor **y, mf_tensor **loss) {
    mf_module_zero_grad(net);
    if (autocast != MF_F32)
        CHECK(mf_autocast_enter(autocast));
    CHECK(mf_module_forward(net, x, y));
    CHECK(mf_mean(*y, 0, NULL, false, loss));
    if (autocast != MF_F32)
        CHECK(mf_autocast_exit());
    CHECK(mf_backward(*loss, NULL, false));
}

static double step(mf_module *net, const mf_tensor *x, double *cpu) {
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    mf_tensor *y, *loss;
    forward_backward(net, x, &y, &loss);
    /* Reading a gradient back waits for a device to finish the step. */
    mf_tensor *w, *e;
    CHECK(mf_module_find(net, "conv1.weight", &w));
    CHECK(mf_slice(w->grad, 0, 0, 1, 1, &e));
    mf_tensor *first;
    CHECK(mf_reshape(e, 1, (int64_t[]){-1}, &first));
    mf_tensor_release(e);
    CHECK(mf_slice(first, 0, 0, 1, 1, &e));
    double v;
    CHECK(mf_tensor_item(e, &v));
    mf_tensor_release(e);
    mf_tensor_release(first);
    mf_tensor_release(loss);
    mf_tensor_release(y);
    *cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return clock_s(CLOCK_MONOTONIC) - t0;
}

/* MEDFM_BENCH_CUDA_GRAPH=1 (cuda only): forward + backward captured once
 * as a CUDA graph (medfm/graph.h, as train.cuda_graph does) and each timed
 * step is one replay; printed as "medfm_graph" after the eager line. */
static mf_graph *capture_step(mf_module *net, const mf_tensor *x, mf_device dev) {
    mf_tensor *y, *loss;
    CHECK(mf_graph_capture_begin(dev));
    forward_backward(net, x, &y, &loss);
    mf_graph *g;
    CHECK(mf_graph_capture_end(dev, &g));
    mf_tensor_release(loss); /* its memory stays the graph's */
    mf_tensor_release(y);
    return g;
}

static double replay_step(mf_graph *g, mf_device dev, double *cpu) {
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    CHECK(mf_graph_replay(g));
    CHECK(mf_device_synchronize(dev));
    *cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return clock_s(CLOCK_MONOTONIC) - t0;
}

int main(int argc, char **argv) {
    int64_t sizes[8] = {64, 224};
    int n_sizes = 2, runs = 3;
    /* MEDFM_BENCH_DEVICE (cpu | cuda) and MEDFM_BENCH_BATCH let the same
     * model run as the GPU benchmark (bench/gpu/run_resnet50.sh). */
    int64_t batch = 8;
    const char *bb = getenv("MEDFM_BENCH_BATCH");
    if (bb && atoll(bb) > 0)
        batch = atoll(bb);
    mf_device dev = MF_DEVICE_CPU;
    const char *dn = getenv("MEDFM_BENCH_DEVICE");
    if (dn && *dn)
        CHECK(mf_device_parse(dn, &dev));
    if (argc > 1) {
        n_sizes = 0;
        for (int i = 1; i < argc && n_sizes < 8; i++)
            sizes[n_sizes++] = atoll(argv[i]);
    }
    const char *prec = getenv("MEDFM_BENCH_PRECISION");
    if (prec && !strcmp(prec, "bf16"))
        autocast = MF_BF16;
    else if (prec && !strcmp(prec, "f16"))
        autocast = MF_F16;
    else if (prec && *prec && strcmp(prec, "f32")) {
        fprintf(stderr, "bench_resnet50: MEDFM_BENCH_PRECISION must be f32, bf16 or f16, got '%s'\n", prec);
        return 2;
    }
    /* MEDFM_BENCH_CHANNELS_LAST=1: convolutions, batch norm and the ops
     * between them channels-last (cuda; torch.channels_last on the other side) */
    const char *cl = getenv("MEDFM_BENCH_CHANNELS_LAST");
    mf_conv_set_channels_last(cl && !strcmp(cl, "1"));
    const char *r = getenv("MEDFM_BENCH_RUNS");
    if (r && atoi(r) > 0)
        runs = atoi(r);
    mf_rng rng;
    mf_rng_init(&rng, 0);
    mf_module *net = make_resnet50(&rng);
    CHECK(mf_module_to_device(net, dev));
    fprintf(stderr, "resnet50: %lld parameters, %d threads\n", (long long)mf_module_num_params(net),
            mf_num_threads());
    for (int s = 0; s < n_sizes; s++) {
        mf_tensor *x;
        mf_tensor *xh;
        CHECK(mf_tensor_zeros(4, (int64_t[]){batch, 3, sizes[s], sizes[s]}, MF_F32, MF_DEVICE_CPU, &xh));
        CHECK(mf_rand_normal_(xh, &rng, 0, 1));
        CHECK(mf_to_device(xh, dev, &x));
        mf_tensor_release(xh);
        double t[16], c[16];
        CHECK(mf_memory_reset_peak(dev)); /* the peak of this size's steps, weights included */
        step(net, x, &c[0]); /* warm-up */
        int n = runs < 16 ? runs : 16;
        for (int i = 0; i < n; i++)
            t[i] = step(net, x, &c[i]);
        qsort(t, (size_t)n, sizeof t[0], cmp_double);
        qsort(c, (size_t)n, sizeof c[0], cmp_double);
        mf_memory_stats mem;
        CHECK(mf_memory_stats_get(dev, &mem));
        char extra[64];
        printf("medfm resnet50 %lld %.4f %.4f peak_mib %.0f%s\n", (long long)sizes[s], t[n / 2], c[n / 2],
               (double)mem.peak_bytes / 1048576.0, bench_mem_extra(dev, extra, sizeof extra));
        fflush(stdout);
        const char *cg = getenv("MEDFM_BENCH_CUDA_GRAPH");
        if (cg && !strcmp(cg, "1") && dev.type == MF_CUDA) {
            CHECK(mf_memory_reset_peak(dev));
            mf_graph *g = capture_step(net, x, dev);
            replay_step(g, dev, &c[0]); /* warm-up */
            for (int i = 0; i < n; i++)
                t[i] = replay_step(g, dev, &c[i]);
            qsort(t, (size_t)n, sizeof t[0], cmp_double);
            qsort(c, (size_t)n, sizeof c[0], cmp_double);
            CHECK(mf_memory_stats_get(dev, &mem));
            printf("medfm_graph resnet50 %lld %.4f %.4f peak_mib %.0f%s\n", (long long)sizes[s], t[n / 2],
                   c[n / 2], (double)mem.peak_bytes / 1048576.0, bench_mem_extra(dev, extra, sizeof extra));
            fflush(stdout);
            mf_module_zero_grad(net);
            mf_graph_free(g);
        }
        mf_tensor_release(x);
    }
    mf_module_free(net);
    return 0;
}
