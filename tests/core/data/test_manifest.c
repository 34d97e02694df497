/* Manifests and file sources: CSV with quotes, JSONL, Med3DInsight
 * columns, and every malformed line reported as file:line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/testing.h"

static mf_status parse(const char *text, const char *name, mf_manifest *m) {
    return mf_manifest_parse(text, strlen(text), name, m);
}

Test(manifest, csv_with_quotes_commas_and_newlines_in_fields) {
    mf_manifest m;
    MF_OK_OR_FAIL(parse("image,class,split,text\n"
                        "a.png,cat,train,\"a \"\"quoted\"\", text\"\r\n"
                        "\"b,c.png\",dog,val,\"two\nlines\"\n"
                        "\n"
                        "d.png,cat,train,\n",
                        "m.csv", &m));
    cr_assert_eq(m.n, 3);
    cr_assert_str_eq(m.rows[0].text, "a \"quoted\", text");
    cr_assert_str_eq(m.rows[1].image, "b,c.png");
    cr_assert_str_eq(m.rows[1].text, "two\nlines");
    cr_assert_eq(m.rows[2].line, 6);
    cr_assert_eq(m.n_classes, 2);
    cr_assert_eq(m.rows[0].cls, 0); /* cat < dog */
    cr_assert_eq(m.rows[1].cls, 1);
    cr_assert_null(m.rows[2].text);
    mf_manifest_free(&m);
}

Test(manifest, integer_labels_are_classes_and_paths_are_label_maps) {
    mf_manifest m;
    MF_OK_OR_FAIL(parse("image,label\nx.png,3\ny.png,masks/y.png\n", "m.csv", &m));
    cr_assert_eq(m.rows[0].cls, 3);
    cr_assert_null(m.rows[0].mask);
    cr_assert_str_eq(m.rows[1].mask, "masks/y.png");
    mf_manifest_free(&m);
}

Test(manifest, jsonl_with_med3dinsight_columns) {
    mf_manifest m;
    MF_OK_OR_FAIL(parse("{\"volume\": \"v1.nii.gz\", \"plane\": \"coronal\", \"slice\": 40, \"text\": \"liver\", "
                        "\"text_embedding\": [0.5, -1, 2]}\n\n"
                        "{\"volume\": \"v2.nii.gz\", \"slice_image\": \"s.png\", \"split\": \"val\"}\n",
                        "m.jsonl", &m));
    cr_assert_eq(m.n, 2);
    cr_assert_eq(m.rows[0].plane, MF_PLANE_CORONAL);
    cr_assert_eq(m.rows[0].slice, 40);
    cr_assert_eq(m.rows[0].embedding_len, 3);
    cr_assert_float_eq(m.rows[0].embedding[1], -1, 0);
    cr_assert_eq(m.rows[1].line, 3);
    mf_manifest_free(&m);
}

static void expect_error(const char *text, const char *name, const char *where, const char *what) {
    mf_manifest m;
    mf_status st = parse(text, name, &m);
    cr_assert_neq(st, MF_OK, "'%s' should fail", text);
    cr_assert(strstr(mf_last_error(), where), "expected '%s' in: %s", where, mf_last_error());
    cr_assert(strstr(mf_last_error(), what), "expected '%s' in: %s", what, mf_last_error());
}

Test(manifest, malformed_lines_name_the_file_and_line) {
    expect_error("image,class\na.png,1\nb.png\n", "m.csv", "m.csv:3", "1 fields but the header has 2");
    expect_error("image,class\na.png,\"open\n", "m.csv", "m.csv:", "unterminated quoted field");
    expect_error("image,clas\na.png,1\n", "m.csv", "m.csv:1", "did you mean 'class'");
    expect_error("image,slice\na.png,x\n", "m.csv", "m.csv:2", "slice 'x'");
    expect_error("image,plane\na.png,diagonal\n", "m.csv", "m.csv:2", "plane 'diagonal'");
    expect_error("image,class\na.png,\"x\"y\n", "m.csv", "m.csv:2", "after a closing quote");
    expect_error("image,split\n,train\n", "m.csv", "m.csv:2", "no image");
    expect_error("{\"image\": \"a.png\"}\n{\"image\": \"b.png\"\n", "m.jsonl", "m.jsonl:2", "not a JSON object");
    expect_error("{\"image\": \"a.png\", \"slice\": 1.5, \"plane\": \"axial\"}\n", "m.jsonl", "m.jsonl:1", "integer");
    expect_error("{\"image\": [1]}\n", "m.jsonl", "m.jsonl:1", "wrong type");
    /* Found by make fuzz: an integer beyond int64 was cast before the range check (UB). */
    expect_error("{\"image\": \"a.png\", \"slice\": 188888888888888888888888888888888888888}\n", "m.jsonl",
                 "m.jsonl:1", "must be an integer");
    expect_error("{\"image\": \"a.png\", \"slice\": -1e300}\n", "m.jsonl", "m.jsonl:1", "must be an integer");
    expect_error("", "m.csv", "m.csv:1", "empty manifest");
}

Test(manifest, missing_files_are_errors_naming_them) {
    mf_manifest m;
    cr_assert_eq(mf_manifest_read("/nonexistent/m.csv", &m), MF_ERR_IO);
    cr_assert(strstr(mf_last_error(), "/nonexistent/m.csv"));
    char dir[] = "/tmp/medfm_manifest_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/m.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("image,class\nmissing.png,0\n", f);
    fclose(f);
    mf_source *s = NULL;
    MF_OK_OR_FAIL(mf_source_manifest(path, NULL, &s));
    mf_sample smp;
    cr_assert_neq(mf_source_get(s, 0, NULL, &smp), MF_OK);
    cr_assert(strstr(mf_last_error(), "m.csv:2") && strstr(mf_last_error(), "missing.png"), "%s", mf_last_error());
    mf_source_release(s);
    unlink(path);
    rmdir(dir);
}

/* writes phantom PNGs into dir/<sub>/ */
static void write_pngs(const char *dir, const char *sub, int n, bool masks) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    mkdir(p, 0755);
    mf_phantom_opts o;
    mf_phantom_defaults(&o, 2);
    o.size = 16;
    for (int i = 0; i < n; i++) {
        mf_tensor *img, *mask;
        MF_OK_OR_FAIL(mf_phantom(&o, 1, i, &img, &mask, NULL));
        snprintf(p, sizeof p, "%s/%s/img%d.png", dir, sub, i);
        MF_OK_OR_FAIL(mf_image_write_png(p, masks ? mask : img));
        mf_tensor_release(img);
        mf_tensor_release(mask);
    }
}

Test(manifest, folders_of_classes_and_of_images_with_masks) {
    char dir[] = "/tmp/medfm_folders_XXXXXX";
    cr_assert(mkdtemp(dir));
    write_pngs(dir, "b_class", 2, false);
    write_pngs(dir, "a_class", 3, false);
    mf_source *s = NULL;
    MF_OK_OR_FAIL(mf_source_image_folder(dir, &s));
    cr_assert_eq(s->count, 5);
    cr_assert_eq(s->num_classes, 2);
    mf_sample smp;
    MF_OK_OR_FAIL(mf_source_get(s, 4, NULL, &smp));
    cr_assert_eq(smp.label, 1);
    cr_assert_eq(smp.image->shape[1], 16);
    mf_sample_clear(&smp);
    mf_source_release(s);
    /* seg folder: images/ and masks/ */
    char seg[600];
    snprintf(seg, sizeof seg, "%s/seg", dir);
    mkdir(seg, 0755);
    write_pngs(seg, "images", 2, false);
    write_pngs(seg, "masks", 2, true);
    MF_OK_OR_FAIL(mf_source_seg_folder(seg, &s));
    MF_OK_OR_FAIL(mf_source_get(s, 1, NULL, &smp));
    cr_assert_eq(smp.mask->ndim, 2);
    cr_assert_gt(mf_tensor_get_flat(smp.mask, 8 * 16 + 8), 0);
    mf_sample_clear(&smp);
    mf_source_release(s);
    char p[700];
    snprintf(p, sizeof p, "%s/masks/img1.png", seg);
    unlink(p);
    cr_assert_eq(mf_source_seg_folder(seg, &s), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "img1.png: no mask"), "%s", mf_last_error());
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

Test(manifest, med3dinsight_rows_give_volume_slice_plane_and_text_embedding) {
    char dir[] = "/tmp/medfm_m3d_XXXXXX", p[256], m[256];
    cr_assert(mkdtemp(dir));
    double vals[4 * 5 * 6];
    for (int i = 0; i < 120; i++)
        vals[i] = i;
    mf_tensor *v = t_from(3, (int64_t[]){4, 5, 6}, MF_F32, vals);
    double aff[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
    snprintf(p, sizeof p, "%s/v.nii.gz", dir);
    MF_OK_OR_FAIL(mf_nifti_write(p, v, aff));
    snprintf(m, sizeof m, "%s/m.jsonl", dir);
    write_text(m, "{\"volume\": \"v.nii.gz\", \"plane\": \"axial\", \"slice\": 2, \"text\": \"a\", \"text_embedding\": [1, 2]}\n"
                  "{\"volume\": \"v.nii.gz\", \"plane\": \"axial\", \"slice\": 3, \"text\": \"b\", \"text_embedding\": [3, 4]}\n");
    char yaml[512];
    snprintf(yaml, sizeof yaml, "d: {source: {type: manifest, path: %s}, batch_size: 2, shuffle: false, workers: 0}\n", m);
    mf_cfg *c = NULL;
    MF_OK_OR_FAIL(mf_cfg_parse_string(yaml, "m3d.yaml", &c));
    mf_loader *l = NULL;
    MF_OK_OR_FAIL(mf_loader_from_cfg(mf_cfg_find(c, "d"), 0, &l));
    mf_batch b = {0};
    bool done;
    MF_OK_OR_FAIL(mf_loader_next(l, &b, &done));
    mf_tensor *img = mf_batch_get(&b, "image"), *sl = mf_batch_get(&b, "slice_image"), *te = mf_batch_get(&b, "text_embedding");
    cr_assert(img && img->ndim == 5 && img->shape[2] == 4);
    cr_assert(sl && sl->shape[0] == 2 && sl->shape[2] == 5 && sl->shape[3] == 6);
    /* slice 2 of the axial plane starts at voxel (2, 0, 0) = 60 */
    cr_assert_float_eq(mf_tensor_get_flat(sl, 0), 60, 1e-6);
    cr_assert_float_eq(mf_tensor_get_flat(te, 3), 4, 0);
    cr_assert_eq(mf_tensor_get_flat(mf_batch_get(&b, "slice"), 1), 3);
    cr_assert(strstr(b.sample_ids[0], "v.nii.gz@axial:2"));
    mf_batch_clear(&b);
    mf_loader_free(l);
    mf_cfg_free(c);
    /* a truncated volume and a mask of the wrong size name their line */
    snprintf(p, sizeof p, "%s/bad.nii.gz", dir);
    write_text(p, "\x1f\x8b garbage");
    write_text(m, "{\"volume\": \"v.nii.gz\"}\n{\"volume\": \"bad.nii.gz\"}\n");
    mf_source *s = NULL;
    MF_OK_OR_FAIL(mf_source_manifest(m, NULL, &s));
    mf_sample smp;
    cr_assert_neq(mf_source_get(s, 1, NULL, &smp), MF_OK);
    cr_assert(strstr(mf_last_error(), "m.jsonl:2") && strstr(mf_last_error(), "bad.nii.gz"), "%s", mf_last_error());
    mf_source_release(s);
    mf_tensor *small = t_from(3, (int64_t[]){2, 2, 2}, MF_U8, (double[]){0, 1, 0, 1, 0, 1, 0, 1});
    snprintf(p, sizeof p, "%s/small.nii.gz", dir);
    MF_OK_OR_FAIL(mf_nifti_write(p, small, aff));
    write_text(m, "{\"image\": \"v.nii.gz\", \"label\": \"small.nii.gz\"}\n");
    MF_OK_OR_FAIL(mf_source_manifest(m, NULL, &s));
    cr_assert_eq(s->dims, 3);
    cr_assert_eq(mf_source_get(s, 0, NULL, &smp), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "m.jsonl:1") && strstr(mf_last_error(), "does not match"), "%s", mf_last_error());
    mf_source_release(s);
    mf_tensor_release(small);
    mf_tensor_release(v);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
