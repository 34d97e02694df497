/* Config assembly: `base:` inheritance with deep merge, ${VAR} expansion,
 * and command-line overrides "a.b=value". */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/internal.h"

/* A section that names a different plugin or type than the one it
 * overrides replaces it whole: the old component's keys would not apply
 * to the new one (an ablation swapping `solver: {plugin: lap}` for gm, or
 * a data source of another type). */
static bool names_other_component(const mf_cfg *dst, const mf_cfg *src) {
    static const char *keys[] = {"plugin", "type"};
    for (int i = 0; i < 2; i++) {
        const mf_cfg *a = mf_cfg_find(dst, keys[i]), *b = mf_cfg_find(src, keys[i]);
        if (a && b && a->kind == MF_CFG_SCALAR && b->kind == MF_CFG_SCALAR && strcmp(a->value, b->value) != 0)
            return true;
    }
    return false;
}

mf_status mf_cfg_merge(mf_cfg *dst, const mf_cfg *src) {
    if (dst->kind != MF_CFG_MAP || src->kind != MF_CFG_MAP)
        return MF_ERR(MF_ERR_CONFIG, "%s: can only merge a map into a map", mf_cfg_where(src));
    for (int i = 0; i < src->n; i++) {
        const mf_cfg *s = src->items[i];
        mf_cfg *d = NULL;
        for (int k = 0; k < dst->n; k++)
            if (!strcmp(dst->items[k]->key, s->key))
                d = dst->items[k];
        if (d && d->kind == MF_CFG_MAP && s->kind == MF_CFG_MAP && !names_other_component(d, s)) {
            MF_TRY(mf_cfg_merge(d, s));
            continue;
        }
        mf_cfg *copy = mf_cfg_clone(s);
        if (!copy)
            return MF_ERR(MF_ERR_NOMEM, "config: out of memory");
        mf_status st = mf_cfg_map_put(dst, s->key, copy);
        if (st != MF_OK) {
            mf_cfg_free(copy);
            return st;
        }
    }
    return MF_OK;
}

/* ${VAR} and ${VAR:-default} in every scalar of the tree. */
static mf_status expand_env(mf_cfg *c) {
    for (int i = 0; i < c->n; i++)
        MF_TRY(expand_env(c->items[i]));
    if (c->kind != MF_CFG_SCALAR || !strstr(c->value, "${"))
        return MF_OK;
    size_t cap = strlen(c->value) + 256, len = 0;
    char *out = malloc(cap);
    if (!out)
        return MF_ERR(MF_ERR_NOMEM, "config: out of memory");
    const char *p = c->value;
    while (*p) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                free(out);
                return MF_ERR(MF_ERR_CONFIG, "%s: %s: unterminated '${' in '%s'", mf_cfg_where(c), mf_cfg_path(c),
                              c->value);
            }
            char name[256];
            size_t n = (size_t)(end - p - 2);
            if (n >= sizeof name)
                n = sizeof name - 1;
            memcpy(name, p + 2, n);
            name[n] = '\0';
            const char *def = NULL;
            char *sep = strstr(name, ":-");
            if (sep) {
                *sep = '\0';
                def = sep + 2;
            }
            const char *val = getenv(name);
            if (!val || (!*val && def))
                val = def;
            if (!val) {
                free(out);
                return MF_ERR(MF_ERR_CONFIG, "%s: %s: environment variable '%s' is not set (write ${%s:-default} "
                                             "for a fallback)",
                              mf_cfg_where(c), mf_cfg_path(c), name, name);
            }
            size_t vl = strlen(val);
            if (len + vl + 1 > cap) {
                cap = (len + vl + 1) * 2;
                char *q = realloc(out, cap);
                if (!q) {
                    free(out);
                    return MF_ERR(MF_ERR_NOMEM, "config: out of memory");
                }
                out = q;
            }
            memcpy(out + len, val, vl);
            len += vl;
            p = end + 1;
        } else {
            if (len + 2 > cap) {
                cap *= 2;
                char *q = realloc(out, cap);
                if (!q) {
                    free(out);
                    return MF_ERR(MF_ERR_NOMEM, "config: out of memory");
                }
                out = q;
            }
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
    free(c->value);
    c->value = out;
    return MF_OK;
}

static mf_status load_rec(const char *path, const char **stack, int depth, mf_cfg **out) {
    char real[PATH_MAX];
    if (!realpath(path, real))
        snprintf(real, sizeof real, "%s", path);
    for (int i = 0; i < depth; i++)
        if (!strcmp(stack[i], real))
            return MF_ERR(MF_ERR_CONFIG, "%s: 'base:' inheritance cycle back to %s", path, stack[i]);
    if (depth >= 16)
        return MF_ERR(MF_ERR_CONFIG, "%s: 'base:' chain deeper than 16 files", path);
    mf_cfg *c;
    MF_TRY(mf_cfg_parse_file(path, &c));
    if (c->kind != MF_CFG_MAP) {
        mf_status st = MF_ERR(MF_ERR_CONFIG, "%s: a config file must be a map of keys at the top level", path);
        mf_cfg_free(c);
        return st;
    }
    mf_cfg *base = mf_cfg_find(c, "base");
    if (!base || base->kind == MF_CFG_NULL) {
        mf_cfg_remove(c, "base");
        *out = c;
        return MF_OK;
    }
    stack[depth] = real;
    mf_cfg *merged = mf_cfg_new(MF_CFG_MAP, NULL);
    mf_status st = merged ? MF_OK : MF_ERR(MF_ERR_NOMEM, "config: out of memory");
    int nb = base->kind == MF_CFG_LIST ? base->n : 1;
    for (int i = 0; st == MF_OK && i < nb; i++) {
        mf_cfg *b = base->kind == MF_CFG_LIST ? base->items[i] : base;
        if (b->kind != MF_CFG_SCALAR) {
            st = MF_ERR(MF_ERR_CONFIG, "%s: base: expected a file name or a list of them", mf_cfg_where(b));
            break;
        }
        char bp[PATH_MAX];
        if (b->value[0] == '/') {
            snprintf(bp, sizeof bp, "%s", b->value);
        } else {
            const char *slash = strrchr(path, '/');
            if (slash)
                snprintf(bp, sizeof bp, "%.*s/%s", (int)(slash - path), path, b->value);
            else
                snprintf(bp, sizeof bp, "%s", b->value);
        }
        mf_cfg *bc = NULL;
        st = load_rec(bp, stack, depth + 1, &bc);
        if (st != MF_OK)
            st = mf_error_context(st, "%s: in base '%s'", mf_cfg_where(b), b->value);
        if (st == MF_OK)
            st = mf_cfg_merge(merged, bc);
        mf_cfg_free(bc);
    }
    mf_cfg_remove(c, "base");
    if (st == MF_OK)
        st = mf_cfg_merge(merged, c);
    mf_cfg_free(c);
    if (st != MF_OK) {
        mf_cfg_free(merged);
        return st;
    }
    free(merged->file);
    merged->file = strdup(path);
    *out = merged;
    return MF_OK;
}

mf_status mf_cfg_load(const char *path, mf_cfg **out) {
    const char *stack[16];
    mf_cfg *c;
    MF_TRY(load_rec(path, stack, 0, &c));
    mf_status st = expand_env(c);
    if (st != MF_OK) {
        mf_cfg_free(c);
        return st;
    }
    *out = c;
    return MF_OK;
}

mf_status mf_cfg_set(mf_cfg *root, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return MF_ERR(MF_ERR_CONFIG, "override '%s': expected key.path=value", assignment);
    char path[512];
    size_t plen = (size_t)(eq - assignment);
    if (plen >= sizeof path)
        return MF_ERR(MF_ERR_CONFIG, "override '%s': key path too long", assignment);
    memcpy(path, assignment, plen);
    path[plen] = '\0';
    mf_cfg *val;
    MF_TRY(mf__cfg_parse(eq + 1, strlen(eq + 1), "<command line>", &val));
    if (val->kind == MF_CFG_MAP && val->n == 0 && !eq[1]) { /* "key=" means null */
        val->kind = MF_CFG_NULL;
    }
    /* Overrides have no line: mark the whole subtree. */
    mf_cfg *stack[64] = {val};
    int ns = 1;
    while (ns) {
        mf_cfg *c = stack[--ns];
        c->line = c->col = 0;
        for (int i = 0; i < c->n && ns < 64; i++)
            stack[ns++] = c->items[i];
    }
    mf_cfg *cur = root;
    char *save = NULL;
    char *seg = strtok_r(path, ".", &save);
    mf_status st = MF_OK;
    while (seg) {
        char *next = strtok_r(NULL, ".", &save);
        if (cur->kind == MF_CFG_LIST) {
            char *end;
            long idx = strtol(seg, &end, 10);
            if (*end || idx < 0 || idx >= cur->n) {
                st = MF_ERR(MF_ERR_CONFIG, "override '%s': '%s' is a list of %d items; '%s' is not an index",
                            assignment, mf_cfg_path(cur), cur->n, seg);
                break;
            }
            if (!next) {
                mf_cfg *old = cur->items[idx];
                val->parent = cur;
                cur->items[idx] = val;
                mf_cfg_free(old);
                return MF_OK;
            }
            cur = cur->items[idx];
            seg = next;
            continue;
        }
        if (cur->kind != MF_CFG_MAP) {
            st = MF_ERR(MF_ERR_CONFIG, "override '%s': '%s' is not a map (set at %s)", assignment, mf_cfg_path(cur),
                        mf_cfg_where(cur));
            break;
        }
        if (!next) {
            st = mf_cfg_map_put(cur, seg, val);
            if (st == MF_OK)
                return MF_OK;
            break;
        }
        mf_cfg *child = mf_cfg_find(cur, seg);
        if (!child || child->kind == MF_CFG_NULL) {
            mf_cfg *m = mf_cfg_new(MF_CFG_MAP, NULL);
            if (!m || !(m->file = strdup("<command line>")) || (st = mf_cfg_map_put(cur, seg, m)) != MF_OK) {
                mf_cfg_free(m);
                st = st ? st : MF_ERR(MF_ERR_NOMEM, "config: out of memory");
                break;
            }
            child = m;
        }
        cur = child;
        seg = next;
    }
    mf_cfg_free(val);
    return st;
}
