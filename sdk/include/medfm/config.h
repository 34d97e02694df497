/* Experiment configs: YAML parsed into a tree that remembers where every
 * value was written (file:line:column), deep-merged over `base:` files,
 * overridden from the command line (`a.b=value`), and checked against the
 * key schemas that the core and each plugin declare. */
#ifndef MEDFM_CONFIG_H
#define MEDFM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "medfm/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MF_CFG_NULL, MF_CFG_SCALAR, MF_CFG_LIST, MF_CFG_MAP } mf_cfg_kind;

typedef struct mf_cfg mf_cfg;
struct mf_cfg {
    mf_cfg_kind kind;
    char *key;    /* member name inside a map, else NULL */
    char *value;  /* scalar text; NULL unless kind == MF_CFG_SCALAR */
    bool quoted;  /* scalar was quoted: always a string */
    char *file;   /* where it was written; "<command line>" for overrides */
    int line, col; /* 1-based; 0 when not from a file */
    bool is_default; /* filled in from a schema default */
    mf_cfg **items;  /* list items or map members, in order */
    int n, cap;
    mf_cfg *parent;
};

/* ---- reading ---- */
mf_status mf_cfg_parse_string(const char *text, const char *name, mf_cfg **out);
mf_status mf_cfg_parse_file(const char *path, mf_cfg **out);
/* parse_file + `base:` inheritance (paths relative to the including file,
 * deep merge, this file wins; cycles are errors) + ${VAR} expansion in
 * scalars (unset variables are errors naming file:line). */
mf_status mf_cfg_load(const char *path, mf_cfg **out);
void mf_cfg_free(mf_cfg *c);

/* ---- editing ---- */
/* Deep merge: maps merge member by member, anything else in src replaces;
 * a map whose `plugin:` or `type:` differs from the one it overrides
 * replaces it whole (the old component's keys would not apply). */
mf_status mf_cfg_merge(mf_cfg *dst, const mf_cfg *src);
/* Applies "a.b.c=value" (value parsed as YAML: scalar, [list] or {map}). */
mf_status mf_cfg_set(mf_cfg *root, const char *assignment);
mf_cfg *mf_cfg_clone(const mf_cfg *c);
/* Removes member `key` of a map (no-op when absent). */
void mf_cfg_remove(mf_cfg *map, const char *key);
/* New nodes (for code that builds configs). */
mf_cfg *mf_cfg_new(mf_cfg_kind kind, const char *value);
mf_status mf_cfg_map_put(mf_cfg *map, const char *key, mf_cfg *value); /* replaces */

/* ---- lookup ---- */
/* Member of a map by dotted path ("optim.schedule.name"; list items by
 * index, "data.train.0"); NULL when absent. */
mf_cfg *mf_cfg_find(const mf_cfg *c, const char *path);
/* "configs/x.yaml:12:5" (thread-local buffer). */
const char *mf_cfg_where(const mf_cfg *c);
/* Dotted path from the root ("optim.lr") (thread-local buffer). */
const char *mf_cfg_path(const mf_cfg *c);

/* Typed reads of a scalar; errors cite where and the key path. */
mf_status mf_cfg_as_bool(const mf_cfg *c, bool *out);
mf_status mf_cfg_as_int(const mf_cfg *c, int64_t *out);
mf_status mf_cfg_as_float(const mf_cfg *c, double *out);
mf_status mf_cfg_as_string(const mf_cfg *c, const char **out);

/* Convenience: typed member of a map with a fallback when absent. */
mf_status mf_cfg_get_bool(const mf_cfg *map, const char *path, bool def, bool *out);
mf_status mf_cfg_get_int(const mf_cfg *map, const char *path, int64_t def, int64_t *out);
mf_status mf_cfg_get_float(const mf_cfg *map, const char *path, double def, double *out);
mf_status mf_cfg_get_string(const mf_cfg *map, const char *path, const char *def, const char **out);

/* ---- writing ---- */
/* YAML text of the tree (caller frees). */
mf_status mf_cfg_to_yaml(const mf_cfg *c, char **out);
/* Writes it to `path` atomically. */
mf_status mf_cfg_write(const mf_cfg *c, const char *path);

/* ---- schemas ---- */
typedef enum {
    MF_KEY_BOOL,
    MF_KEY_INT,
    MF_KEY_FLOAT,
    MF_KEY_STRING,
    MF_KEY_PATH,    /* string naming a file that must exist (checked by validate) */
    MF_KEY_CHOICE,  /* string among `choices` ("a|b|c") */
    MF_KEY_LIST,    /* list of anything (items checked by the reader) */
    MF_KEY_MAP,     /* map of anything (checked by the reader) */
    MF_KEY_SECTION, /* map checked against `section` */
    MF_KEY_ANY,
} mf_key_type;

typedef struct mf_schema mf_schema;

typedef struct mf_key_spec {
    const char *name;
    mf_key_type type;
    const char *def; /* default as YAML text; NULL = required; "~" = null */
    const char *doc; /* one line */
    double min, max; /* numeric range; use MF_NO_LIMIT for none */
    const char *choices;
    const mf_schema *section;
    bool nullable; /* null is accepted */
} mf_key_spec;

#define MF_NO_LIMIT (__builtin_nan(""))

struct mf_schema {
    const char *name; /* for messages ("optim", "plugin resnet") */
    const mf_key_spec *keys;
    int n_keys;
    bool open; /* unknown keys allowed */
};

/* A list of problems, collected so `medfm validate` can show them all. */
typedef struct mf_diag {
    char **msgs;
    int n, cap;
} mf_diag;

void mf_diag_add(mf_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mf_diag_free(mf_diag *d);
/* All messages joined by newlines into the thread-local error and
 * MF_ERR_CONFIG, or MF_OK when empty. */
mf_status mf_diag_status(const mf_diag *d);

/* Checks `map` against the schema: unknown keys (with a "did you mean"),
 * wrong types, out-of-range values, unknown choices, missing required keys.
 * Missing optional keys are filled with their defaults (is_default). */
void mf_cfg_validate(mf_cfg *map, const mf_schema *schema, mf_diag *diag);

/* Closest of `candidates` to `word` within a small edit distance, or NULL. */
const char *mf_did_you_mean(const char *word, const char *const *candidates, int n);

#ifdef __cplusplus
}
#endif
#endif
