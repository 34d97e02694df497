/* Manifests: CSV (with a header row) or JSONL listing samples. Every
 * problem is reported as file:line; nothing malformed gets through. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/csv.h"
#include "medfm/data.h"

static const char *const columns[] = {"image", "label", "mask", "class", "split", "volume",
                                      "plane", "slice", "slice_image", "text", "text_embedding"};
#define NCOL ((int)(sizeof columns / sizeof columns[0]))

static bool parse_int(const char *s, int64_t *out) {
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static char *dup(const char *s) {
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static void row_free(mf_manifest_row *r) {
    free(r->image), free(r->mask), free(r->class_name), free(r->split), free(r->volume);
    free(r->slice_image), free(r->text), free(r->text_embedding), free(r->embedding);
}

void mf_manifest_free(mf_manifest *m) {
    if (!m)
        return;
    for (int64_t i = 0; i < m->n; i++)
        row_free(&m->rows[i]);
    free(m->rows);
    for (int i = 0; i < m->n_classes; i++)
        free(m->class_names[i]);
    free(m->class_names);
    free(m->name);
    free(m->dir);
    memset(m, 0, sizeof *m);
}

/* numbers separated by spaces, commas or semicolons -> floats; false if any token is not a number */
static bool parse_numbers(const char *s, float **out, int64_t *n) {
    int64_t cap = 16, k = 0;
    float *v = malloc(sizeof(float) * (size_t)cap);
    if (!v)
        return false;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ';' || *p == ',' || *p == '\t' || *p == '[' || *p == ']')
            p++;
        if (!*p)
            break;
        char *end;
        double d = strtod(p, &end);
        if (end == p) {
            free(v);
            return false;
        }
        if (k == cap) {
            float *nv = realloc(v, sizeof(float) * (size_t)(cap *= 2));
            if (!nv) {
                free(v);
                return false;
            }
            v = nv;
        }
        v[k++] = (float)d;
        p = end;
    }
    if (k == 0) {
        free(v);
        return false;
    }
    *out = v;
    *n = k;
    return true;
}

/* Sets column `col` of row r from text value v. */
static mf_status set_field(mf_manifest *m, mf_manifest_row *r, int col, const char *v) {
    const char *name = m->name;
    if (!v || !*v)
        return MF_OK; /* empty = absent */
    char **slot = NULL;
    switch (col) {
    case 0: slot = &r->image; break;
    case 1: {
        int64_t k;
        if (parse_int(v, &k)) {
            if (k < 0)
                return MF_ERR(MF_ERR_FORMAT, "%s:%d: label %lld is negative", name, r->line, (long long)k);
            r->cls = k;
            return MF_OK;
        }
        slot = &r->mask;
        break;
    }
    case 2: slot = &r->mask; break;
    case 3: {
        int64_t k;
        if (parse_int(v, &k)) {
            if (k < 0)
                return MF_ERR(MF_ERR_FORMAT, "%s:%d: class %lld is negative", name, r->line, (long long)k);
            r->cls = k;
            return MF_OK;
        }
        slot = &r->class_name;
        break;
    }
    case 4: slot = &r->split; break;
    case 5: slot = &r->volume; break;
    case 6: {
        mf_plane p;
        if (mf_plane_parse(v, &p) != MF_OK)
            return MF_ERR(MF_ERR_FORMAT, "%s:%d: plane '%s' is not axial, coronal or sagittal", name, r->line, v);
        r->plane = (int)p;
        return MF_OK;
    }
    case 7:
        if (!parse_int(v, &r->slice) || r->slice < 0)
            return MF_ERR(MF_ERR_FORMAT, "%s:%d: slice '%s' is not a non-negative integer", name, r->line, v);
        return MF_OK;
    case 8: slot = &r->slice_image; break;
    case 9: slot = &r->text; break;
    case 10:
        free(r->embedding);
        r->embedding = NULL;
        if (parse_numbers(v, &r->embedding, &r->embedding_len))
            return MF_OK;
        slot = &r->text_embedding;
        break;
    }
    free(*slot);
    if (!(*slot = dup(v)))
        return MF_ERR(MF_ERR_NOMEM, "%s:%d: out of memory", name, r->line);
    return MF_OK;
}

static mf_status new_row(mf_manifest *m, int64_t *cap, int line, mf_manifest_row **out) {
    if (m->n == *cap) {
        int64_t nc = *cap ? 2 * *cap : 64;
        mf_manifest_row *rows = realloc(m->rows, sizeof *rows * (size_t)nc);
        if (!rows)
            return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", m->name);
        m->rows = rows;
        *cap = nc;
    }
    mf_manifest_row *r = &m->rows[m->n++];
    memset(r, 0, sizeof *r);
    r->cls = -1;
    r->plane = -1;
    r->slice = -1;
    r->line = line;
    *out = r;
    return MF_OK;
}

static int find_col(const char *s) {
    for (int i = 0; i < NCOL; i++)
        if (!strcmp(s, columns[i]))
            return i;
    return -1;
}

static mf_status unknown_col(const char *name, int line, const char *s) {
    const char *dym = mf_did_you_mean(s, columns, NCOL);
    return MF_ERR(MF_ERR_FORMAT, "%s:%d: unknown column '%s'%s%s%s (columns: image, label, mask, class, split, volume, "
                  "plane, slice, slice_image, text, text_embedding)", name, line, s, dym ? " (did you mean '" : "",
                  dym ? dym : "", dym ? "'?)" : "");
}

static mf_status parse_csv(const char *text, size_t len, mf_manifest *m) {
    mf_csv c;
    mf_csv_init(&c, text, len, m->name);
    mf_csv_record rec = {0};
    int eof, map[64], ncols;
    int64_t cap = 0;
    mf_status st = mf_csv_next(&c, &rec, &eof);
    if (st != MF_OK)
        goto done;
    if (eof) {
        st = MF_ERR(MF_ERR_FORMAT, "%s:1: empty manifest (a header row is required)", m->name);
        goto done;
    }
    ncols = rec.n;
    if (ncols > 64) {
        st = MF_ERR(MF_ERR_FORMAT, "%s:%d: %d columns (at most 64)", m->name, rec.line, ncols);
        goto done;
    }
    for (int i = 0; i < ncols; i++) {
        if ((map[i] = find_col(rec.fields[i])) < 0) {
            st = unknown_col(m->name, rec.line, rec.fields[i]);
            goto done;
        }
        for (int j = 0; j < i; j++)
            if (map[j] == map[i]) {
                st = MF_ERR(MF_ERR_FORMAT, "%s:%d: column '%s' appears twice", m->name, rec.line, rec.fields[i]);
                goto done;
            }
    }
    for (;;) {
        if ((st = mf_csv_next(&c, &rec, &eof)) != MF_OK || eof)
            break;
        if (rec.n != ncols) {
            st = MF_ERR(MF_ERR_FORMAT, "%s:%d: %d fields but the header has %d", m->name, rec.line, rec.n, ncols);
            break;
        }
        mf_manifest_row *r;
        if ((st = new_row(m, &cap, rec.line, &r)) != MF_OK)
            break;
        for (int i = 0; i < ncols && st == MF_OK; i++)
            st = set_field(m, r, map[i], rec.fields[i]);
        if (st != MF_OK)
            break;
    }
done:
    mf_csv_record_free(&rec);
    return st;
}

static mf_status parse_jsonl(const char *text, size_t len, mf_manifest *m) {
    int64_t cap = 0;
    size_t pos = 0;
    int line = 0;
    char num[64];
    while (pos < len) {
        line++;
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        size_t a = pos, b = end;
        pos = end + 1;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
            a++;
        if (a == b)
            continue;
        cJSON *obj = cJSON_ParseWithLength(text + a, b - a);
        if (!obj || !cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            return MF_ERR(MF_ERR_FORMAT, "%s:%d: not a JSON object", m->name, line);
        }
        mf_manifest_row *r;
        mf_status st = new_row(m, &cap, line, &r);
        for (cJSON *it = obj->child; it && st == MF_OK; it = it->next) {
            int col = it->string ? find_col(it->string) : -1;
            if (col < 0) {
                st = unknown_col(m->name, line, it->string ? it->string : "");
                break;
            }
            if (cJSON_IsString(it)) {
                st = set_field(m, r, col, it->valuestring);
            } else if (cJSON_IsNumber(it)) {
                double d = it->valuedouble;
                if (!(d >= -1e15 && d <= 1e15) || d != (double)(int64_t)d) {
                    st = MF_ERR(MF_ERR_FORMAT, "%s:%d: '%s' must be an integer, got %g", m->name, line, it->string, d);
                    break;
                }
                snprintf(num, sizeof num, "%lld", (long long)d);
                st = set_field(m, r, col, num);
            } else if (cJSON_IsNull(it)) {
            } else if (cJSON_IsArray(it) && col == 10) {
                int n = cJSON_GetArraySize(it);
                free(r->embedding);
                r->embedding = n > 0 ? malloc(sizeof(float) * (size_t)n) : NULL;
                r->embedding_len = 0;
                if (n <= 0) {
                    st = MF_ERR(MF_ERR_FORMAT, "%s:%d: text_embedding is an empty array", m->name, line);
                    break;
                }
                if (!r->embedding) {
                    st = MF_ERR(MF_ERR_NOMEM, "%s:%d: out of memory", m->name, line);
                    break;
                }
                for (cJSON *e = it->child; e; e = e->next) {
                    if (!cJSON_IsNumber(e)) {
                        st = MF_ERR(MF_ERR_FORMAT, "%s:%d: text_embedding item %lld is not a number", m->name, line,
                                    (long long)r->embedding_len);
                        break;
                    }
                    r->embedding[r->embedding_len++] = (float)e->valuedouble;
                }
            } else {
                st = MF_ERR(MF_ERR_FORMAT, "%s:%d: '%s' has the wrong type (string or number expected)", m->name, line,
                            it->string);
            }
        }
        cJSON_Delete(obj);
        if (st != MF_OK)
            return st;
    }
    return MF_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* class names -> indices in sorted order */
static mf_status index_classes(mf_manifest *m) {
    for (int64_t i = 0; i < m->n; i++) {
        mf_manifest_row *r = &m->rows[i];
        if (!r->class_name)
            continue;
        bool seen = false;
        for (int k = 0; k < m->n_classes && !seen; k++)
            seen = !strcmp(m->class_names[k], r->class_name);
        if (seen)
            continue;
        char **cn = realloc(m->class_names, sizeof(char *) * (size_t)(m->n_classes + 1));
        if (!cn)
            return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", m->name);
        m->class_names = cn;
        if (!(cn[m->n_classes] = dup(r->class_name)))
            return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", m->name);
        m->n_classes++;
    }
    if (m->n_classes > 1)
        qsort(m->class_names, (size_t)m->n_classes, sizeof(char *), cmp_str);
    for (int64_t i = 0; i < m->n; i++) {
        mf_manifest_row *r = &m->rows[i];
        if (r->class_name)
            for (int k = 0; k < m->n_classes; k++)
                if (!strcmp(m->class_names[k], r->class_name))
                    r->cls = k;
    }
    return MF_OK;
}

mf_status mf_manifest_parse(const char *text, size_t len, const char *name, mf_manifest *out) {
    memset(out, 0, sizeof *out);
    out->name = dup(name ? name : "<manifest>");
    out->dir = dup("");
    if (!out->name || !out->dir) {
        mf_manifest_free(out);
        return MF_ERR(MF_ERR_NOMEM, "manifest: out of memory");
    }
    size_t nl = strlen(out->name);
    bool jsonl = (nl > 6 && !strcmp(out->name + nl - 6, ".jsonl")) || (nl > 5 && !strcmp(out->name + nl - 5, ".json"));
    if (!jsonl) {
        size_t i = 0;
        while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
            i++;
        jsonl = i < len && text[i] == '{';
    }
    mf_status st = jsonl ? parse_jsonl(text, len, out) : parse_csv(text, len, out);
    if (st == MF_OK)
        st = index_classes(out);
    for (int64_t i = 0; st == MF_OK && i < out->n; i++) {
        mf_manifest_row *r = &out->rows[i];
        if (!r->image && !r->volume && !r->slice_image)
            st = MF_ERR(MF_ERR_FORMAT, "%s:%d: row names no image, volume or slice_image", out->name, r->line);
        else if (r->slice >= 0 && r->plane < 0)
            st = MF_ERR(MF_ERR_FORMAT, "%s:%d: slice given without a plane", out->name, r->line);
    }
    if (st != MF_OK)
        mf_manifest_free(out);
    return st;
}

mf_status mf_manifest_read(const char *path, mf_manifest *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return MF_ERR(MF_ERR_IO, "%s: cannot open manifest: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    mf_status st = MF_OK;
    for (;;) {
        if (n + 65536 > cap) {
            char *nb = realloc(buf, cap = (cap ? 2 * cap : 65536) + 65536);
            if (!nb) {
                st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f))
                st = MF_ERR(MF_ERR_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st == MF_OK)
        st = mf_manifest_parse(buf ? buf : "", n, path, out);
    free(buf);
    if (st != MF_OK)
        return st;
    const char *slash = strrchr(path, '/');
    free(out->dir);
    out->dir = malloc(slash ? (size_t)(slash - path) + 2 : 1);
    if (!out->dir) {
        mf_manifest_free(out);
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    }
    if (slash) {
        memcpy(out->dir, path, (size_t)(slash - path) + 1);
        out->dir[slash - path + 1] = 0;
    } else {
        out->dir[0] = 0;
    }
    return MF_OK;
}
