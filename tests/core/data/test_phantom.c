/* Synthetic phantoms: deterministic per (seed, index), classes that follow
 * visible structure, label maps with every structure, and fast enough to
 * be the quickstart's data. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "tests/support/testing.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* sanitizer builds run several times slower: timing bounds loosen */
#ifdef __SANITIZE_ADDRESS__
#define SLOW 25.0
#else
#define SLOW 1.0
#endif

static int64_t count_label(const mf_tensor *m, int l) {
    int64_t n = 0;
    const uint8_t *d = mf_tensor_data(m);
    for (int64_t i = 0; i < mf_tensor_numel(m); i++)
        n += d[i] == l;
    return n;
}

Test(phantom, same_seed_and_index_give_the_same_sample) {
    mf_phantom_opts o;
    mf_phantom_defaults(&o, 2);
    mf_tensor *a, *b, *c, *ma, *mb;
    int64_t ca, cb;
    MF_OK_OR_FAIL(mf_phantom(&o, 5, 17, &a, &ma, &ca));
    MF_OK_OR_FAIL(mf_phantom(&o, 5, 17, &b, &mb, &cb));
    MF_OK_OR_FAIL(mf_phantom(&o, 5, 18, &c, NULL, NULL));
    cr_assert_eq(memcmp(mf_tensor_data(a), mf_tensor_data(b), 64 * 64), 0);
    cr_assert_eq(memcmp(mf_tensor_data(ma), mf_tensor_data(mb), 64 * 64), 0);
    cr_assert_eq(ca, cb);
    cr_assert_neq(memcmp(mf_tensor_data(a), mf_tensor_data(c), 64 * 64), 0);
    mf_tensor_release(a), mf_tensor_release(b), mf_tensor_release(c), mf_tensor_release(ma), mf_tensor_release(mb);
}

Test(phantom, classes_count_visible_lesions_and_every_structure_is_labelled) {
    mf_phantom_opts o;
    mf_phantom_defaults(&o, 2);
    o.num_classes = 3;
    int seen[3] = {0};
    for (int i = 0; i < 60; i++) {
        mf_tensor *img, *m;
        int64_t cls;
        MF_OK_OR_FAIL(mf_phantom(&o, 1, i, &img, &m, &cls));
        cr_assert(cls >= 0 && cls < 3);
        seen[cls]++;
        cr_assert_gt(count_label(m, 1), 100, "body");
        cr_assert_gt(count_label(m, 2), 20, "organ 2");
        cr_assert_gt(count_label(m, 3), 20, "organ 3");
        /* lesions are visible exactly when the class says so */
        cr_assert_eq(count_label(m, 4) > 0, cls > 0, "sample %d class %lld", i, (long long)cls);
        /* and their intensity differs from the body around them */
        if (cls > 0) {
            const uint8_t *d = mf_tensor_data(img), *l = mf_tensor_data(m);
            double s4 = 0, s1 = 0;
            int64_t n4 = 0, n1 = 0;
            for (int64_t k = 0; k < 64 * 64; k++) {
                if (l[k] == 4)
                    s4 += d[k], n4++;
                if (l[k] == 1)
                    s1 += d[k], n1++;
            }
            cr_assert_gt(fabs(s4 / n4 - s1 / n1), 40, "lesion contrast");
        }
        mf_tensor_release(img);
        mf_tensor_release(m);
    }
    for (int k = 0; k < 3; k++)
        cr_assert_gt(seen[k], 5, "class %d", k);
}

Test(phantom, generates_64px_2d_in_well_under_a_millisecond_and_3d_volumes) {
    mf_phantom_opts o;
    mf_phantom_defaults(&o, 2);
    double t0 = now();
    for (int i = 0; i < 200; i++) {
        mf_tensor *img, *m;
        MF_OK_OR_FAIL(mf_phantom(&o, 2, i, &img, &m, NULL));
        mf_tensor_release(img);
        mf_tensor_release(m);
    }
    double per2 = (now() - t0) / 200;
    cr_assert_lt(per2, 1e-3 * SLOW, "2-D phantom took %.3f ms", per2 * 1e3);
    mf_phantom_defaults(&o, 3);
    o.size = 64;
    t0 = now();
    for (int i = 0; i < 5; i++) {
        mf_tensor *img, *m;
        MF_OK_OR_FAIL(mf_phantom(&o, 2, i, &img, &m, NULL));
        cr_assert_eq(img->ndim, 4);
        cr_assert_eq(m->shape[0], 64);
        cr_assert_gt(count_label(m, 2), 100);
        mf_tensor_release(img);
        mf_tensor_release(m);
    }
    double per3 = (now() - t0) / 5;
    cr_assert_lt(per3, 50e-3 * SLOW, "3-D phantom took %.1f ms", per3 * 1e3);
}

Test(phantom, bad_options_are_errors) {
    mf_phantom_opts o;
    mf_phantom_defaults(&o, 2);
    o.modality = "xray";
    mf_tensor *img;
    cr_assert_eq(mf_phantom(&o, 0, 0, &img, NULL, NULL), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "xray"));
    mf_phantom_defaults(&o, 2);
    o.size = 2;
    cr_assert_eq(mf_phantom(&o, 0, 0, &img, NULL, NULL), MF_ERR_INVALID);
}
