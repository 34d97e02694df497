/* The loader: identical batches whatever the worker count, per-epoch
 * shuffles, drop_last, weighted and balanced sampling, multi-view batches
 * with coordinates, bad samples reported or skipped, config sections. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/testing.h"

static const char *CFG = "data:\n"
                         "  train:\n"
                         "    source: {type: phantom2d, size: 32, count: 40, num_classes: 3}\n"
                         "    views:\n"
                         "      - count: 2\n"
                         "        transforms:\n"
                         "          - {name: random_resized_crop, size: 24, scale: [0.4, 1.0]}\n"
                         "          - {name: hflip}\n"
                         "          - {name: color_jitter}\n"
                         "          - {name: normalize, mean: [0.5], std: [0.25]}\n"
                         "      - count: 1\n"
                         "        transforms: [{name: random_resized_crop, size: 12, scale: [0.05, 0.4]}]\n"
                         "    batch_size: 8\n"
                         "    workers: %d\n";

static mf_loader *from_yaml(const char *text, const char *section) {
    mf_cfg *c = NULL;
    MF_OK_OR_FAIL(mf_cfg_parse_string(text, "loader.yaml", &c));
    mf_loader *l = NULL;
    MF_OK_OR_FAIL(mf_loader_from_cfg(mf_cfg_find(c, section), 11, &l));
    mf_cfg_free(c);
    return l;
}

static mf_loader *loader_with_workers(int w) {
    char buf[2048];
    snprintf(buf, sizeof buf, CFG, w);
    return from_yaml(buf, "data.train");
}

static void same_batch(const mf_batch *a, const mf_batch *b) {
    cr_assert_eq(a->n, b->n);
    cr_assert_eq(a->size, b->size);
    for (int i = 0; i < a->n; i++) {
        mf_tensor *t = mf_batch_get(b, a->names[i]);
        cr_assert_not_null(t, "%s missing", a->names[i]);
        cr_assert_eq(mf_tensor_nbytes(t), mf_tensor_nbytes(a->tensors[i]));
        cr_assert_eq(memcmp(mf_tensor_data(t), mf_tensor_data(a->tensors[i]), mf_tensor_nbytes(t)), 0, "%s differs",
                     a->names[i]);
    }
    for (int64_t i = 0; i < a->size; i++)
        cr_assert_str_eq(a->sample_ids[i], b->sample_ids[i]);
}

Test(loader, batches_are_identical_with_0_1_and_3_workers) {
    mf_loader *l[3] = {loader_with_workers(0), loader_with_workers(1), loader_with_workers(3)};
    for (int epoch = 0; epoch < 2; epoch++) {
        for (int k = 0; k < 3; k++)
            MF_OK_OR_FAIL(mf_loader_start_epoch(l[k], epoch));
        int n = 0;
        for (;;) {
            mf_batch b[3] = {0};
            bool done[3];
            for (int k = 0; k < 3; k++)
                MF_OK_OR_FAIL(mf_loader_next(l[k], &b[k], &done[k]));
            cr_assert(done[0] == done[1] && done[1] == done[2]);
            if (done[0])
                break;
            same_batch(&b[0], &b[1]);
            same_batch(&b[0], &b[2]);
            for (int k = 0; k < 3; k++)
                mf_batch_clear(&b[k]);
            n++;
        }
        cr_assert_eq(n, 5);
    }
    for (int k = 0; k < 3; k++)
        mf_loader_free(l[k]);
}

Test(loader, multi_view_batches_carry_views_coords_labels_and_ids) {
    mf_loader *l = loader_with_workers(2);
    mf_batch b = {0};
    bool done;
    MF_OK_OR_FAIL(mf_loader_next(l, &b, &done));
    mf_tensor *v0 = mf_batch_get(&b, "view0"), *v2 = mf_batch_get(&b, "view2"), *c1 = mf_batch_get(&b, "coords1");
    cr_assert(v0 && v2 && c1);
    cr_assert(v0->shape[0] == 8 && v0->shape[1] == 1 && v0->shape[2] == 24);
    cr_assert_eq(v2->shape[2], 12);
    cr_assert(c1->dtype == MF_F64 && c1->shape[1] == 2 && c1->shape[2] == 3);
    cr_assert_not_null(mf_batch_get(&b, "mask0"));
    mf_tensor *lab = mf_batch_get(&b, "label");
    cr_assert(lab && lab->dtype == MF_I64 && lab->shape[0] == 8);
    cr_assert(strstr(b.sample_ids[0], "phantom2d-"));
    /* the two views relate through their coords */
    mf_tensor *near = NULL;
    MF_OK_OR_FAIL(mf_view_nearest_batch(mf_batch_get(&b, "coords0"), 24, 24, c1, 24, 24, 8, &near));
    cr_assert(near->shape[0] == 8 && near->shape[1] == 9);
    mf_tensor_release(near);
    mf_batch_clear(&b);
    mf_loader_free(l);
}

Test(loader, every_epoch_is_a_new_permutation_and_drop_last_drops) {
    mf_phantom_opts o;
    mf_phantom_defaults(&o, 2);
    o.size = 8;
    mf_source *s;
    MF_OK_OR_FAIL(mf_source_phantom(&o, 0, 50, &s));
    mf_loader_opts lo;
    mf_loader_defaults(&lo);
    lo.batch_size = 8;
    lo.drop_last = true;
    lo.workers = 1;
    mf_loader *l;
    MF_OK_OR_FAIL(mf_loader_new(s, NULL, 0, NULL, &lo, &l));
    cr_assert_eq(mf_loader_num_batches(l), 6);
    char first[2][64];
    for (int e = 0; e < 2; e++) {
        MF_OK_OR_FAIL(mf_loader_start_epoch(l, e));
        int seen[50] = {0}, n = 0;
        mf_batch b = {0};
        bool done;
        for (;;) {
            MF_OK_OR_FAIL(mf_loader_next(l, &b, &done));
            if (done)
                break;
            if (n == 0)
                snprintf(first[e], 64, "%s", b.sample_ids[0]);
            for (int64_t i = 0; i < b.size; i++)
                seen[atoi(strrchr(b.sample_ids[i], '-') + 1)]++;
            n += (int)b.size;
        }
        cr_assert_eq(n, 48);
        for (int i = 0; i < 50; i++)
            cr_assert(seen[i] <= 1);
    }
    cr_assert_str_neq(first[0], first[1]);
    mf_loader_free(l);
}

Test(loader, balanced_sampling_evens_out_skewed_classes) {
    mf_phantom_opts o;
    mf_phantom_defaults(&o, 2);
    o.size = 8;
    o.num_classes = 2;
    mf_source *s;
    MF_OK_OR_FAIL(mf_source_phantom(&o, 3, 200, &s));
    /* weighted first: only samples 0..9 can appear */
    double *w = calloc(200, sizeof(double));
    for (int i = 0; i < 10; i++)
        w[i] = 1;
    mf_loader_opts lo;
    mf_loader_defaults(&lo);
    lo.batch_size = 50;
    lo.sampling = MF_SAMPLE_WEIGHTED;
    lo.weights = w;
    mf_loader *l;
    MF_OK_OR_FAIL(mf_loader_new(s, NULL, 0, NULL, &lo, &l));
    mf_batch b = {0};
    bool done;
    MF_OK_OR_FAIL(mf_loader_next(l, &b, &done));
    for (int64_t i = 0; i < b.size; i++)
        cr_assert_lt(atoi(strrchr(b.sample_ids[i], '-') + 1), 10);
    mf_batch_clear(&b);
    mf_loader_free(l);
    free(w);
    /* balanced: a source with a 1:3 class skew gives about 1:1 */
    MF_OK_OR_FAIL(mf_source_phantom(&o, 3, 200, &s));
    int64_t c0 = 0;
    for (int i = 0; i < 200; i++)
        c0 += s->label_of(s, i) == 0;
    mf_loader_defaults(&lo);
    lo.batch_size = 400;
    lo.samples_per_epoch = 400;
    lo.sampling = MF_SAMPLE_BALANCED;
    MF_OK_OR_FAIL(mf_loader_new(s, NULL, 0, NULL, &lo, &l));
    MF_OK_OR_FAIL(mf_loader_next(l, &b, &done));
    mf_tensor *lab = mf_batch_get(&b, "label");
    int64_t k0 = 0;
    for (int i = 0; i < 400; i++)
        k0 += mf_tensor_get_flat(lab, i) == 0;
    cr_assert(k0 > 150 && k0 < 250, "class 0: %lld of 400 (source share %lld/200)", (long long)k0, (long long)c0);
    mf_batch_clear(&b);
    mf_loader_free(l);
}

Test(loader, a_bad_sample_names_its_file_or_is_skipped_and_counted) {
    char dir[] = "/tmp/medfm_loader_XXXXXX";
    cr_assert(mkdtemp(dir));
    char p[256], yaml[1024];
    mf_phantom_opts o;
    mf_phantom_defaults(&o, 2);
    o.size = 16;
    for (int i = 0; i < 3; i++) {
        mf_tensor *img;
        MF_OK_OR_FAIL(mf_phantom(&o, 0, i, &img, NULL, NULL));
        snprintf(p, sizeof p, "%s/ok%d.png", dir, i);
        MF_OK_OR_FAIL(mf_image_write_png(p, img));
        mf_tensor_release(img);
    }
    snprintf(p, sizeof p, "%s/broken.png", dir);
    FILE *f = fopen(p, "wb");
    fwrite("\x89PNG\r\n\x1a\n\0\0", 1, 10, f); /* truncated */
    fclose(f);
    snprintf(p, sizeof p, "%s/m.csv", dir);
    f = fopen(p, "w");
    fputs("image,class\nok0.png,0\nbroken.png,1\nok1.png,0\nok2.png,1\n", f);
    fclose(f);
    for (int skip = 0; skip < 2; skip++) {
        snprintf(yaml, sizeof yaml,
                 "d: {source: {type: manifest, path: %s}, batch_size: 4, shuffle: false, workers: 1, skip_bad: %s}\n", p,
                 skip ? "true" : "false");
        mf_loader *l = from_yaml(yaml, "d");
        mf_batch b = {0};
        bool done;
        mf_status st = mf_loader_next(l, &b, &done);
        if (!skip) {
            cr_assert_neq(st, MF_OK);
            cr_assert(strstr(mf_last_error(), "m.csv:3") && strstr(mf_last_error(), "broken.png"), "%s",
                      mf_last_error());
        } else {
            MF_OK_OR_FAIL(st);
            cr_assert_eq(b.size, 3);
            cr_assert_eq(mf_loader_bad_samples(l), 1);
        }
        mf_batch_clear(&b);
        mf_loader_free(l);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(loader, config_errors_name_file_and_line) {
    const char *bad[][2] = {
        {"d: {source: {type: phantom2d, sise: 32}}\n", "'sise'"},
        {"d: {source: {type: phantom2x}}\n", "phantom2d"},
        {"d: {source: {type: phantom2d}, batch_size: 0}\n", "batch_size"},
        {"d: {source: {type: phantom2d}, workerz: 2}\n", "workers"},
        {"d: {source: {type: phantom2d}, transforms: [{name: resize}]}\n", "size"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mf_cfg *c = NULL;
        MF_OK_OR_FAIL(mf_cfg_parse_string(bad[i][0], "bad.yaml", &c));
        mf_loader *l = NULL;
        cr_assert_neq(mf_loader_from_cfg(mf_cfg_find(c, "d"), 0, &l), MF_OK, "%s", bad[i][0]);
        cr_assert(strstr(mf_last_error(), "bad.yaml:1"), "%s", mf_last_error());
        cr_assert(strstr(mf_last_error(), bad[i][1]), "want %s in %s", bad[i][1], mf_last_error());
        mf_cfg_free(c);
    }
}

Test(loader, slices_of_3d_phantoms_with_foreground_and_3d_pipelines) {
    mf_loader *l = from_yaml("d:\n"
                             "  source: {type: slices, fg_prob: 1.0, plane: coronal,\n"
                             "           source: {type: phantom3d, size: 16, count: 4}}\n"
                             "  batch_size: 4\n"
                             "  workers: 0\n"
                             "v:\n"
                             "  source: {type: phantom3d, size: 16, count: 4}\n"
                             "  transforms: [{name: random_crop3d, size: 8}, {name: flip3d}, {name: noise3d, p: 1}]\n"
                             "  batch_size: 2\n",
                             "d");
    mf_batch b = {0};
    bool done;
    MF_OK_OR_FAIL(mf_loader_next(l, &b, &done));
    mf_tensor *m = mf_batch_get(&b, "mask"), *plane = mf_batch_get(&b, "plane");
    cr_assert(m && m->ndim == 3 && plane);
    for (int i = 0; i < 4; i++) {
        double fg = 0;
        for (int k = 0; k < 256; k++)
            fg += mf_tensor_get_flat(m, i * 256 + k) > 0;
        cr_assert_gt(fg, 0, "slice %d has no foreground", i);
        cr_assert_eq(mf_tensor_get_flat(plane, i), MF_PLANE_CORONAL);
    }
    mf_batch_clear(&b);
    mf_loader_free(l);
    mf_cfg *c = NULL;
    MF_OK_OR_FAIL(mf_cfg_parse_string("v:\n  source: {type: phantom3d, size: 16, count: 4}\n"
                                      "  transforms: [{name: random_crop3d, size: 8}, {name: flip3d}, {name: noise3d, p: 1}]\n"
                                      "  batch_size: 2\n", "v.yaml", &c));
    MF_OK_OR_FAIL(mf_loader_from_cfg(mf_cfg_find(c, "v"), 1, &l));
    MF_OK_OR_FAIL(mf_loader_next(l, &b, &done));
    mf_tensor *img = mf_batch_get(&b, "image");
    cr_assert(img && img->ndim == 5 && img->shape[2] == 8 && img->dtype == MF_F32);
    cr_assert(mf_batch_get(&b, "coords0")->shape[1] == 3);
    mf_batch_clear(&b);
    mf_loader_free(l);
    mf_cfg_free(c);
}

Test(loader, mask_map_turns_stored_label_values_into_classes) {
    char root[] = "/tmp/mf_maskmap_XXXXXX";
    cr_assert(mkdtemp(root));
    char p[512];
    snprintf(p, sizeof p, "%s/images", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/masks", root);
    mkdir(p, 0755);
    mf_tensor *img = t_uniform(1, 3, (int64_t[]){1, 4, 4}, MF_U8, 0, 255);
    mf_tensor *mask = t_from(2, (int64_t[]){4, 4}, MF_U8,
                             (double[]){0, 0, 255, 255, 0, 128, 255, 255, 0, 0, 0, 0, 128, 128, 0, 0});
    snprintf(p, sizeof p, "%s/images/a.png", root);
    MF_OK_OR_FAIL(mf_image_write_png(p, img));
    snprintf(p, sizeof p, "%s/masks/a.png", root);
    MF_OK_OR_FAIL(mf_image_write_png(p, mask));
    char text[1024];
    snprintf(text, sizeof text,
             "d: {source: {type: seg_folder, root: %s}, batch_size: 1, workers: 0, shuffle: false,\n"
             "    mask_map: {0: 0, 128: 2, 255: 1}}\n",
             root);
    mf_loader *l = from_yaml(text, "d");
    mf_batch b = {0};
    bool done;
    MF_OK_OR_FAIL(mf_loader_next(l, &b, &done));
    mf_tensor *m = mf_batch_get(&b, "mask");
    cr_assert_not_null(m);
    double want[16] = {0, 0, 1, 1, 0, 2, 1, 1, 0, 0, 0, 0, 2, 2, 0, 0};
    for (int i = 0; i < 16; i++)
        cr_assert_eq(mf_tensor_get_flat(m, i), want[i], "element %d", i);
    mf_batch_clear(&b);
    mf_loader_free(l);
    /* A stored value missing from the table is an error naming the file. */
    snprintf(text, sizeof text,
             "d: {source: {type: seg_folder, root: %s}, batch_size: 1, workers: 0, mask_map: {0: 0, 255: 1}}\n", root);
    l = from_yaml(text, "d");
    cr_assert_neq(mf_loader_next(l, &b, &done), MF_OK);
    cr_assert(strstr(mf_last_error(), "a.png") && strstr(mf_last_error(), "128"), "%s", mf_last_error());
    mf_batch_clear(&b);
    mf_loader_free(l);
    mf_tensor_release(img);
    mf_tensor_release(mask);
    snprintf(p, sizeof p, "rm -rf '%s'", root);
    cr_assert_eq(system(p), 0);
}
