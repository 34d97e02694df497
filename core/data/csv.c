/* RFC 4180 CSV records for manifests (see csv.h). */
#include <stdlib.h>
#include <string.h>

#include "core/data/csv.h"

void mf_csv_init(mf_csv *c, const char *text, size_t len, const char *name) {
    c->text = text;
    c->len = len;
    c->pos = 0;
    c->line = 1;
    c->name = name;
}

static void clear_fields(mf_csv_record *r) {
    for (int i = 0; i < r->n; i++)
        free(r->fields[i]);
    r->n = 0;
}

void mf_csv_record_free(mf_csv_record *r) {
    clear_fields(r);
    free(r->fields);
    memset(r, 0, sizeof *r);
}

static mf_status push(mf_csv_record *r, const char *buf, size_t n, const mf_csv *c) {
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 8;
        char **f = realloc(r->fields, sizeof(char *) * (size_t)cap);
        if (!f)
            return MF_ERR(MF_ERR_NOMEM, "%s:%d: out of memory", c->name, c->line);
        r->fields = f;
        r->cap = cap;
    }
    char *s = malloc(n + 1);
    if (!s)
        return MF_ERR(MF_ERR_NOMEM, "%s:%d: out of memory", c->name, c->line);
    memcpy(s, buf, n);
    s[n] = 0;
    r->fields[r->n++] = s;
    return MF_OK;
}

mf_status mf_csv_next(mf_csv *c, mf_csv_record *r, int *eof) {
    clear_fields(r);
    *eof = 0;
    /* skip blank lines */
    while (c->pos < c->len && (c->text[c->pos] == '\n' || c->text[c->pos] == '\r')) {
        if (c->text[c->pos] == '\n')
            c->line++;
        c->pos++;
    }
    if (c->pos >= c->len) {
        *eof = 1;
        return MF_OK;
    }
    r->line = c->line;
    size_t cap = 64, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return MF_ERR(MF_ERR_NOMEM, "%s:%d: out of memory", c->name, c->line);
    mf_status st = MF_OK;
    for (;;) {
        n = 0;
        int quoted = c->pos < c->len && c->text[c->pos] == '"';
        if (quoted) {
            c->pos++;
            int closed = 0;
            while (c->pos < c->len) {
                char ch = c->text[c->pos++];
                if (ch == '"') {
                    if (c->pos < c->len && c->text[c->pos] == '"') {
                        c->pos++;
                    } else {
                        closed = 1;
                        break;
                    }
                } else if (ch == '\n') {
                    c->line++;
                } else if (ch == 0) {
                    st = MF_ERR(MF_ERR_FORMAT, "%s:%d: NUL byte inside a field", c->name, c->line);
                    goto done;
                }
                if (n + 1 >= cap) {
                    char *nb = realloc(buf, cap *= 2);
                    if (!nb) {
                        st = MF_ERR(MF_ERR_NOMEM, "%s:%d: out of memory", c->name, c->line);
                        goto done;
                    }
                    buf = nb;
                }
                buf[n++] = ch;
            }
            if (!closed) {
                st = MF_ERR(MF_ERR_FORMAT, "%s:%d: unterminated quoted field (opened on line %d)", c->name, c->line,
                            r->line);
                goto done;
            }
            if (c->pos < c->len && c->text[c->pos] != ',' && c->text[c->pos] != '\n' && c->text[c->pos] != '\r') {
                st = MF_ERR(MF_ERR_FORMAT, "%s:%d: unexpected '%c' after a closing quote", c->name, c->line,
                            c->text[c->pos]);
                goto done;
            }
        } else {
            while (c->pos < c->len) {
                char ch = c->text[c->pos];
                if (ch == ',' || ch == '\n' || ch == '\r')
                    break;
                if (ch == '"') {
                    st = MF_ERR(MF_ERR_FORMAT, "%s:%d: stray quote inside an unquoted field", c->name, c->line);
                    goto done;
                }
                if (ch == 0) {
                    st = MF_ERR(MF_ERR_FORMAT, "%s:%d: NUL byte in the file", c->name, c->line);
                    goto done;
                }
                if (n + 1 >= cap) {
                    char *nb = realloc(buf, cap *= 2);
                    if (!nb) {
                        st = MF_ERR(MF_ERR_NOMEM, "%s:%d: out of memory", c->name, c->line);
                        goto done;
                    }
                    buf = nb;
                }
                buf[n++] = ch;
                c->pos++;
            }
        }
        if ((st = push(r, buf, n, c)) != MF_OK)
            goto done;
        if (c->pos < c->len && c->text[c->pos] == ',') {
            c->pos++;
            continue;
        }
        /* end of record */
        if (c->pos < c->len && c->text[c->pos] == '\r')
            c->pos++;
        if (c->pos < c->len && c->text[c->pos] == '\n') {
            c->pos++;
            c->line++;
        }
        break;
    }
done:
    free(buf);
    return st;
}
