/* Sources from config sections: {type: phantom2d | phantom3d |
 * image_folder | seg_folder | manifest | slices, ...}, each type with its
 * own schema so unknown keys and bad values are errors naming file:line. */
#include <string.h>

#include "medfm/data.h"

#define NOL MF_NO_LIMIT
#define TYPE_KEY {"type", MF_KEY_STRING, NULL, "source type", NOL, NOL, NULL, NULL, false}
#define PHANTOM_KEYS(sz)                                                                                       \
    TYPE_KEY, {"size", MF_KEY_INT, sz, "side in pixels/voxels", 8, 8192, NULL, NULL, false},                  \
        {"count", MF_KEY_INT, "512", "samples in the source", 1, 1e12, NULL, NULL, false},                     \
        {"channels", MF_KEY_INT, "1", "1 (gray) or 3", 1, 3, NULL, NULL, false},                              \
        {"num_classes", MF_KEY_INT, "2", "classes: number of lesions seen, capped", 1, 8, NULL, NULL, false}, \
        {"noise", MF_KEY_FLOAT, "0.03", "noise std relative to the intensity range", 0, 1, NULL, NULL, false}, \
        {"modality", MF_KEY_CHOICE, "mixed", "contrast table", NOL, NOL, "ct|mr|mixed", NULL, false},          \
        {"seed", MF_KEY_INT, "0", "generator seed (the data set; augmentations follow the run's seed)", NOL, NOL, NULL, \
         NULL, false},                                                                                          \
        {"offset", MF_KEY_INT, "0", "first generator index: disjoint offsets give disjoint train/val sets", 0, 1e15, \
         NULL, NULL, false}

static const mf_key_spec k_ph2[] = {PHANTOM_KEYS("64")};
static const mf_key_spec k_ph3[] = {PHANTOM_KEYS("32")};
static const mf_key_spec k_folder[] = {TYPE_KEY,
    {"root", MF_KEY_STRING, NULL, "folder holding one subfolder per class", NOL, NOL, NULL, NULL, false}};
static const mf_key_spec k_seg[] = {TYPE_KEY,
    {"root", MF_KEY_STRING, NULL, "folder holding images/ and masks/", NOL, NOL, NULL, NULL, false}};
static const mf_key_spec k_man[] = {TYPE_KEY,
    {"path", MF_KEY_STRING, NULL, "CSV or JSONL manifest", NOL, NOL, NULL, NULL, false},
    {"split", MF_KEY_STRING, "~", "rows whose split column equals this (null: all)", NOL, NOL, NULL, NULL, true}};
static const mf_key_spec k_slices[] = {TYPE_KEY,
    {"source", MF_KEY_MAP, NULL, "the 3-D source to slice", NOL, NOL, NULL, NULL, false},
    {"plane", MF_KEY_CHOICE, "axial", "slicing plane", NOL, NOL, "axial|coronal|sagittal", NULL, false},
    {"fg_prob", MF_KEY_FLOAT, "0.5", "probability of drawing a slice with foreground", 0, 1, NULL, NULL, false},
    {"per_volume", MF_KEY_INT, "1", "slices drawn per volume per epoch", 1, 1e6, NULL, NULL, false}};

#define SCHEMA(nm, keys) {nm, keys, (int)(sizeof keys / sizeof keys[0]), false}
static const mf_schema schemas[] = {SCHEMA("phantom2d", k_ph2),       SCHEMA("phantom3d", k_ph3),
                                    SCHEMA("image_folder", k_folder), SCHEMA("seg_folder", k_seg),
                                    SCHEMA("manifest", k_man),        SCHEMA("slices", k_slices)};
#define NS ((int)(sizeof schemas / sizeof schemas[0]))

const mf_schema *mf_source_type_schema(const char *type) {
    for (int i = 0; i < NS; i++)
        if (type && !strcmp(schemas[i].name, type))
            return &schemas[i];
    return NULL;
}

mf_status mf_source_from_cfg(mf_cfg *sec, uint64_t seed, mf_source **out) {
    const char *type = NULL;
    if (!sec || sec->kind != MF_CFG_MAP || mf_cfg_get_string(sec, "type", NULL, &type) != MF_OK || !type)
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: a source is a map with a 'type'", sec ? mf_cfg_where(sec) : "?",
                      sec ? mf_cfg_path(sec) : "source");
    const mf_schema *sc = mf_source_type_schema(type);
    if (!sc) {
        const char *names[NS];
        for (int i = 0; i < NS; i++)
            names[i] = schemas[i].name;
        const char *dym = mf_did_you_mean(type, names, NS);
        return MF_ERR(MF_ERR_CONFIG, "%s: unknown source type '%s'%s%s%s (phantom2d, phantom3d, image_folder, "
                      "seg_folder, manifest, slices)", mf_cfg_where(mf_cfg_find(sec, "type")), type,
                      dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
    }
    mf_diag d = {0};
    mf_cfg_validate(sec, sc, &d);
    mf_status st = mf_diag_status(&d);
    mf_diag_free(&d);
    MF_TRY(st);
    const char *s = NULL;
    if (!strcmp(type, "phantom2d") || !strcmp(type, "phantom3d")) {
        mf_phantom_opts o;
        mf_phantom_defaults(&o, type[7] == '3' ? 3 : 2);
        int64_t v, count;
        MF_TRY(mf_cfg_get_int(sec, "size", o.size, &o.size));
        MF_TRY(mf_cfg_get_int(sec, "count", 512, &count));
        MF_TRY(mf_cfg_get_int(sec, "channels", 1, &v));
        o.channels = (int)v;
        MF_TRY(mf_cfg_get_int(sec, "num_classes", 2, &v));
        o.num_classes = (int)v;
        MF_TRY(mf_cfg_get_float(sec, "noise", o.noise, &o.noise));
        MF_TRY(mf_cfg_get_string(sec, "modality", "mixed", &o.modality));
        int64_t gseed, offset;
        MF_TRY(mf_cfg_get_int(sec, "seed", 0, &gseed));
        MF_TRY(mf_cfg_get_int(sec, "offset", 0, &offset));
        st = mf_source_phantom(&o, (uint64_t)gseed, count, out);
        if (st == MF_OK)
            mf_source_phantom_set_offset(*out, offset);
    } else if (!strcmp(type, "image_folder")) {
        MF_TRY(mf_cfg_get_string(sec, "root", NULL, &s));
        st = mf_source_image_folder(s, out);
    } else if (!strcmp(type, "seg_folder")) {
        MF_TRY(mf_cfg_get_string(sec, "root", NULL, &s));
        st = mf_source_seg_folder(s, out);
    } else if (!strcmp(type, "manifest")) {
        const char *split = NULL;
        MF_TRY(mf_cfg_get_string(sec, "path", NULL, &s));
        const mf_cfg *sp = mf_cfg_find(sec, "split");
        if (sp && sp->kind == MF_CFG_SCALAR)
            split = sp->value;
        st = mf_source_manifest(s, split, out);
    } else {
        mf_plane plane;
        double fg;
        int64_t per;
        MF_TRY(mf_cfg_get_string(sec, "plane", "axial", &s));
        MF_TRY(mf_plane_parse(s, &plane));
        MF_TRY(mf_cfg_get_float(sec, "fg_prob", 0.5, &fg));
        MF_TRY(mf_cfg_get_int(sec, "per_volume", 1, &per));
        mf_source *vol;
        MF_TRY(mf_source_from_cfg(mf_cfg_find(sec, "source"), seed, &vol));
        st = mf_source_slices(vol, plane, fg, per, out);
    }
    if (st != MF_OK)
        return mf_error_context(st, "%s: %s source", mf_cfg_where(sec), type);
    return MF_OK;
}
