/* One whole LVM-Med pretraining step (train_step + backward, no optimiser)
 * of configs/lvmmed/resnet50.yaml on a chosen device, for the comparison
 * against the PyTorch reference (bench/cpu/torch_lvmmed_step.py) that
 * bench/cpu/run_lvmmed_compare.sh and bench/gpu/run_lvmmed_step.sh run.
 *   bench_lvmmed_compare [--device cpu|cuda] [--images N] [--px P] [--reps R] [--root SRC]
 * Two variants: first_order (task.second_order=false, solver lap: the step
 * the PyTorch reference also takes) and second_order (the paper's gm).
 * Views are random normal images with identity source maps, as in
 * bench/cpu/lvmmed_step.c. Prints per variant
 *   medfm lvmmed_<variant> N P <best wall s> <best cpu s> peak_mib X
 * (peak: the device's tensor memory over the timed steps, weights included). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_memory.h"
#include "medfm/medfm.h"
#include "medfm/nn.h"
#include "medfm/ops/conv.h"
#include "medfm/runner.h"

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        mf_status st_ = (expr);                                                                    \
        if (st_ != MF_OK) {                                                                        \
            fprintf(stderr, "bench_lvmmed_compare: %s failed: %s\n", #expr, mf_last_error());      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static double clock_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* view0/view1 (N, 3, P, P) and identity coords0/coords1 on dev. */
static void make_batch(int64_t n, int64_t px, mf_device dev, mf_batch *b) {
    mf_rng rng;
    mf_rng_init(&rng, 1);
    for (int v = 0; v < 2; v++) {
        mf_tensor *x, *c, *xd, *cd;
        CHECK(mf_tensor_empty(4, (int64_t[]){n, 3, px, px}, MF_F32, MF_DEVICE_CPU, &x));
        CHECK(mf_rand_normal_(x, &rng, 0, 1));
        CHECK(mf_tensor_zeros(3, (int64_t[]){n, 2, 3}, MF_F64, MF_DEVICE_CPU, &c));
        double *pc = mf_tensor_data(c);
        for (int64_t i = 0; i < n; i++)
            pc[i * 6 + 0] = pc[i * 6 + 4] = 1;
        CHECK(mf_to_device(x, dev, &xd));
        CHECK(mf_to_device(c, dev, &cd));
        mf_tensor_release(x);
        mf_tensor_release(c);
        CHECK(mf_batch_put(b, v ? "view1" : "view0", xd));
        CHECK(mf_batch_put(b, v ? "coords1" : "coords0", cd));
    }
    b->size = n;
}

static void run_variant(const char *root, const char *variant, const char *dev_name, mf_device dev,
                        const mf_batch *b, int64_t n, int64_t px, int reps) {
    char path[1200], device[64];
    snprintf(path, sizeof path, "%s/configs/lvmmed/resnet50.yaml", root);
    snprintf(device, sizeof device, "device=%s", dev_name);
    const char *over[3] = {device, "task.second_order=false", "task.solver={plugin: lap}"};
    int n_over = strcmp(variant, "first_order") ? 1 : 3;
    mf_experiment *e;
    CHECK(mf_experiment_load(path, n_over, over, NULL, &e));
    mf_rng rng;
    mf_rng_init(&rng, 7);
    mf_task *t;
    CHECK(mf_experiment_build_task(e, 0, &rng, &t));
    mf_module_train(t->model, true);
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r <= reps; r++) { /* the first step warms up */
        if (r == 1)
            CHECK(mf_memory_reset_peak(dev));
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        mf_metrics logs = {0};
        mf_tensor *loss;
        mf_module_zero_grad(t->model);
        CHECK(t->train_step(t, b, &loss, &logs));
        CHECK(mf_backward(loss, NULL, false));
        CHECK(mf_device_synchronize(dev));
        double dt = clock_s(CLOCK_MONOTONIC) - t0, dc = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        mf_tensor_release(loss);
        if (r > 0 && dt < best)
            best = dt;
        if (r > 0 && dc < best_cpu)
            best_cpu = dc;
    }
    mf_memory_stats mem;
    CHECK(mf_memory_stats_get(dev, &mem));
    char extra[64];
    printf("medfm lvmmed_%s %lld %lld %.4f %.4f peak_mib %.0f%s\n", variant, (long long)n, (long long)px, best,
           best_cpu, (double)mem.peak_bytes / 1048576.0, bench_mem_extra(dev, extra, sizeof extra));
    fflush(stdout);
    t->destroy(t);
    mf_experiment_free(e);
}

int main(int argc, char **argv) {
    const char *dev_name = "cpu", *root = NULL;
    int64_t n = 32, px = 64;
    int reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            dev_name = argv[++i];
        else if (!strcmp(argv[i], "--images") && i + 1 < argc)
            n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--px") && i + 1 < argc)
            px = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--root") && i + 1 < argc)
            root = argv[++i];
        else {
            fprintf(stderr, "usage: bench_lvmmed_compare [--device cpu|cuda] [--images N (multiple of 16)] [--px P >= 32] "
                            "[--reps R] [--root SRC]\n");
            return 2;
        }
    }
    if (n < 16 || n % 16 || px < 32 || reps < 1) {
        fprintf(stderr, "bench_lvmmed_compare: need --images a multiple of 16, --px >= 32, --reps >= 1\n");
        return 2;
    }
    char guess[1100];
    if (!root) { /* the source tree: two levels above build/bin */
        const char *slash = strrchr(argv[0], '/');
        snprintf(guess, sizeof guess, "%.*s/../..", slash ? (int)(slash - argv[0]) : 1, slash ? argv[0] : ".");
        root = guess;
    }
    mf_device dev;
    CHECK(mf_device_parse(dev_name, &dev));
    /* MEDFM_BENCH_CHANNELS_LAST=1: the encoder channels-last (cuda), as
     * train.channels_last; the PyTorch side then uses torch.channels_last */
    const char *cl = getenv("MEDFM_BENCH_CHANNELS_LAST");
    mf_conv_set_channels_last(cl && !strcmp(cl, "1"));
    mf_batch b = {0};
    make_batch(n, px, dev, &b);
    run_variant(root, "first_order", dev_name, dev, &b, n, px, reps);
    run_variant(root, "second_order", dev_name, dev, &b, n, px, reps);
    mf_batch_clear(&b);
    return 0;
}
