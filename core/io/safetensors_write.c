/* safetensors writing. The file is built in a temporary file beside the
 * target, fsync'd and renamed over it, and the directory fsync'd, so a
 * crash leaves either the old file or the complete new one. Data is laid
 * out by decreasing element size, so every tensor starts aligned for its
 * dtype and the reader can hand out zero-copy views. */
#define _GNU_SOURCE /* mkostemp */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/io/safetensors_format.h"
#include "medfm/io.h"

static mf_status write_all(int fd, const void *buf, size_t n, const char *path) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return MF_ERR(MF_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return MF_OK;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

static mf_status check_args(const char *path, int n, const char *const *names, mf_tensor *const *tensors,
                            int n_meta, const char *const *meta_kv) {
    if (!path || n < 0 || (n > 0 && (!names || !tensors)) || n_meta < 0 || (n_meta > 0 && !meta_kv))
        return MF_ERR(MF_ERR_INVALID, "safetensors save %s: bad arguments (n = %d, n_meta = %d)",
                      path ? path : "(null path)", n, n_meta);
    for (int i = 0; i < n; i++) {
        if (!names[i] || !tensors[i])
            return MF_ERR(MF_ERR_INVALID, "%s: tensor %d has no %s", path, i, names[i] ? "tensor" : "name");
        if (strcmp(names[i], "__metadata__") == 0)
            return MF_ERR(MF_ERR_INVALID, "%s: '__metadata__' is reserved and cannot name a tensor", path);
    }
    for (int i = 0; i < n_meta; i++)
        if (!meta_kv[2 * i] || !meta_kv[2 * i + 1])
            return MF_ERR(MF_ERR_INVALID, "%s: metadata pair %d has a NULL key or value", path, i);
    /* Duplicate names: sort pointers to the names. */
    const char *const **sorted = malloc(sizeof *sorted * (size_t)(n ? n : 1));
    if (!sorted)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        sorted[i] = &names[i];
    qsort(sorted, (size_t)n, sizeof *sorted, name_cmp);
    mf_status st = MF_OK;
    for (int i = 1; i < n && st == MF_OK; i++)
        if (strcmp(*sorted[i], *sorted[i - 1]) == 0)
            st = MF_ERR(MF_ERR_INVALID, "%s: tensor name '%s' given twice", path, *sorted[i]);
    free(sorted);
    return st;
}

/* order[k] = index of the k-th tensor in the data section: by decreasing
 * element size, stable. offsets[i] = start of tensor i. */
static void layout(int n, mf_tensor *const *tensors, int *order, uint64_t *offsets) {
    int k = 0;
    for (size_t es = 8; es >= 1; es /= 2)
        for (int i = 0; i < n; i++)
            if (mf_dtype_size(tensors[i]->dtype) == es)
                order[k++] = i;
    uint64_t off = 0;
    for (k = 0; k < n; k++) {
        offsets[order[k]] = off;
        off += mf_tensor_nbytes(tensors[order[k]]);
    }
}

static mf_status build_header(int n, const char *const *names, mf_tensor *const *tensors, const uint64_t *offsets,
                              int n_meta, const char *const *meta_kv, const char *path, char **out) {
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (int i = 0; ok && i < n_meta; i++)
            ok = cJSON_AddStringToObject(m, meta_kv[2 * i], meta_kv[2 * i + 1]) != NULL;
    }
    for (int i = 0; ok && i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, names[i]);
        cJSON *sh = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *of = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        ok = e && sh && of && cJSON_AddStringToObject(e, "dtype", mf_st_dtype_name(tensors[i]->dtype));
        for (int d = 0; ok && d < tensors[i]->ndim; d++)
            ok = cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)tensors[i]->shape[d]));
        uint64_t nb = mf_tensor_nbytes(tensors[i]);
        ok = ok && cJSON_AddItemToArray(of, cJSON_CreateNumber((double)offsets[i])) &&
             cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(offsets[i] + nb)));
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!s)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory building the header", path);
    *out = s;
    return MF_OK;
}

static mf_status write_tensor(int fd, const mf_tensor *t, const char *name, const char *tmp) {
    size_t nb = mf_tensor_nbytes(t);
    if (nb == 0)
        return MF_OK;
    if (t->storage->device.type == MF_CPU && mf_tensor_is_contiguous(t))
        return write_all(fd, mf_tensor_data(t), nb, tmp);
    void *buf = malloc(nb);
    if (!buf)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory staging '%s' (%zu bytes)", tmp, name, nb);
    mf_status st = mf_tensor_to_host(t, t->dtype, buf, nb);
    if (st == MF_OK)
        st = write_all(fd, buf, nb, tmp);
    free(buf);
    return st;
}

static mf_status write_body(int fd, const char *tmp, const char *header, int n, const char *const *names,
                            mf_tensor *const *tensors, const int *order) {
    size_t hlen = strlen(header), padded = (hlen + 7) & ~(size_t)7;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    MF_TRY(write_all(fd, len8, 8, tmp));
    MF_TRY(write_all(fd, header, hlen, tmp));
    MF_TRY(write_all(fd, "        ", padded - hlen, tmp));
    for (int k = 0; k < n; k++)
        MF_TRY(write_tensor(fd, tensors[order[k]], names[order[k]], tmp));
    if (fsync(fd) != 0)
        return MF_ERR(MF_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    return MF_OK;
}

mf_status mf_safetensors_save(const char *path, int n, const char *const *names, mf_tensor *const *tensors,
                              int n_meta, const char *const *meta_kv) {
    MF_TRY(check_args(path, n, names, tensors, n_meta, meta_kv));
    int *order = malloc(sizeof *order * (size_t)(n ? n : 1));
    uint64_t *offsets = malloc(sizeof *offsets * (size_t)(n ? n : 1));
    char *header = NULL, *tmp = NULL;
    int fd = -1;
    mf_status st = MF_OK;
    if (!order || !offsets) {
        st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    layout(n, tensors, order, offsets);
    MF_CHECK(build_header(n, names, tensors, offsets, n_meta, meta_kv, path, &header));
    size_t tlen = strlen(path) + 16;
    if (!(tmp = malloc(tlen))) {
        st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    /* Unique name in the target's directory, so rename() is atomic and
     * concurrent saves never share a temp file. */
    snprintf(tmp, tlen, "%s.tmp.XXXXXX", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        st = MF_ERR(MF_ERR_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        goto cleanup;
    }
    fchmod(fd, 0644);
    st = write_body(fd, tmp, header, n, names, tensors, order);
    if (close(fd) != 0 && st == MF_OK)
        st = MF_ERR(MF_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    fd = -1;
    if (st == MF_OK && rename(tmp, path) != 0)
        st = MF_ERR(MF_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st != MF_OK) {
        unlink(tmp);
        goto cleanup;
    }
    /* Make the rename itself durable. */
    char *dir = strdup(path);
    int dfd = dir ? open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL)
            st = MF_ERR(MF_ERR_IO, "%s: fsync of the directory failed: %s", path, strerror(errno));
        close(dfd);
    }
    free(dir);
cleanup:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(order);
    free(offsets);
    free(header);
    free(tmp);
    return st;
}
