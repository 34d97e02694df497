/* YAML (libyaml document API) -> config tree with provenance. Anchors and
 * aliases resolve to copies; duplicate keys and non-scalar keys are errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/config/internal.h"

typedef struct {
    yaml_document_t *doc;
    const char *file;
    int depth;
} build_ctx;

static mf_status build(build_ctx *b, yaml_node_t *yn, mf_cfg **out) {
    if (++b->depth > 64)
        return MF_ERR(MF_ERR_CONFIG, "%s:%zu:%zu: nesting deeper than 64 levels", b->file, yn->start_mark.line + 1,
                      yn->start_mark.column + 1);
    mf_cfg *c = NULL;
    mf_status st = MF_OK;
    switch (yn->type) {
    case YAML_SCALAR_NODE: {
        const char *v = (const char *)yn->data.scalar.value;
        bool plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        bool is_null = plain && (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
                                 !strcmp(v, "NULL"));
        c = mf_cfg_new(is_null ? MF_CFG_NULL : MF_CFG_SCALAR, is_null ? NULL : v);
        if (c)
            c->quoted = !plain;
        break;
    }
    case YAML_SEQUENCE_NODE:
        c = mf_cfg_new(MF_CFG_LIST, NULL);
        for (yaml_node_item_t *it = yn->data.sequence.items.start; c && st == MF_OK && it < yn->data.sequence.items.top;
             it++) {
            mf_cfg *k;
            st = build(b, yaml_document_get_node(b->doc, *it), &k);
            if (st == MF_OK && (st = mf__cfg_append(c, k)) != MF_OK)
                mf_cfg_free(k);
        }
        break;
    case YAML_MAPPING_NODE:
        c = mf_cfg_new(MF_CFG_MAP, NULL);
        for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; c && st == MF_OK && p < yn->data.mapping.pairs.top;
             p++) {
            yaml_node_t *kn = yaml_document_get_node(b->doc, p->key);
            if (kn->type != YAML_SCALAR_NODE) {
                st = MF_ERR(MF_ERR_CONFIG, "%s:%zu:%zu: map keys must be plain names", b->file,
                            kn->start_mark.line + 1, kn->start_mark.column + 1);
                break;
            }
            const char *key = (const char *)kn->data.scalar.value;
            for (int i = 0; i < c->n; i++)
                if (!strcmp(c->items[i]->key, key)) {
                    st = MF_ERR(MF_ERR_CONFIG, "%s:%zu:%zu: key '%s' appears twice (first at line %d)", b->file,
                                kn->start_mark.line + 1, kn->start_mark.column + 1, key, c->items[i]->line);
                    break;
                }
            if (st != MF_OK)
                break;
            mf_cfg *v;
            st = build(b, yaml_document_get_node(b->doc, p->value), &v);
            if (st != MF_OK)
                break;
            /* A member's position is its key's, which is where a reader looks. */
            v->line = (int)kn->start_mark.line + 1;
            v->col = (int)kn->start_mark.column + 1;
            if (!(v->key = strdup(key)) || (st = mf__cfg_append(c, v)) != MF_OK) {
                mf_cfg_free(v);
                if (st == MF_OK)
                    st = MF_ERR(MF_ERR_NOMEM, "config: out of memory");
            }
        }
        break;
    default:
        c = mf_cfg_new(MF_CFG_NULL, NULL);
        break;
    }
    b->depth--;
    if (!c)
        return MF_ERR(MF_ERR_NOMEM, "config: out of memory");
    if (st != MF_OK) {
        mf_cfg_free(c);
        return st;
    }
    if (!c->line) {
        c->line = (int)yn->start_mark.line + 1;
        c->col = (int)yn->start_mark.column + 1;
    }
    if (!(c->file = strdup(b->file))) {
        mf_cfg_free(c);
        return MF_ERR(MF_ERR_NOMEM, "config: out of memory");
    }
    *out = c;
    return MF_OK;
}

mf_status mf__cfg_parse(const char *text, size_t len, const char *file, mf_cfg **out) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return MF_ERR(MF_ERR_NOMEM, "%s: cannot initialise the YAML parser", file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        mf_status st = MF_ERR(MF_ERR_CONFIG, "%s:%zu:%zu: YAML syntax error: %s%s%s", file,
                              parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                              parser.problem ? parser.problem : "malformed input", parser.context ? " " : "",
                              parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    mf_status st;
    mf_cfg *c = NULL;
    if (!root) {
        c = mf_cfg_new(MF_CFG_MAP, NULL); /* empty file: empty map */
        st = c && (c->file = strdup(file)) ? MF_OK : MF_ERR(MF_ERR_NOMEM, "config: out of memory");
    } else {
        build_ctx b = {&doc, file, 0};
        st = build(&b, root, &c);
    }
    /* Only one document per file. */
    if (st == MF_OK) {
        yaml_document_t next;
        if (yaml_parser_load(&parser, &next)) {
            if (yaml_document_get_root_node(&next))
                st = MF_ERR(MF_ERR_CONFIG, "%s: more than one YAML document ('---') in a config file", file);
            yaml_document_delete(&next);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (st != MF_OK) {
        mf_cfg_free(c);
        return st;
    }
    *out = c;
    return MF_OK;
}

mf_status mf_cfg_parse_string(const char *text, const char *name, mf_cfg **out) {
    return mf__cfg_parse(text, strlen(text), name ? name : "<string>", out);
}

mf_status mf_cfg_parse_file(const char *path, mf_cfg **out) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return MF_ERR(errno == ENOENT ? MF_ERR_NOT_FOUND : MF_ERR_IO, "%s: cannot open config: %s", path,
                      strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (64u << 20)) {
                free(buf);
                fclose(f);
                return MF_ERR(MF_ERR_CONFIG, "%s: config file larger than 64 MiB", path);
            }
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = p;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return MF_ERR(MF_ERR_IO, "%s: read error", path);
    }
    mf_status st = mf__cfg_parse(buf, len, path, out);
    free(buf);
    return st;
}
