/* Config tree nodes: construction, lookup by dotted path, provenance
 * strings, and typed scalar reads with messages that cite file:line:col. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "medfm/config.h"

mf_cfg *mf_cfg_new(mf_cfg_kind kind, const char *value) {
    mf_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->kind = kind;
    if (value && !(c->value = strdup(value))) {
        free(c);
        return NULL;
    }
    return c;
}

void mf_cfg_free(mf_cfg *c) {
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        mf_cfg_free(c->items[i]);
    free(c->items);
    free(c->key);
    free(c->value);
    free(c->file);
    free(c);
}

mf_status mf__cfg_append(mf_cfg *parent, mf_cfg *child) {
    if (parent->n == parent->cap) {
        int cap = parent->cap ? parent->cap * 2 : 8;
        mf_cfg **p = realloc(parent->items, (size_t)cap * sizeof *p);
        if (!p)
            return MF_ERR(MF_ERR_NOMEM, "config: out of memory");
        parent->items = p;
        parent->cap = cap;
    }
    parent->items[parent->n++] = child;
    child->parent = parent;
    return MF_OK;
}

static mf_cfg *member(const mf_cfg *map, const char *key, size_t len) {
    if (!map || map->kind != MF_CFG_MAP)
        return NULL;
    for (int i = 0; i < map->n; i++)
        if (strlen(map->items[i]->key) == len && strncmp(map->items[i]->key, key, len) == 0)
            return map->items[i];
    return NULL;
}

mf_cfg *mf_cfg_clone(const mf_cfg *c) {
    mf_cfg *d = mf_cfg_new(c->kind, c->value);
    if (!d)
        return NULL;
    d->quoted = c->quoted;
    d->line = c->line;
    d->col = c->col;
    d->is_default = c->is_default;
    if ((c->key && !(d->key = strdup(c->key))) || (c->file && !(d->file = strdup(c->file)))) {
        mf_cfg_free(d);
        return NULL;
    }
    for (int i = 0; i < c->n; i++) {
        mf_cfg *k = mf_cfg_clone(c->items[i]);
        if (!k || mf__cfg_append(d, k) != MF_OK) {
            mf_cfg_free(k);
            mf_cfg_free(d);
            return NULL;
        }
    }
    return d;
}

void mf_cfg_remove(mf_cfg *map, const char *key) {
    if (!map || map->kind != MF_CFG_MAP)
        return;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->items[i]->key, key) == 0) {
            mf_cfg_free(map->items[i]);
            memmove(map->items + i, map->items + i + 1, (size_t)(map->n - i - 1) * sizeof *map->items);
            map->n--;
            return;
        }
}

mf_status mf_cfg_map_put(mf_cfg *map, const char *key, mf_cfg *value) {
    if (map->kind != MF_CFG_MAP)
        return MF_ERR(MF_ERR_CONFIG, "%s: '%s' is not a map, cannot set '%s'", mf_cfg_where(map), mf_cfg_path(map),
                      key);
    free(value->key);
    if (!(value->key = strdup(key)))
        return MF_ERR(MF_ERR_NOMEM, "config: out of memory");
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->items[i]->key, key) == 0) {
            mf_cfg_free(map->items[i]);
            map->items[i] = value;
            value->parent = map;
            return MF_OK;
        }
    return mf__cfg_append(map, value);
}

mf_cfg *mf_cfg_find(const mf_cfg *c, const char *path) {
    const mf_cfg *cur = c;
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (cur->kind == MF_CFG_LIST) {
            char *end;
            long idx = strtol(p, &end, 10);
            cur = (end == p + len && idx >= 0 && idx < cur->n) ? cur->items[idx] : NULL;
        } else {
            cur = member(cur, p, len);
        }
        p = dot ? dot + 1 : p + len;
    }
    return (mf_cfg *)cur;
}

const char *mf_cfg_where(const mf_cfg *c) {
    static _Thread_local char buf[4][512];
    static _Thread_local int slot;
    char *s = buf[slot++ & 3];
    while (c && !c->file)
        c = c->parent;
    if (!c)
        snprintf(s, 512, "<config>");
    else if (c->line > 0)
        snprintf(s, 512, "%s:%d:%d", c->file, c->line, c->col);
    else
        snprintf(s, 512, "%s", c->file);
    return s;
}

const char *mf_cfg_path(const mf_cfg *c) {
    static _Thread_local char buf[4][512];
    static _Thread_local int slot;
    char *s = buf[slot++ & 3];
    const mf_cfg *chain[64];
    int n = 0;
    for (const mf_cfg *p = c; p && p->parent && n < 64; p = p->parent)
        chain[n++] = p;
    size_t len = 0;
    s[0] = '\0';
    for (int i = n - 1; i >= 0; i--) {
        const mf_cfg *p = chain[i];
        char part[128];
        if (p->key) {
            snprintf(part, sizeof part, "%s", p->key);
        } else {
            int idx = 0;
            for (int k = 0; k < p->parent->n; k++)
                if (p->parent->items[k] == p)
                    idx = k;
            snprintf(part, sizeof part, "%d", idx);
        }
        len += (size_t)snprintf(s + len, 512 - len, "%s%s", len ? "." : "", part);
        if (len >= 500)
            break;
    }
    if (n == 0)
        snprintf(s, 512, "(root)");
    return s;
}

static const char *kind_name(const mf_cfg *c) {
    switch (c->kind) {
    case MF_CFG_NULL: return "null";
    case MF_CFG_SCALAR: return "a scalar";
    case MF_CFG_LIST: return "a list";
    case MF_CFG_MAP: return "a map";
    }
    return "?";
}

static mf_status need_scalar(const mf_cfg *c, const char *what) {
    if (c->kind != MF_CFG_SCALAR)
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: expected %s, got %s", mf_cfg_where(c), mf_cfg_path(c), what,
                      kind_name(c));
    return MF_OK;
}

mf_status mf_cfg_as_bool(const mf_cfg *c, bool *out) {
    MF_TRY(need_scalar(c, "true or false"));
    const char *v = c->value;
    if (!c->quoted) {
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) {
            *out = true;
            return MF_OK;
        }
        if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) {
            *out = false;
            return MF_OK;
        }
    }
    return MF_ERR(MF_ERR_CONFIG, "%s: %s: expected true or false, got '%s'", mf_cfg_where(c), mf_cfg_path(c), v);
}

mf_status mf_cfg_as_int(const mf_cfg *c, int64_t *out) {
    MF_TRY(need_scalar(c, "an integer"));
    char *end;
    errno = 0;
    long long v = strtoll(c->value, &end, 10);
    if (c->quoted || end == c->value || *end || errno) {
        /* Accept integral floats written as 1e3. */
        double d = strtod(c->value, &end);
        if (!c->quoted && end != c->value && !*end && d == floor(d) && fabs(d) < 9e15) {
            *out = (int64_t)d;
            return MF_OK;
        }
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: expected an integer, got '%s'", mf_cfg_where(c), mf_cfg_path(c),
                      c->value);
    }
    *out = v;
    return MF_OK;
}

mf_status mf_cfg_as_float(const mf_cfg *c, double *out) {
    MF_TRY(need_scalar(c, "a number"));
    const char *v = c->value;
    if (!c->quoted) {
        if (!strcasecmp(v, ".inf") || !strcasecmp(v, "inf")) {
            *out = INFINITY;
            return MF_OK;
        }
        if (!strcasecmp(v, "-.inf") || !strcasecmp(v, "-inf")) {
            *out = -INFINITY;
            return MF_OK;
        }
        if (!strcasecmp(v, ".nan") || !strcasecmp(v, "nan")) {
            *out = NAN;
            return MF_OK;
        }
        char *end;
        double d = strtod(v, &end);
        if (end != v && !*end) {
            *out = d;
            return MF_OK;
        }
    }
    return MF_ERR(MF_ERR_CONFIG, "%s: %s: expected a number, got '%s'", mf_cfg_where(c), mf_cfg_path(c), v);
}

mf_status mf_cfg_as_string(const mf_cfg *c, const char **out) {
    MF_TRY(need_scalar(c, "a string"));
    *out = c->value;
    return MF_OK;
}

#define GETTER(NAME, T, CONV)                                                  \
    mf_status NAME(const mf_cfg *map, const char *path, T def, T *out) {       \
        const mf_cfg *c = mf_cfg_find(map, path);                              \
        if (!c || c->kind == MF_CFG_NULL) {                                    \
            *out = def;                                                        \
            return MF_OK;                                                      \
        }                                                                      \
        return CONV(c, out);                                                   \
    }
GETTER(mf_cfg_get_bool, bool, mf_cfg_as_bool)
GETTER(mf_cfg_get_int, int64_t, mf_cfg_as_int)
GETTER(mf_cfg_get_float, double, mf_cfg_as_float)
GETTER(mf_cfg_get_string, const char *, mf_cfg_as_string)
