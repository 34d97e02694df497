/* Per-op GPU benchmark: the ops of the ViT / nnFormer / 3-D U-Net paths,
 * each timed alone, forward + backward, on medfm's CUDA backend;
 * bench/gpu/torch_ops.py times the same cases in PyTorch (shapes read from
 * `bench_gpu_ops --list`) and bench/gpu/run_ops.sh prints the ratios.
 *
 * Cases (full sizes: realistic training shapes that fit an 80 GB GPU many
 * times over; the largest, window_attention, holds a few 1.4 GB score
 * matrices in f32):
 *   conv3d            x (2, 32, 64, 64, 64), w (64, 32, 3, 3, 3), pad 1
 *                     (a 3-D U-Net / nnFormer encoder stage)
 *   conv3d_transpose  x (2, 64, 32, 32, 32), w (64, 32, 2, 2, 2), stride 2
 *                     (decoder upsampling to 64^3)
 *   conv2d_transpose  x (64, 128, 28, 28), w (128, 64, 2, 2), stride 2
 *   dwconv2d          x (64, 256, 56, 56), w (256, 1, 3, 3), pad 1, groups 256
 *                     (depthwise 3x3, ConvNeXt-style)
 *   vit_attention     q, k, v (64, 12, 197, 64), no bias (ViT-B/16 at 224)
 *   window_attention  q, k, v (512, 6, 343, 32) = (batch * windows, heads,
 *                     7^3 tokens, head dim), bias (1, 6, 343, 343) with a
 *                     gradient, broadcast over the batch (nnFormer's
 *                     relative-position bias)
 *   layer_norm        x (12608, 768) = 64 * 197 ViT-B tokens, affine
 *   group_norm        x (8, 256, 56, 56), 32 groups, affine
 *   linear_gelu       x (12608, 768) @ w (3072, 768)^T + b, exact GELU
 *                     (mf_linear_gelu; the ViT-B MLP's first layer)
 *   cross_entropy     logits (4096, 1000), int64 targets, mean
 * No conv has a bias. Every float input and weight requires a gradient.
 *
 * Each case: loss = sum(y * r) for a fixed random r of y's shape (f32),
 * then mf_backward; cross_entropy's output is the (mean) loss itself. One
 * warm-up, then the median of MEDFM_BENCH_RUNS (default 5) runs, each
 * timed from the forward to mf_device_synchronize after the backward
 * (gradients dropped before each run, outside the clock). The peak is
 * medfm's allocator peak over the warm-up and the runs, counting the
 * inputs (reset after they are made) and whatever stays allocated from
 * earlier cases: on CUDA that is the 32 MiB cuBLAS workspace from the
 * first case that runs a cuBLAS GEMM on (vit_attention under the emulator).
 *
 * Environment:
 *   MEDFM_BENCH_DEVICE     cuda (default), cuda:N or cpu
 *   MEDFM_BENCH_PRECISION  f32 (default; TF32 allowed, medfm's default)
 *                          or bf16 (forward and loss under
 *                          mf_autocast_enter(MF_BF16), backward outside)
 *   MEDFM_BENCH_RUNS       timed runs per case (default 5)
 *   MEDFM_BENCH_SCALE      full (default) or tiny: every case a few KB, to
 *                          check the bench runs on a CPU or under the CUDA
 *                          emulator (the numbers mean nothing there)
 * usage: bench_gpu_ops [--list] [case ...]
 * Prints "medfm <case> <precision> <seconds> peak_mib <N>" per case;
 * --list prints "<case> <kind> x=<dims> w=<dims|none> stride=S pad=P
 * groups=G" (kinds: conv, convt, attn (x = q, k, v shape, w = bias), ln,
 * gn (groups = norm groups), linear_gelu, ce (x = logits)). On any error
 * it prints the case and mf_last_error() and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_memory.h"
#include "medfm/amp.h"
#include "medfm/medfm.h"
#include "medfm/memory.h"

typedef enum { K_CONV, K_CONVT, K_ATTN, K_LN, K_GN, K_LINEAR_GELU, K_CE } op_kind;

static const char *const KIND_NAMES[] = {"conv", "convt", "attn", "ln", "gn", "linear_gelu", "ce"};

typedef struct {
    int nd; /* 0: none */
    int64_t d[5];
} dims;

typedef struct {
    const char *name;
    op_kind kind;
    dims x, w;
    int64_t stride, pad, groups;
} op_case;

#define D(...) {sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), {__VA_ARGS__}}
#define NONE {0, {0}}

static const op_case FULL[] = {
    {"conv3d", K_CONV, D(2, 32, 64, 64, 64), D(64, 32, 3, 3, 3), 1, 1, 1},
    {"conv3d_transpose", K_CONVT, D(2, 64, 32, 32, 32), D(64, 32, 2, 2, 2), 2, 0, 1},
    {"conv2d_transpose", K_CONVT, D(64, 128, 28, 28), D(128, 64, 2, 2), 2, 0, 1},
    {"dwconv2d", K_CONV, D(64, 256, 56, 56), D(256, 1, 3, 3), 1, 1, 256},
    {"vit_attention", K_ATTN, D(64, 12, 197, 64), NONE, 1, 0, 1},
    {"window_attention", K_ATTN, D(512, 6, 343, 32), D(1, 6, 343, 343), 1, 0, 1},
    {"layer_norm", K_LN, D(12608, 768), NONE, 1, 0, 1},
    {"group_norm", K_GN, D(8, 256, 56, 56), NONE, 1, 0, 32},
    {"linear_gelu", K_LINEAR_GELU, D(12608, 768), D(3072, 768), 1, 0, 1},
    {"cross_entropy", K_CE, D(4096, 1000), NONE, 1, 0, 1},
};

/* The same cases, each a few KB (MEDFM_BENCH_SCALE=tiny). */
static const op_case TINY[] = {
    {"conv3d", K_CONV, D(1, 2, 4, 4, 4), D(4, 2, 3, 3, 3), 1, 1, 1},
    {"conv3d_transpose", K_CONVT, D(1, 4, 2, 2, 2), D(4, 2, 2, 2, 2), 2, 0, 1},
    {"conv2d_transpose", K_CONVT, D(2, 4, 3, 3), D(4, 2, 2, 2), 2, 0, 1},
    {"dwconv2d", K_CONV, D(2, 4, 5, 5), D(4, 1, 3, 3), 1, 1, 4},
    {"vit_attention", K_ATTN, D(2, 2, 5, 8), NONE, 1, 0, 1},
    {"window_attention", K_ATTN, D(4, 2, 8, 4), D(1, 2, 8, 8), 1, 0, 1},
    {"layer_norm", K_LN, D(8, 16), NONE, 1, 0, 1},
    {"group_norm", K_GN, D(2, 8, 3, 3), NONE, 1, 0, 4},
    {"linear_gelu", K_LINEAR_GELU, D(8, 16), D(32, 16), 1, 0, 1},
    {"cross_entropy", K_CE, D(8, 10), NONE, 1, 0, 1},
};

#define NCASES (sizeof FULL / sizeof FULL[0])
_Static_assert(sizeof TINY == sizeof FULL, "every case has a tiny form");

static const char *cur = "setup"; /* the case being run, for errors */

#define CHECK(expr)                                                                                       \
    do {                                                                                                  \
        mf_status st_ = (expr);                                                                           \
        if (st_ != MF_OK) {                                                                               \
            fprintf(stderr, "bench_gpu_ops: %s: %s failed: %s\n", cur, #expr, mf_last_error());          \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_dims(const char *key, const dims *d) {
    printf(" %s=", key);
    if (!d->nd)
        printf("none");
    for (int i = 0; i < d->nd; i++)
        printf("%s%lld", i ? "," : "", (long long)d->d[i]);
}

/* ---- one case's tensors ---- */

#define MAX_LEAVES 4

typedef struct {
    const op_case *c;
    mf_device dev;
    mf_tensor *leaf[MAX_LEAVES]; /* x (or q), then weights / k, v, bias */
    int n_leaves;
    mf_tensor *target; /* cross_entropy only */
    mf_tensor *r;      /* fixed random weights of the loss, y's shape */
    mf_rng rng;
} bench;

/* A uniform [-0.5, 0.5) f32 tensor on the bench's device, requiring a
 * gradient; kept as the next leaf. */
static mf_tensor *add_leaf(bench *b, int nd, const int64_t *shape) {
    mf_tensor *t;
    CHECK(mf_tensor_empty(nd, shape, MF_F32, b->dev, &t));
    CHECK(mf_rand_uniform_(t, &b->rng, -0.5, 0.5));
    CHECK(mf_tensor_set_requires_grad(t, true));
    b->leaf[b->n_leaves++] = t;
    return t;
}

static void setup(bench *b) {
    const op_case *c = b->c;
    const dims *x = &c->x;
    add_leaf(b, x->nd, x->d);
    switch (c->kind) {
    case K_CONV:
    case K_CONVT:
        add_leaf(b, c->w.nd, c->w.d);
        break;
    case K_ATTN:
        add_leaf(b, x->nd, x->d); /* k */
        add_leaf(b, x->nd, x->d); /* v */
        if (c->w.nd)
            add_leaf(b, c->w.nd, c->w.d);
        break;
    case K_LN:
        add_leaf(b, 1, &x->d[x->nd - 1]);
        add_leaf(b, 1, &x->d[x->nd - 1]);
        break;
    case K_GN:
        add_leaf(b, 1, &x->d[1]);
        add_leaf(b, 1, &x->d[1]);
        break;
    case K_LINEAR_GELU:
        add_leaf(b, c->w.nd, c->w.d);
        add_leaf(b, 1, &c->w.d[0]);
        break;
    case K_CE: {
        int64_t n = x->d[0], classes = x->d[1];
        int64_t *idx = malloc((size_t)n * sizeof *idx);
        if (!idx) {
            fprintf(stderr, "bench_gpu_ops: %s: out of host memory\n", cur);
            exit(1);
        }
        unsigned s = 12345;
        for (int64_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            idx[i] = (int64_t)((s >> 8) % (unsigned)classes);
        }
        mf_tensor *h;
        CHECK(mf_tensor_from_data(1, &n, MF_I64, idx, &h));
        free(idx);
        CHECK(mf_to_device(h, b->dev, &b->target));
        mf_tensor_release(h);
        break;
    }
    }
}

static void forward(bench *b, mf_tensor **y) {
    const op_case *c = b->c;
    mf_tensor **l = b->leaf;
    switch (c->kind) {
    case K_CONV:
    case K_CONVT: {
        mf_conv_params p = mf_conv_params_default();
        for (int i = 0; i < c->x.nd - 2; i++) {
            p.stride[i] = c->stride;
            p.padding[i] = c->pad;
        }
        p.groups = c->groups;
        if (c->kind == K_CONV)
            CHECK(mf_conv(l[0], l[1], NULL, &p, y));
        else
            CHECK(mf_conv_transpose(l[0], l[1], NULL, &p, y));
        break;
    }
    case K_ATTN:
        CHECK(mf_attention(l[0], l[1], l[2], b->n_leaves > 3 ? l[3] : NULL, 0, y));
        break;
    case K_LN:
        CHECK(mf_layer_norm(l[0], 1, l[1], l[2], 1e-5, y));
        break;
    case K_GN:
        CHECK(mf_group_norm(l[0], c->groups, l[1], l[2], 1e-5, y));
        break;
    case K_LINEAR_GELU:
        CHECK(mf_linear_gelu(l[0], l[1], l[2], y));
        break;
    case K_CE:
        CHECK(mf_cross_entropy(l[0], b->target, NULL, y));
        break;
    }
}

/* Seconds of one forward + loss + backward, to the device's idle. */
static double run_once(bench *b, mf_dtype lowp) {
    for (int i = 0; i < b->n_leaves; i++)
        mf_tensor_zero_grad(b->leaf[i]);
    CHECK(mf_device_synchronize(b->dev));
    double t0 = now();
    if (lowp != MF_F32)
        CHECK(mf_autocast_enter(lowp));
    mf_tensor *y, *loss;
    forward(b, &y);
    if (b->r) {
        mf_tensor *yr;
        CHECK(mf_mul(y, b->r, &yr));
        CHECK(mf_sum(yr, 0, NULL, false, &loss));
        mf_tensor_release(yr);
    } else {
        loss = mf_tensor_retain(y);
    }
    if (lowp != MF_F32)
        CHECK(mf_autocast_exit());
    CHECK(mf_backward(loss, NULL, false));
    mf_tensor_release(loss);
    mf_tensor_release(y);
    CHECK(mf_device_synchronize(b->dev));
    return now() - t0;
}

static void run_case(const op_case *c, mf_device dev, mf_dtype lowp, const char *prec, int runs) {
    cur = c->name;
    bench b = {.c = c, .dev = dev};
    mf_rng_init(&b.rng, 0);
    setup(&b);
    if (c->kind != K_CE) { /* r of y's shape: one forward without a graph */
        bool prev = mf_grad_set_enabled(false);
        mf_tensor *y;
        forward(&b, &y);
        CHECK(mf_tensor_empty(y->ndim, y->shape, MF_F32, dev, &b.r));
        mf_tensor_release(y);
        mf_grad_set_enabled(prev);
        CHECK(mf_rand_uniform_(b.r, &b.rng, -0.5, 0.5));
    }
    CHECK(mf_device_synchronize(dev));
    CHECK(mf_memory_reset_peak(dev));
    run_once(&b, lowp); /* warm-up */
    double t[64];
    int n = runs < 64 ? runs : 64;
    for (int i = 0; i < n; i++)
        t[i] = run_once(&b, lowp);
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    mf_memory_stats mem;
    CHECK(mf_memory_stats_get(dev, &mem));
    char extra[64];
    printf("medfm %s %s %.6f peak_mib %.3f%s\n", c->name, prec, t[n / 2], (double)mem.peak_bytes / 1048576.0,
           bench_mem_extra(dev, extra, sizeof extra));
    fflush(stdout);
    for (int i = 0; i < b.n_leaves; i++)
        mf_tensor_release(b.leaf[i]);
    mf_tensor_release(b.target);
    mf_tensor_release(b.r);
}

int main(int argc, char **argv) {
    const char *scale = getenv("MEDFM_BENCH_SCALE");
    const op_case *cases = FULL;
    if (scale && !strcmp(scale, "tiny"))
        cases = TINY;
    else if (scale && *scale && strcmp(scale, "full")) {
        fprintf(stderr, "bench_gpu_ops: MEDFM_BENCH_SCALE must be full or tiny, got '%s'\n", scale);
        return 2;
    }
    bool list = false;
    int first = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list"))
            list = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: bench_gpu_ops [--list] [case ...]\n");
            return 2;
        } else if (first == argc)
            first = i;
    }
    /* Named cases must exist (a typo must not pass as an empty run). */
    for (int i = first; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        size_t k = 0;
        while (k < NCASES && strcmp(cases[k].name, argv[i]))
            k++;
        if (k == NCASES) {
            fprintf(stderr, "bench_gpu_ops: no case '%s' (see --list)\n", argv[i]);
            return 2;
        }
    }
    if (list) {
        for (size_t k = 0; k < NCASES; k++) {
            const op_case *c = &cases[k];
            printf("%s %s", c->name, KIND_NAMES[c->kind]);
            print_dims("x", &c->x);
            print_dims("w", &c->w);
            printf(" stride=%lld pad=%lld groups=%lld\n", (long long)c->stride, (long long)c->pad,
                   (long long)c->groups);
        }
        return 0;
    }
    mf_device dev;
    const char *dn = getenv("MEDFM_BENCH_DEVICE");
    CHECK(mf_device_parse(dn && *dn ? dn : "cuda", &dev));
    const char *prec = getenv("MEDFM_BENCH_PRECISION");
    mf_dtype lowp = MF_F32;
    if (!prec || !*prec)
        prec = "f32";
    if (!strcmp(prec, "bf16"))
        lowp = MF_BF16;
    else if (strcmp(prec, "f32")) {
        fprintf(stderr, "bench_gpu_ops: MEDFM_BENCH_PRECISION must be f32 or bf16, got '%s'\n", prec);
        return 2;
    }
    int runs = 5;
    const char *r = getenv("MEDFM_BENCH_RUNS");
    if (r && atoi(r) > 0)
        runs = atoi(r);
    for (size_t k = 0; k < NCASES; k++) {
        bool chosen = first == argc;
        for (int i = first; i < argc && !chosen; i++)
            chosen = argv[i][0] != '-' && !strcmp(argv[i], cases[k].name);
        if (chosen)
            run_case(&cases[k], dev, lowp, prec, runs);
    }
    return 0;
}
