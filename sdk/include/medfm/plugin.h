/* The plugin ABI. A plugin is a shared module linking libmedfm that exports
 * exactly one symbol, medfm_plugin_init, which checks the ABI version of the
 * core it is loaded into and registers factories by (kind, name):
 *
 *   MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
 *       MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "my_plugin"));
 *       return mf_registry_add(reg, &my_loss_info);
 *   }
 *
 * Version rule: the core's ABI major must equal the plugin's, and the core's
 * minor must not be older than the plugin's. Structs crossing the boundary
 * carry their size and only ever grow at the end. */
#ifndef MEDFM_PLUGIN_H
#define MEDFM_PLUGIN_H

#include <stdint.h>

#include "medfm/config.h"
#include "medfm/status.h"
#include "medfm/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MEDFM_PLUGIN_EXPORT __attribute__((visibility("default")))
#define MEDFM_PLUGIN_ENTRY_NAME "medfm_plugin_init"

typedef enum mf_plugin_kind {
    MF_KIND_ENCODER = 0,
    MF_KIND_SOLVER = 1,
    MF_KIND_GRAD_ESTIMATOR = 2,
    MF_KIND_LOSS = 3,
    MF_KIND_TASK = 4,
    MF_KIND_DATASET = 5,
    MF_KIND_COUNT
} mf_plugin_kind;

/* "encoder", "solver", "grad_estimator", "loss", "task", "dataset". */
const char *mf_plugin_kind_name(mf_plugin_kind k);
mf_status mf_plugin_kind_parse(const char *s, mf_plugin_kind *out);

/* What a plugin registers. `vtable` points at the kind's call table
 * (declared in the kind's SDK header); `schema` declares every config key
 * the factory reads. */
typedef struct mf_plugin_info {
    uint32_t size; /* sizeof(mf_plugin_info) as the plugin saw it */
    mf_plugin_kind kind;
    const char *name;
    const char *version;
    const char *doc; /* one line */
    const mf_schema *schema;
    const void *vtable;
} mf_plugin_info;

typedef struct mf_registry mf_registry;

typedef mf_status (*mf_plugin_init_fn)(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor);

/* Called by plugins from their init. Duplicate (kind, name) is an error. */
mf_status mf_registry_add(mf_registry *reg, const mf_plugin_info *info);

/* Inline so it compiles with the plugin's own ABI numbers. */
static inline mf_status mf_plugin_abi_check(uint32_t core_major, uint32_t core_minor, const char *plugin) {
    if (core_major != MEDFM_ABI_MAJOR)
        return MF_ERR(MF_ERR_PLUGIN, "%s: built for medfm ABI %d.%d, but the core has ABI %u.%u (major differs)",
                      plugin, MEDFM_ABI_MAJOR, MEDFM_ABI_MINOR, core_major, core_minor);
    const uint32_t plugin_minor = MEDFM_ABI_MINOR;
    if (core_minor < plugin_minor)
        return MF_ERR(MF_ERR_PLUGIN, "%s: built for medfm ABI %d.%d, newer than the core's %u.%u", plugin,
                      MEDFM_ABI_MAJOR, MEDFM_ABI_MINOR, core_major, core_minor);
    return MF_OK;
}

/* ---- the host side ---- */
mf_status mf_registry_new(mf_registry **out);
void mf_registry_free(mf_registry *reg);
/* Loads one plugin file. Errors name the file: not a shared object, missing
 * entry symbol, ABI mismatch, duplicate (kind, name), failing init (then
 * nothing it registered stays). Loading the same file twice is a no-op. */
mf_status mf_registry_load(mf_registry *reg, const char *path);
/* Loads every *.so in a directory (sorted by name). */
mf_status mf_registry_load_dir(mf_registry *reg, const char *dir);
/* The install's plugin directory, then each entry of MEDFM_PLUGIN_PATH
 * (colon-separated directories or files). */
mf_status mf_registry_load_defaults(mf_registry *reg);
/* The plugin directory of this libmedfm (beside it: <libdir>/medfm/plugins). */
const char *mf_plugin_dir(void);

const mf_plugin_info *mf_registry_find(const mf_registry *reg, mf_plugin_kind kind, const char *name);
/* Like find, but an error naming the kind, the name and the closest
 * registered name when missing. */
mf_status mf_registry_get(const mf_registry *reg, mf_plugin_kind kind, const char *name,
                          const mf_plugin_info **out);
int mf_registry_count(const mf_registry *reg);
const mf_plugin_info *mf_registry_at(const mf_registry *reg, int i);
/* File a registered plugin came from ("<built-in>" for the core's own). */
const char *mf_registry_file(const mf_registry *reg, int i);

#ifdef __cplusplus
}
#endif
#endif
