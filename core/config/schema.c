/* Schema checks: every key a plugin or the core reads is declared with a
 * type, default, range or choices and a doc line; anything else in a config
 * is an error with the place it was written and a "did you mean". */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config/internal.h"

void mf_diag_add(mf_diag *d, const char *fmt, ...) {
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 8;
        char **p = realloc(d->msgs, (size_t)cap * sizeof *p);
        if (!p)
            return;
        d->msgs = p;
        d->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) >= 0)
        d->msgs[d->n++] = m;
    va_end(ap);
}

void mf_diag_free(mf_diag *d) {
    for (int i = 0; i < d->n; i++)
        free(d->msgs[i]);
    free(d->msgs);
    d->msgs = NULL;
    d->n = d->cap = 0;
}

mf_status mf_diag_status(const mf_diag *d) {
    if (d->n == 0)
        return MF_OK;
    char buf[1800];
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < d->n && len < sizeof buf - 1; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? "\n" : "", d->msgs[i]);
    return mf_error_plain(MF_ERR_CONFIG, "%d problem%s:\n%s", d->n, d->n == 1 ? "" : "s", buf);
}

static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    int prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

const char *mf_did_you_mean(const char *word, const char *const *candidates, int n) {
    const char *best = NULL;
    int bd = 99;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, candidates[i]);
        if (d < bd) {
            bd = d;
            best = candidates[i];
        }
    }
    int limit = strlen(word) <= 4 ? 1 : (strlen(word) <= 8 ? 2 : 3);
    return bd <= limit ? best : NULL;
}

static const char *type_name(mf_key_type t) {
    switch (t) {
    case MF_KEY_BOOL: return "true/false";
    case MF_KEY_INT: return "an integer";
    case MF_KEY_FLOAT: return "a number";
    case MF_KEY_STRING: return "a string";
    case MF_KEY_PATH: return "a file path";
    case MF_KEY_CHOICE: return "one of the choices";
    case MF_KEY_LIST: return "a list";
    case MF_KEY_MAP:
    case MF_KEY_SECTION: return "a map";
    case MF_KEY_ANY: return "anything";
    }
    return "?";
}

static bool choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n))
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

static void check_value(mf_cfg *v, const mf_key_spec *k, mf_diag *d) {
    const char *where = mf_cfg_where(v), *path = mf_cfg_path(v);
    if (v->kind == MF_CFG_NULL) {
        if (!k->nullable && !(k->def && !strcmp(k->def, "~")))
            mf_diag_add(d, "%s: %s: expected %s, got null", where, path, type_name(k->type));
        return;
    }
    bool ok = true;
    double num = 0;
    switch (k->type) {
    case MF_KEY_BOOL: {
        bool b;
        ok = mf_cfg_as_bool(v, &b) == MF_OK;
        break;
    }
    case MF_KEY_INT: {
        int64_t i;
        ok = mf_cfg_as_int(v, &i) == MF_OK;
        num = (double)i;
        break;
    }
    case MF_KEY_FLOAT:
        ok = mf_cfg_as_float(v, &num) == MF_OK;
        break;
    case MF_KEY_STRING:
        ok = v->kind == MF_CFG_SCALAR;
        break;
    case MF_KEY_PATH: {
        ok = v->kind == MF_CFG_SCALAR;
        struct stat sb;
        if (ok && stat(v->value, &sb) != 0) {
            mf_diag_add(d, "%s: %s: file '%s' does not exist", where, path, v->value);
            return;
        }
        break;
    }
    case MF_KEY_CHOICE:
        ok = v->kind == MF_CFG_SCALAR;
        if (ok && !choice_ok(k->choices, v->value)) {
            char buf[512];
            snprintf(buf, sizeof buf, "%s", k->choices);
            const char *cand[32];
            int nc = 0;
            for (char *s = strtok(buf, "|"); s && nc < 32; s = strtok(NULL, "|"))
                cand[nc++] = s;
            const char *dym = mf_did_you_mean(v->value, cand, nc);
            mf_diag_add(d, "%s: %s: '%s' is not one of %s%s%s%s", where, path, v->value, k->choices,
                        dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
            return;
        }
        break;
    case MF_KEY_LIST:
        ok = v->kind == MF_CFG_LIST;
        break;
    case MF_KEY_MAP:
        ok = v->kind == MF_CFG_MAP;
        break;
    case MF_KEY_SECTION:
        ok = v->kind == MF_CFG_MAP;
        if (ok && k->section)
            mf_cfg_validate(v, k->section, d);
        break;
    case MF_KEY_ANY:
        break;
    }
    if (!ok) {
        mf_diag_add(d, "%s: %s: expected %s, got %s%s%s", where, path, type_name(k->type),
                    v->kind == MF_CFG_SCALAR ? "'" : (v->kind == MF_CFG_LIST ? "a list" : "a map"),
                    v->kind == MF_CFG_SCALAR ? v->value : "", v->kind == MF_CFG_SCALAR ? "'" : "");
        return;
    }
    if ((k->type == MF_KEY_INT || k->type == MF_KEY_FLOAT) &&
        ((!isnan(k->min) && num < k->min) || (!isnan(k->max) && num > k->max))) {
        char lo[32] = "-inf", hi[32] = "inf";
        if (!isnan(k->min))
            snprintf(lo, sizeof lo, "%g", k->min);
        if (!isnan(k->max))
            snprintf(hi, sizeof hi, "%g", k->max);
        mf_diag_add(d, "%s: %s: %s is outside the allowed range [%s, %s]", where, path, v->value, lo, hi);
    }
}

void mf_cfg_validate(mf_cfg *map, const mf_schema *schema, mf_diag *d) {
    if (map->kind != MF_CFG_MAP) {
        mf_diag_add(d, "%s: %s: expected a map of %s settings", mf_cfg_where(map), mf_cfg_path(map), schema->name);
        return;
    }
    const char *names[256];
    int nn = schema->n_keys < 256 ? schema->n_keys : 256;
    for (int i = 0; i < nn; i++)
        names[i] = schema->keys[i].name;
    for (int i = 0; i < map->n; i++) {
        mf_cfg *v = map->items[i];
        const mf_key_spec *k = NULL;
        for (int j = 0; j < schema->n_keys; j++)
            if (!strcmp(schema->keys[j].name, v->key))
                k = &schema->keys[j];
        if (!k) {
            if (schema->open)
                continue;
            const char *dym = mf_did_you_mean(v->key, names, nn);
            mf_diag_add(d, "%s: %s: unknown key '%s' for %s%s%s%s", mf_cfg_where(v), mf_cfg_path(v), v->key,
                        schema->name, dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
            continue;
        }
        check_value(v, k, d);
    }
    for (int j = 0; j < schema->n_keys; j++) {
        const mf_key_spec *k = &schema->keys[j];
        bool present = false;
        for (int i = 0; i < map->n; i++)
            if (!strcmp(map->items[i]->key, k->name))
                present = true;
        if (present)
            continue;
        if (!k->def) {
            mf_diag_add(d, "%s: %s: required key '%s' of %s is missing (%s)", mf_cfg_where(map),
                        map->parent ? mf_cfg_path(map) : "(top level)", k->name, schema->name, k->doc ? k->doc : "");
            continue;
        }
        mf_cfg *v = NULL;
        if (mf__cfg_parse(k->def, strlen(k->def), "<default>", &v) != MF_OK)
            continue;
        if (v->kind == MF_CFG_MAP && v->n == 0 && !k->def[0])
            v->kind = MF_CFG_NULL;
        v->line = v->col = 0;
        v->is_default = true;
        if (mf_cfg_map_put(map, k->name, v) != MF_OK) {
            mf_cfg_free(v);
            continue;
        }
        if (k->type == MF_KEY_SECTION && k->section && v->kind == MF_CFG_MAP)
            mf_cfg_validate(v, k->section, d);
    }
}
