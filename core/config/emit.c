/* Config tree -> YAML text (block style), so a resolved config can be
 * written next to a run and re-run as is. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/config.h"

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} sbuf;

static void put(sbuf *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *src = tmp;
    char *big = NULL;
    if ((size_t)n >= sizeof tmp) {
        big = malloc((size_t)n + 1);
        if (!big) {
            s->oom = true;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        src = big;
    }
    if (s->len + (size_t)n + 1 > s->cap) {
        size_t cap = (s->len + (size_t)n + 1) * 2;
        char *p = realloc(s->buf, cap);
        if (!p) {
            s->oom = true;
            free(big);
            return;
        }
        s->buf = p;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, src, (size_t)n + 1);
    s->len += (size_t)n;
    free(big);
}

static bool needs_quotes(const mf_cfg *c) {
    const char *v = c->value;
    if (!*v)
        return true;
    if (c->quoted) {
        /* A quoted string that would read back as something else keeps them. */
        const char *special[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "True", "False", "Null"};
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
            if (!strcmp(v, special[i]))
                return true;
        char *end;
        strtod(v, &end);
        if (end != v && !*end)
            return true;
    }
    if (strchr("-?:,[]{}#&*!|>'\"%@` ", v[0]) && !(v[0] == '-' && (v[1] >= '0' && v[1] <= '9')))
        return true;
    if (strstr(v, ": ") || strstr(v, " #") || strchr(v, '\n') || v[strlen(v) - 1] == ' ' || v[strlen(v) - 1] == ':')
        return true;
    return false;
}

static void put_scalar(sbuf *s, const mf_cfg *c) {
    if (c->kind == MF_CFG_NULL) {
        put(s, "null");
        return;
    }
    if (!needs_quotes(c)) {
        put(s, "%s", c->value);
        return;
    }
    put(s, "\"");
    for (const char *p = c->value; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(s, "\\%c", *p);
        else if (*p == '\n')
            put(s, "\\n");
        else if (*p == '\t')
            put(s, "\\t");
        else
            put(s, "%c", *p);
    }
    put(s, "\"");
}

static bool is_inline(const mf_cfg *c) {
    return c->kind == MF_CFG_NULL || c->kind == MF_CFG_SCALAR || ((c->kind == MF_CFG_LIST || c->kind == MF_CFG_MAP) && c->n == 0);
}

static void put_inline(sbuf *s, const mf_cfg *c) {
    if (c->kind == MF_CFG_LIST)
        put(s, "[]");
    else if (c->kind == MF_CFG_MAP)
        put(s, "{}");
    else
        put_scalar(s, c);
}

static void emit(sbuf *s, const mf_cfg *c, int indent) {
    for (int i = 0; i < c->n; i++) {
        const mf_cfg *k = c->items[i];
        if (c->kind == MF_CFG_MAP)
            put(s, "%*s%s:", indent, "", k->key);
        else
            put(s, "%*s-", indent, "");
        if (is_inline(k)) {
            put(s, " ");
            put_inline(s, k);
            put(s, "\n");
        } else {
            put(s, "\n");
            emit(s, k, indent + 2);
        }
    }
}

mf_status mf_cfg_to_yaml(const mf_cfg *c, char **out) {
    sbuf s = {0};
    if (is_inline(c)) {
        put_inline(&s, c);
        put(&s, "\n");
    } else {
        emit(&s, c, 0);
    }
    if (s.oom || !s.buf) {
        free(s.buf);
        return MF_ERR(MF_ERR_NOMEM, "config: out of memory writing YAML");
    }
    *out = s.buf;
    return MF_OK;
}

mf_status mf_cfg_write(const mf_cfg *c, const char *path) {
    char *text;
    MF_TRY(mf_cfg_to_yaml(c, &text));
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(text);
        return MF_ERR(MF_ERR_IO, "%s: cannot write", tmp);
    }
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    ok = (fflush(f) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return MF_ERR(MF_ERR_IO, "%s: cannot write the config", path);
    }
    return MF_OK;
}
