/* State dicts: named destination tensors (parameters, buffers) matched
 * against the keys of a safetensors file. Every mismatch is collected
 * before anything is written, so a failed load leaves the model untouched
 * and its message lists all the problems at once. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/io.h"

/* Growable string for the mismatch lists. */
typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? 2 * b->cap : 256) + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* One list ("missing 2: [a, b]") appended to `b`. */
typedef struct {
    strbuf items;
    int count;
} list;

static void list_add(list *l, const char *fmt, const char *name, const char *x, const char *y) {
    if (l->count++)
        sb_printf(&l->items, ", ");
    sb_printf(&l->items, fmt, name, x, y);
}

static void list_emit(strbuf *b, const char *what, list *l) {
    if (!l->count)
        return;
    sb_printf(b, "%s%d %s: [%s]", b->len ? "; " : "", l->count, what, l->items.s ? l->items.s : "");
}

static bool convertible(mf_dtype from, mf_dtype to) {
    return from == to || (mf_dtype_is_float(from) && mf_dtype_is_float(to));
}

static mf_status check_entries(const char *path, const mf_named_tensor *entries, int n) {
    if (n < 0 || (n > 0 && !entries))
        return MF_ERR(MF_ERR_INVALID, "state dict %s: bad entry list (n = %d)", path, n);
    for (int i = 0; i < n; i++) {
        if (!entries[i].name || !entries[i].tensor)
            return MF_ERR(MF_ERR_INVALID, "state dict %s: entry %d has a NULL %s", path, i,
                          entries[i].name ? "tensor" : "name");
        for (int j = 0; j < i; j++)
            if (strcmp(entries[i].name, entries[j].name) == 0)
                return MF_ERR(MF_ERR_INVALID, "state dict %s: two entries are named '%s'", path, entries[i].name);
    }
    return MF_OK;
}

void mf_state_dict_report_free(mf_state_dict_report *report) {
    if (report) {
        free(report->details);
        report->details = NULL;
    }
}

/* Length of `prefix` when `key` starts with it, else -1. */
static int prefix_len(const char *key, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(key, prefix, n) == 0 ? (int)n : -1;
}

/* When nothing matched: a prefix under which the file holds every entry
 * (a whole model's checkpoint loaded into its encoder: "encoder."), as a
 * hint for the message; false when there is none. */
static bool prefix_holding_all(const mf_safetensors *f, const mf_named_tensor *entries, int n, char *out,
                               size_t cap) {
    if (n < 1)
        return false;
    const char *first = entries[0].name;
    const size_t fl = strlen(first);
    for (int k = 0; k < mf_safetensors_count(f); k++) {
        const char *key = mf_safetensors_name(f, k);
        size_t kl = strlen(key);
        if (kl <= fl || kl - fl >= cap || strcmp(key + kl - fl, first) != 0)
            continue;
        snprintf(out, cap, "%.*s", (int)(kl - fl), key);
        bool all = true;
        char full[1024];
        for (int i = 1; i < n && all; i++) {
            int w = snprintf(full, sizeof full, "%s%s", out, entries[i].name);
            all = w > 0 && (size_t)w < sizeof full && mf_safetensors_find(f, full) >= 0;
        }
        if (all)
            return true;
    }
    return false;
}

mf_status mf_state_dict_load(const char *path, const mf_named_tensor *entries, int n, bool strict,
                             mf_state_dict_report *report) {
    return mf_state_dict_load_prefix(path, "", entries, n, strict, report);
}

mf_status mf_state_dict_load_prefix(const char *path, const char *prefix, const mf_named_tensor *entries, int n,
                                    bool strict, mf_state_dict_report *report) {
    if (!prefix)
        prefix = "";
    if (report)
        *report = (mf_state_dict_report){0};
    MF_TRY(check_entries(path, entries, n));
    mf_safetensors *f;
    MF_TRY(mf_safetensors_open(path, &f));
    int nf = mf_safetensors_count(f);
    /* file_of[i]: file index of entry i, or -1; used[k]: file key k matched. */
    int *file_of = malloc(sizeof *file_of * (size_t)(n ? n : 1));
    bool *used = calloc((size_t)(nf ? nf : 1), sizeof *used);
    list missing = {0}, unexpected = {0}, shape = {0}, dtype = {0};
    strbuf msg = {0};
    char *key = NULL;
    mf_status st = MF_OK;
    if (!file_of || !used) {
        st = MF_ERR(MF_ERR_NOMEM, "state dict %s: out of memory", path);
        goto cleanup;
    }
    size_t plen = strlen(prefix), klen_max = 0;
    for (int i = 0; i < n; i++)
        if (strlen(entries[i].name) > klen_max)
            klen_max = strlen(entries[i].name);
    key = malloc(plen + klen_max + 1);
    if (!key) {
        st = MF_ERR(MF_ERR_NOMEM, "state dict %s: out of memory", path);
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        const mf_tensor *t = entries[i].tensor;
        snprintf(key, plen + klen_max + 1, "%s%s", prefix, entries[i].name);
        int k = file_of[i] = mf_safetensors_find(f, key);
        if (k < 0) {
            list_add(&missing, "%s%s%s", key, "", "");
            continue;
        }
        used[k] = true;
        mf_dtype dt;
        int nd;
        int64_t sh[MF_MAX_DIMS];
        MF_CHECK(mf_safetensors_info(f, key, &dt, &nd, sh));
        if (nd != t->ndim || memcmp(sh, t->shape, sizeof(int64_t) * (size_t)nd) != 0) {
            list_add(&shape, "%s (file %s, model %s)", key, mf_shape_str(nd, sh), MF_SHAPE(t));
            file_of[i] = -1;
        } else if (!convertible(dt, t->dtype)) {
            list_add(&dtype, "%s (file %s, model %s)", key, mf_dtype_name(dt), mf_dtype_name(t->dtype));
            file_of[i] = -1;
        }
    }
    /* Keys outside the prefix belong to someone else: not unexpected. */
    for (int k = 0; k < nf; k++)
        if (!used[k] && prefix_len(mf_safetensors_name(f, k), prefix) >= 0)
            list_add(&unexpected, "%s%s%s", mf_safetensors_name(f, k), "", "");
    list_emit(&msg, "mis-shaped", &shape);
    list_emit(&msg, "with an incompatible dtype", &dtype);
    list_emit(&msg, "missing", &missing);
    list_emit(&msg, "unexpected", &unexpected);
    if (missing.items.oom || unexpected.items.oom || shape.items.oom || dtype.items.oom || msg.oom) {
        st = MF_ERR(MF_ERR_NOMEM, "state dict %s: out of memory", path);
        goto cleanup;
    }
    if (report) {
        report->n_missing = missing.count;
        report->n_unexpected = unexpected.count;
        report->n_mismatched = shape.count + dtype.count;
    }
    bool fatal = shape.count || dtype.count || (strict && (missing.count || unexpected.count));
    if (fatal) {
        mf_status code = shape.count ? MF_ERR_SHAPE : dtype.count ? MF_ERR_DTYPE : MF_ERR_NOT_FOUND;
        char held[256], hint[640] = "";
        if (missing.count == n && prefix_holding_all(f, entries, n, held, sizeof held))
            snprintf(hint, sizeof hint,
                     "; the file holds every entry under '%s': load with that prefix (for an encoder: "
                     "encoder.weights_prefix=%s)",
                     held, held);
        st = MF_ERR(code, "%s: state dict does not match (%s load of %d entries): %s%s", path,
                    strict ? "strict" : "non-strict", n, msg.s, hint);
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        if (file_of[i] < 0)
            continue;
        mf_tensor *src;
        MF_CHECK(mf_safetensors_get(f, mf_safetensors_name(f, file_of[i]), &src));
        st = mf_tensor_copy_(entries[i].tensor, src); /* converts on the CPU when the device differs */
        mf_tensor_release(src);
        if (st != MF_OK) {
            mf_error_context(st, "%s: loading '%s'", path, entries[i].name);
            goto cleanup;
        }
        if (report)
            report->n_loaded++;
    }
cleanup:
    if (report && msg.len && st != MF_ERR_NOMEM) {
        report->details = msg.s;
        msg.s = NULL;
    }
    free(key);
    free(msg.s);
    free(missing.items.s);
    free(unexpected.items.s);
    free(shape.items.s);
    free(dtype.items.s);
    free(file_of);
    free(used);
    mf_safetensors_close(f);
    return st;
}

mf_status mf_state_dict_save(const char *path, const mf_named_tensor *entries, int n, int n_meta,
                             const char *const *meta_kv) {
    MF_TRY(check_entries(path, entries, n));
    const char **names = malloc(sizeof *names * (size_t)(n ? n : 1));
    mf_tensor **tensors = malloc(sizeof *tensors * (size_t)(n ? n : 1));
    mf_status st;
    if (!names || !tensors) {
        st = MF_ERR(MF_ERR_NOMEM, "state dict %s: out of memory", path);
    } else {
        for (int i = 0; i < n; i++) {
            names[i] = entries[i].name;
            tensors[i] = entries[i].tensor;
        }
        st = mf_safetensors_save(path, n, names, tensors, n_meta, meta_kv);
    }
    free(names);
    free(tensors);
    return st;
}
