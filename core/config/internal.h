/* Internal helpers shared by the config files. */
#ifndef MF_CONFIG_INTERNAL_H
#define MF_CONFIG_INTERNAL_H

#include "medfm/config.h"

/* Appends child to a list or map (child->key already set for maps). */
mf_status mf__cfg_append(mf_cfg *parent, mf_cfg *child);
/* Parses YAML text; `file` names it in messages and provenance. */
mf_status mf__cfg_parse(const char *text, size_t len, const char *file, mf_cfg **out);

#endif
