/* Folder sources: classification folders (root/<class>/<image>, classes
 * sorted by name) and segmentation folders (root/images + root/masks,
 * matched by file stem). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/data/source_files.h"

typedef struct strlist {
    char **s;
    int n, cap;
} strlist;

static void sl_free(strlist *l) {
    for (int i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

static int sl_push(strlist *l, const char *v) {
    if (l->n == l->cap) {
        int c = l->cap ? 2 * l->cap : 16;
        char **s = realloc(l->s, sizeof(char *) * (size_t)c);
        if (!s)
            return -1;
        l->s = s;
        l->cap = c;
    }
    if (!(l->s[l->n] = strdup(v)))
        return -1;
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool is_image_name(const char *n) {
    const char *dot = strrchr(n, '.');
    if (!dot)
        return false;
    return !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
           mf_path_is_nifti(n);
}

/* entries of dir (files or folders), sorted */
static mf_status list_dir(const char *dir, bool want_dirs, strlist *out) {
    DIR *d = opendir(dir);
    if (!d)
        return MF_ERR(MF_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        bool isdir = S_ISDIR(sb.st_mode);
        if (isdir != want_dirs || (!isdir && !is_image_name(e->d_name)))
            continue;
        if (sl_push(out, e->d_name)) {
            closedir(d);
            return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", dir);
        }
    }
    closedir(d);
    qsort(out->s, (size_t)out->n, sizeof(char *), cmp_str);
    return MF_OK;
}

typedef struct folder_ctx {
    strlist images, masks; /* full paths */
    int64_t *labels;
    int dims;
} folder_ctx;

static void folder_destroy(mf_source *s) {
    folder_ctx *c = s->ctx;
    sl_free(&c->images);
    sl_free(&c->masks);
    free(c->labels);
    free(c);
}

static mf_status folder_get(const mf_source *s, int64_t i, mf_rng *rng, mf_sample *out) {
    const folder_ctx *c = s->ctx;
    const char *p = c->images.s[i];
    const char *base = strrchr(p, '/');
    snprintf(out->id, sizeof out->id, "%s", base ? base + 1 : p);
    MF_TRY(mf_load_image_file(p, &out->image));
    if (c->labels)
        out->label = c->labels[i];
    if (c->masks.n) {
        MF_TRY(mf_load_mask_file(c->masks.s[i], &out->mask));
        bool ok = out->mask->ndim == out->image->ndim - 1;
        for (int d = 0; ok && d < out->mask->ndim; d++)
            ok = out->mask->shape[d] == out->image->shape[d + 1];
        if (!ok)
            return MF_ERR(MF_ERR_SHAPE, "%s: mask %s does not match image %s (%s)", c->masks.s[i],
                          MF_SHAPE(out->mask), MF_SHAPE(out->image), p);
    }
    return MF_OK;
}

static int64_t folder_label(const mf_source *s, int64_t i) {
    const folder_ctx *c = s->ctx;
    return c->labels ? c->labels[i] : -1;
}

static mf_status finish(folder_ctx *c, const char *type, int ncls, mf_source **out) {
    mf_source *s = calloc(1, sizeof *s);
    if (!s) {
        mf_source tmp = {.ctx = c};
        folder_destroy(&tmp);
        return MF_ERR(MF_ERR_NOMEM, "%s source: out of memory", type);
    }
    s->type = type;
    s->count = c->images.n;
    s->dims = mf_path_is_nifti(c->images.s[0]) ? 3 : 2;
    s->num_classes = ncls;
    s->get = folder_get;
    s->label_of = folder_label;
    s->destroy = folder_destroy;
    s->ctx = c;
    *out = s;
    return MF_OK;
}

mf_status mf_source_image_folder(const char *root, mf_source **out) {
    strlist classes = {0}, files = {0};
    folder_ctx *c = calloc(1, sizeof *c);
    mf_status st = MF_OK;
    char path[4096];
    if (!c)
        return MF_ERR(MF_ERR_NOMEM, "image folder: out of memory");
    MF_CHECK(list_dir(root, true, &classes));
    if (classes.n == 0)
        MF_CHECK(MF_ERR(MF_ERR_NOT_FOUND, "%s: no class folders (expected root/<class>/<image>)", root));
    int64_t cap = 0;
    for (int k = 0; k < classes.n; k++) {
        snprintf(path, sizeof path, "%s/%s", root, classes.s[k]);
        sl_free(&files);
        MF_CHECK(list_dir(path, false, &files));
        for (int i = 0; i < files.n; i++) {
            char fp[8192];
            snprintf(fp, sizeof fp, "%s/%s", path, files.s[i]);
            if (sl_push(&c->images, fp))
                MF_CHECK(MF_ERR(MF_ERR_NOMEM, "image folder: out of memory"));
            if (c->images.n > cap) {
                cap = 2 * c->images.n;
                int64_t *l = realloc(c->labels, sizeof(int64_t) * (size_t)cap);
                if (!l)
                    MF_CHECK(MF_ERR(MF_ERR_NOMEM, "image folder: out of memory"));
                c->labels = l;
            }
            c->labels[c->images.n - 1] = k;
        }
    }
    if (c->images.n == 0)
        MF_CHECK(MF_ERR(MF_ERR_NOT_FOUND, "%s: class folders hold no .png/.jpg/.nii images", root));
    sl_free(&files);
    int ncls = classes.n;
    sl_free(&classes);
    return finish(c, "image_folder", ncls, out);
cleanup:
    sl_free(&classes);
    sl_free(&files);
    mf_source tmp = {.ctx = c};
    folder_destroy(&tmp);
    return st;
}

static size_t stem_len(const char *n) {
    size_t l = strlen(n);
    if (l > 7 && !strcmp(n + l - 7, ".nii.gz"))
        return l - 7;
    const char *dot = strrchr(n, '.');
    return dot ? (size_t)(dot - n) : l;
}

mf_status mf_source_seg_folder(const char *root, mf_source **out) {
    strlist imgs = {0}, masks = {0};
    folder_ctx *c = calloc(1, sizeof *c);
    mf_status st = MF_OK;
    char dimg[4096], dmask[4096], fp[8192];
    if (!c)
        return MF_ERR(MF_ERR_NOMEM, "seg folder: out of memory");
    snprintf(dimg, sizeof dimg, "%s/images", root);
    snprintf(dmask, sizeof dmask, "%s/masks", root);
    MF_CHECK(list_dir(dimg, false, &imgs));
    MF_CHECK(list_dir(dmask, false, &masks));
    if (imgs.n == 0)
        MF_CHECK(MF_ERR(MF_ERR_NOT_FOUND, "%s: no images", dimg));
    for (int i = 0; i < imgs.n; i++) {
        size_t sl = stem_len(imgs.s[i]);
        int found = -1;
        for (int j = 0; j < masks.n && found < 0; j++)
            if (stem_len(masks.s[j]) == sl && !strncmp(masks.s[j], imgs.s[i], sl))
                found = j;
        if (found < 0)
            MF_CHECK(MF_ERR(MF_ERR_NOT_FOUND, "%s/%s: no mask with the same name in %s", dimg, imgs.s[i], dmask));
        snprintf(fp, sizeof fp, "%s/%s", dimg, imgs.s[i]);
        if (sl_push(&c->images, fp))
            MF_CHECK(MF_ERR(MF_ERR_NOMEM, "seg folder: out of memory"));
        snprintf(fp, sizeof fp, "%s/%s", dmask, masks.s[found]);
        if (sl_push(&c->masks, fp))
            MF_CHECK(MF_ERR(MF_ERR_NOMEM, "seg folder: out of memory"));
    }
    sl_free(&imgs);
    sl_free(&masks);
    return finish(c, "seg_folder", 0, out);
cleanup:
    sl_free(&imgs);
    sl_free(&masks);
    mf_source tmp = {.ctx = c};
    folder_destroy(&tmp);
    return st;
}
