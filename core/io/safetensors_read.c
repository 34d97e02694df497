/* safetensors reading: the file is memory-mapped, the JSON header parsed
 * with cJSON and every entry validated before any tensor is handed out. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/io/safetensors_format.h"
#include "medfm/io.h"

typedef struct {
    char *name;
    mf_dtype dtype;
    int ndim;
    int64_t shape[MF_MAX_DIMS];
    uint64_t begin, end; /* within the data section */
} st_entry;

struct mf_safetensors {
    char *path;
    void *map;
    size_t size;
    const unsigned char *data; /* start of the data section */
    uint64_t data_size;
    int n;
    st_entry *entries;
    int n_meta;
    char **meta; /* key, value pairs */
};

static mf_status fail(mf_safetensors *f, mf_status st) {
    mf_safetensors_close(f);
    return st;
}

static mf_status parse_entry(mf_safetensors *f, const cJSON *item, st_entry *e) {
    const char *path = f->path;
    if (!cJSON_IsObject(item))
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' is not a JSON object", path, item->string);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of))
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' needs string 'dtype', array 'shape' and array 'data_offsets'",
                      path, item->string);
    if (mf_st_dtype_from_name(dt->valuestring, &e->dtype) != MF_OK)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' has unknown dtype '%s'", path, item->string, dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (nd > MF_MAX_DIMS)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' has %d dims (at most %d)", path, item->string, nd, MF_MAX_DIMS);
    e->ndim = nd;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        const cJSON *d = cJSON_GetArrayItem(sh, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble != (double)(int64_t)d->valuedouble ||
            d->valuedouble > 9.0e15)
            return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' has an invalid size at shape[%d]", path, item->string, i);
        e->shape[i] = (int64_t)d->valuedouble;
        if (e->shape[i] && numel > UINT64_MAX / 16 / (uint64_t)e->shape[i])
            return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' has too many elements", path, item->string);
        numel *= (uint64_t)e->shape[i];
    }
    if (cJSON_GetArraySize(of) != 2)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': data_offsets must be [begin, end]", path, item->string);
    const cJSON *b = cJSON_GetArrayItem(of, 0), *en = cJSON_GetArrayItem(of, 1);
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(en) || b->valuedouble < 0 || en->valuedouble < 0 ||
        b->valuedouble > 1.8e19 || en->valuedouble > 1.8e19)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': data_offsets are not non-negative integers", path,
                      item->string);
    e->begin = (uint64_t)b->valuedouble;
    e->end = (uint64_t)en->valuedouble;
    if (e->begin > e->end)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': data_offsets begin %llu > end %llu", path, item->string,
                      (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > f->data_size)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': data ends at byte %llu, past the end of the data (%llu bytes)",
                      path, item->string, (unsigned long long)e->end, (unsigned long long)f->data_size);
    uint64_t want = numel * mf_dtype_size(e->dtype);
    if (e->end - e->begin != want)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': %llu bytes stored but dtype %s and shape %s need %llu", path,
                      item->string, (unsigned long long)(e->end - e->begin), mf_st_dtype_name(e->dtype),
                      mf_shape_str(e->ndim, e->shape), (unsigned long long)want);
    e->name = strdup(item->string);
    if (!e->name)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    return MF_OK;
}

static mf_status parse_meta(mf_safetensors *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return MF_ERR(MF_ERR_FORMAT, "%s: __metadata__ must be an object of strings", f->path);
    int n = cJSON_GetArraySize(meta);
    f->meta = calloc((size_t)(2 * n + 1), sizeof *f->meta);
    if (!f->meta)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", f->path);
    const cJSON *it;
    cJSON_ArrayForEach(it, meta) {
        if (!cJSON_IsString(it))
            return MF_ERR(MF_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", f->path, it->string);
        f->meta[2 * f->n_meta] = strdup(it->string);
        f->meta[2 * f->n_meta + 1] = strdup(it->valuestring);
        f->n_meta++;
    }
    return MF_OK;
}

static int entry_cmp(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

mf_status mf_safetensors_open(const char *path, mf_safetensors **out) {
    mf_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(f, MF_ERR(errno == ENOENT ? MF_ERR_NOT_FOUND : MF_ERR_IO, "%s: cannot open: %s", path,
                              strerror(errno)));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(f, MF_ERR(MF_ERR_IO, "%s: not a regular file", path));
    }
    f->size = (size_t)sb.st_size;
    if (f->size < 8) {
        close(fd);
        return fail(f, MF_ERR(MF_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file (needs an 8-byte "
                                             "header length)", path, f->size));
    }
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return fail(f, MF_ERR(MF_ERR_IO, "%s: cannot map: %s", path, strerror(errno)));
    }
    const unsigned char *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > f->size - 8 || hlen > (100u << 20))
        return fail(f, MF_ERR(MF_ERR_FORMAT, "%s: header length %llu does not fit in the file (%zu bytes)", path,
                              (unsigned long long)hlen, f->size));
    f->data = p + 8 + hlen;
    f->data_size = f->size - 8 - hlen;
    cJSON *root = cJSON_ParseWithLength((const char *)p + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(f, MF_ERR(MF_ERR_FORMAT, "%s: header is not a valid JSON object", path));
    }
    int total = cJSON_GetArraySize(root);
    f->entries = calloc((size_t)(total > 0 ? total : 1), sizeof *f->entries);
    mf_status st = f->entries ? MF_OK : MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (st != MF_OK)
            break;
        if (strcmp(it->string, "__metadata__") == 0) {
            st = parse_meta(f, it);
            continue;
        }
        for (int i = 0; i < f->n && st == MF_OK; i++)
            if (strcmp(f->entries[i].name, it->string) == 0)
                st = MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' appears twice", path, it->string);
        if (st == MF_OK)
            st = parse_entry(f, it, &f->entries[f->n]);
        if (st == MF_OK)
            f->n++;
    }
    cJSON_Delete(root);
    if (st != MF_OK)
        return fail(f, st);
    /* Entries must not overlap. */
    st_entry *sorted = malloc(sizeof *sorted * (size_t)(f->n ? f->n : 1));
    if (!sorted)
        return fail(f, MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path));
    memcpy(sorted, f->entries, sizeof *sorted * (size_t)f->n);
    qsort(sorted, (size_t)f->n, sizeof *sorted, entry_cmp);
    for (int i = 1; i < f->n; i++)
        if (sorted[i].begin < sorted[i - 1].end && sorted[i].begin != sorted[i].end) {
            st = MF_ERR(MF_ERR_FORMAT, "%s: entries '%s' and '%s' overlap", path, sorted[i - 1].name, sorted[i].name);
            break;
        }
    free(sorted);
    if (st != MF_OK)
        return fail(f, st);
    *out = f;
    return MF_OK;
}

void mf_safetensors_close(mf_safetensors *f) {
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        free(f->entries[i].name);
    free(f->entries);
    for (int i = 0; i < 2 * f->n_meta; i++)
        free(f->meta[i]);
    free(f->meta);
    if (f->map)
        munmap(f->map, f->size);
    free(f->path);
    free(f);
}

int mf_safetensors_count(const mf_safetensors *f) { return f->n; }

const char *mf_safetensors_name(const mf_safetensors *f, int i) {
    return i >= 0 && i < f->n ? f->entries[i].name : NULL;
}

const char *mf_safetensors_metadata(const mf_safetensors *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    return NULL;
}

mf_status mf_safetensors_get(const mf_safetensors *f, const char *name, mf_tensor **out) {
    for (int i = 0; i < f->n; i++) {
        const st_entry *e = &f->entries[i];
        if (strcmp(e->name, name) != 0)
            continue;
        /* Files are little-endian, like every host medfm runs on. */
        return mf_tensor_from_data(e->ndim, e->shape, e->dtype, f->data + e->begin, out);
    }
    return MF_ERR(MF_ERR_NOT_FOUND, "%s: no tensor named '%s'", f->path, name);
}
