/* Loader throughput: PNG decode + random resized crop to 224 + flip +
 * colour jitter + normalise, batches of 32, with 1 and 2 workers, against
 * the same work done with PIL/numpy (bench/cpu/pil_loader.py) in this run.
 * Usage: bench_loader [n_images] [side]. Prints images/s and the ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "medfm/medfm.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* process CPU time (all threads): a busy machine barely moves it */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what) {
    fprintf(stderr, "bench_loader: %s: %s\n", what, mf_last_error());
    return 1;
}

static double run(const char *dir, int workers, double *per_cpu_s) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "d:\n"
             "  source: {type: image_folder, root: %s}\n"
             "  transforms:\n"
             "    - {name: random_resized_crop, size: 224}\n"
             "    - {name: hflip}\n"
             "    - {name: color_jitter, p: 1.0, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1}\n"
             "    - {name: normalize, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}\n"
             "  batch_size: 32\n"
             "  workers: %d\n"
             "  prefetch: 4\n",
             dir, workers);
    mf_cfg *c = NULL;
    mf_loader *l = NULL;
    if (mf_cfg_parse_string(yaml, "bench.yaml", &c) != MF_OK || mf_loader_from_cfg(mf_cfg_find(c, "d"), 0, &l) != MF_OK) {
        fail("loader");
        return 0;
    }
    double best = 0, best_cpu = 0;
    for (int e = 0; e < 3; e++) {
        mf_loader_start_epoch(l, e);
        double t0 = now(), c0 = cpu_now();
        int64_t n = 0;
        mf_batch b = {0};
        bool done;
        for (;;) {
            if (mf_loader_next(l, &b, &done) != MF_OK) {
                fail("next");
                break;
            }
            if (done)
                break;
            n += b.size;
        }
        mf_batch_clear(&b);
        double r = (double)n / (now() - t0), rc = (double)n / (cpu_now() - c0);
        best = r > best ? r : best;
        best_cpu = rc > best_cpu ? rc : best_cpu;
    }
    *per_cpu_s = best_cpu;
    mf_loader_free(l);
    mf_cfg_free(c);
    return best;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 96, side = argc > 2 ? atoi(argv[2]) : 320;
    char dir[] = "/tmp/medfm_bench_loader_XXXXXX", sub[128], path[256];
    if (!mkdtemp(dir))
        return 1;
    snprintf(sub, sizeof sub, "%s/class0", dir);
    mkdir(sub, 0755);
    mf_phantom_opts o;
    mf_phantom_defaults(&o, 2);
    o.size = side;
    o.channels = 3;
    for (int i = 0; i < n; i++) {
        mf_tensor *img;
        if (mf_phantom(&o, 0, i, &img, NULL, NULL) != MF_OK)
            return fail("phantom");
        snprintf(path, sizeof path, "%s/img%03d.png", sub, i);
        if (mf_image_write_png(path, img) != MF_OK)
            return fail("png");
        mf_tensor_release(img);
    }
    printf("loader: %d PNG images %dx%d RGB -> random_resized_crop 224 + hflip + color_jitter + normalize, batch 32\n",
           n, side, side);
    double cc1, cc2, c1 = run(dir, 1, &cc1), c2 = run(dir, 2, &cc2);
    /* the same work in PIL/numpy, same images */
    char cmd[1024], line[256];
    const char *script = getenv("PIL_LOADER");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", script ? script : "bench/cpu/pil_loader.py", sub);
    FILE *p = popen(cmd, "r");
    double p1 = 0, p2 = 0, pc = 0;
    while (p && fgets(line, sizeof line, p)) {
        double v;
        if (sscanf(line, "pil workers=1 %lf", &v) == 1)
            p1 = v;
        if (sscanf(line, "pil workers=2 %lf", &v) == 1)
            p2 = v;
        if (sscanf(line, "pil cpu %lf", &v) == 1)
            pc = v;
    }
    if (p)
        pclose(p);
    printf("  medfm  workers=1: %8.1f images/s   PIL/numpy: %8.1f images/s   ratio %.2fx\n", c1, p1, p1 > 0 ? c1 / p1 : 0);
    printf("  medfm  workers=2: %8.1f images/s   PIL/numpy: %8.1f images/s   ratio %.2fx\n", c2, p2, p2 > 0 ? c2 / p2 : 0);
    printf("  per CPU-second (1 worker): medfm %.1f   PIL/numpy %.1f images   ratio %.2fx\n", cc1, pc,
           pc > 0 ? cc1 / pc : 0);
    (void)cc2;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
