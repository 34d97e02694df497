/* Transform pipelines built from config lists: each item {name: ..., p: ...}
 * is checked against its transform's schema (unknown keys and bad values
 * are errors naming file:line), then run in order on a fresh view. Every
 * step draws its coin and parameters from the sample's stream. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/transforms.h"

#define NOL MF_NO_LIMIT
#define P_KEY(def) {"p", MF_KEY_FLOAT, def, "probability of applying the step", 0, 1, NULL, NULL, false}
#define NAME_KEY {"name", MF_KEY_STRING, NULL, "transform name", NOL, NOL, NULL, NULL, false}

static const mf_key_spec k_rrc[] = {NAME_KEY, P_KEY("1.0"),
    {"size", MF_KEY_INT, NULL, "output side in pixels", 1, 8192, NULL, NULL, false},
    {"scale", MF_KEY_LIST, "[0.08, 1.0]", "range of the crop's area fraction", NOL, NOL, NULL, NULL, false},
    {"ratio", MF_KEY_LIST, "[0.75, 1.3333333333]", "range of the crop's aspect ratio w/h (log-uniform)", NOL, NOL, NULL,
     NULL, false}};
static const mf_key_spec k_resize[] = {NAME_KEY, P_KEY("1.0"),
    {"size", MF_KEY_INT, NULL, "output side in pixels", 1, 8192, NULL, NULL, false}};
static const mf_key_spec k_center[] = {NAME_KEY, P_KEY("1.0"),
    {"size", MF_KEY_INT, NULL, "side of the centred window in pixels", 1, 8192, NULL, NULL, false}};
static const mf_key_spec k_flip[] = {NAME_KEY, P_KEY("0.5")};
static const mf_key_spec k_rot90[] = {NAME_KEY, P_KEY("1.0"),
    {"k", MF_KEY_INT, "-1", "quarter turns (-1: uniform among 0..3)", -1, 3, NULL, NULL, false}};
static const mf_key_spec k_jitter[] = {NAME_KEY, P_KEY("0.8"),
    {"brightness", MF_KEY_FLOAT, "0.4", "factor range [1-b, 1+b]", 0, NOL, NULL, NULL, false},
    {"contrast", MF_KEY_FLOAT, "0.4", "factor range [1-c, 1+c]", 0, NOL, NULL, NULL, false},
    {"saturation", MF_KEY_FLOAT, "0.2", "factor range [1-s, 1+s]", 0, NOL, NULL, NULL, false},
    {"hue", MF_KEY_FLOAT, "0.1", "hue shift range [-h, h]", 0, 0.5, NULL, NULL, false}};
static const mf_key_spec k_gray[] = {NAME_KEY, P_KEY("0.2"),
    {"channels", MF_KEY_INT, "0", "output channels on every sample (0: as the input); grey input is always expanded to them", 0, 4, NULL, NULL, false}};
static const mf_key_spec k_blur[] = {NAME_KEY, P_KEY("0.5"),
    {"sigma", MF_KEY_LIST, "[0.1, 2.0]", "sigma range in pixels", NOL, NOL, NULL, NULL, false}};
static const mf_key_spec k_solar[] = {NAME_KEY, P_KEY("0.2"),
    {"threshold", MF_KEY_FLOAT, "0.5", "values >= threshold become 1 - v", 0, 1, NULL, NULL, false}};
static const mf_key_spec k_norm[] = {NAME_KEY, P_KEY("1.0"),
    {"mean", MF_KEY_LIST, "[0.5]", "per-channel mean (one value: every channel)", NOL, NOL, NULL, NULL, false},
    {"std", MF_KEY_LIST, "[0.5]", "per-channel std", NOL, NOL, NULL, NULL, false}};
static const mf_key_spec k_float[] = {NAME_KEY, P_KEY("1.0")};
static const mf_key_spec k_crop3[] = {NAME_KEY, P_KEY("1.0"),
    {"size", MF_KEY_ANY, NULL, "crop size: one side or [d, h, w]", NOL, NOL, NULL, NULL, false}};
static const mf_key_spec k_flip3[] = {NAME_KEY, P_KEY("0.5"),
    {"axes", MF_KEY_LIST, "[0, 1, 2]", "axes flipped independently with probability p (0 = x)", NOL, NOL, NULL, NULL,
     false}};
static const mf_key_spec k_ss3[] = {NAME_KEY, P_KEY("1.0"),
    {"scale", MF_KEY_LIST, "[0.9, 1.1]", "intensity scale range", NOL, NOL, NULL, NULL, false},
    {"shift", MF_KEY_LIST, "[-0.1, 0.1]", "intensity shift range", NOL, NOL, NULL, NULL, false}};
static const mf_key_spec k_noise3[] = {NAME_KEY, P_KEY("0.5"),
    {"std", MF_KEY_FLOAT, "0.05", "noise standard deviation", 0, NOL, NULL, NULL, false}};

enum {
    T_RRC, T_RESIZE, T_CENTER, T_HFLIP, T_VFLIP, T_ROT90, T_JITTER, T_GRAY, T_BLUR, T_SOLAR, T_NORM, T_FLOAT,
    T_CROP3, T_FLIP3, T_SS3, T_NOISE3, T_COUNT
};

#define SCHEMA(nm, keys) {nm, keys, (int)(sizeof keys / sizeof keys[0]), false}
static const mf_schema schemas[T_COUNT] = {
    SCHEMA("random_resized_crop", k_rrc), SCHEMA("resize", k_resize), SCHEMA("center_crop", k_center),
    SCHEMA("hflip", k_flip), SCHEMA("vflip", k_flip), SCHEMA("rot90", k_rot90), SCHEMA("color_jitter", k_jitter),
    SCHEMA("grayscale", k_gray), SCHEMA("gaussian_blur", k_blur), SCHEMA("solarize", k_solar),
    SCHEMA("normalize", k_norm), SCHEMA("to_float", k_float), SCHEMA("random_crop3d", k_crop3),
    SCHEMA("flip3d", k_flip3), SCHEMA("scale_shift3d", k_ss3), SCHEMA("noise3d", k_noise3)};

const mf_schema *mf_transform_schema(const char *name) {
    for (int i = 0; i < T_COUNT; i++)
        if (name && !strcmp(schemas[i].name, name))
            return &schemas[i];
    return NULL;
}

#define MAXV 8
typedef struct step {
    int kind;
    double p;
    double v[MAXV];
    int nv; /* for normalize: channel count of mean/std */
    double w[MAXV];
} step;

struct mf_pipeline {
    step *steps;
    int n;
};

void mf_pipeline_free(mf_pipeline *p) {
    if (!p)
        return;
    free(p->steps);
    free(p);
}

/* list of 1..max floats (a scalar counts as a one-item list) */
static mf_status floats(const mf_cfg *map, const char *key, int min_n, int max_n, double *out, int *n) {
    const mf_cfg *c = mf_cfg_find(map, key);
    if (!c)
        return MF_ERR(MF_ERR_CONFIG, "%s: missing '%s'", mf_cfg_where(map), key);
    int k = 0;
    if (c->kind == MF_CFG_SCALAR) {
        MF_TRY(mf_cfg_as_float(c, &out[0]));
        k = 1;
    } else {
        if (c->kind != MF_CFG_LIST || c->n > max_n)
            return MF_ERR(MF_ERR_CONFIG, "%s: %s: expected a list of %d to %d numbers", mf_cfg_where(c), mf_cfg_path(c),
                          min_n, max_n);
        for (int i = 0; i < c->n; i++)
            MF_TRY(mf_cfg_as_float(c->items[i], &out[k++]));
    }
    if (k < min_n)
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: expected %d to %d numbers, got %d", mf_cfg_where(c), mf_cfg_path(c), min_n,
                      max_n, k);
    if (n)
        *n = k;
    return MF_OK;
}

static mf_status range(const mf_cfg *map, const char *key, double lo_min, double *out) {
    int n;
    MF_TRY(floats(map, key, 1, 2, out, &n));
    if (n == 1)
        out[1] = out[0];
    const mf_cfg *c = mf_cfg_find(map, key);
    if (!(out[0] <= out[1]) || out[0] < lo_min)
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: [%g, %g] is not a range with low >= %g", mf_cfg_where(c), mf_cfg_path(c),
                      out[0], out[1], lo_min);
    return MF_OK;
}

static mf_status build_step(mf_cfg *item, step *s) {
    const char *name = NULL;
    if (item->kind != MF_CFG_MAP || mf_cfg_get_string(item, "name", NULL, &name) != MF_OK || !name)
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: a transform is a map with a 'name'", mf_cfg_where(item),
                      mf_cfg_path(item));
    const mf_schema *sc = mf_transform_schema(name);
    if (!sc) {
        const char *names[T_COUNT];
        for (int i = 0; i < T_COUNT; i++)
            names[i] = schemas[i].name;
        const char *dym = mf_did_you_mean(name, names, T_COUNT);
        const mf_cfg *nc = mf_cfg_find(item, "name");
        return MF_ERR(MF_ERR_CONFIG, "%s: unknown transform '%s'%s%s%s", mf_cfg_where(nc), name,
                      dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
    }
    mf_diag d = {0};
    mf_cfg_validate(item, sc, &d);
    mf_status st = mf_diag_status(&d);
    mf_diag_free(&d);
    MF_TRY(st);
    memset(s, 0, sizeof *s);
    s->kind = (int)(sc - schemas);
    MF_TRY(mf_cfg_get_float(item, "p", 1, &s->p));
    int64_t iv;
    double dv;
    switch (s->kind) {
    case T_RRC:
        MF_TRY(mf_cfg_get_int(item, "size", 0, &iv));
        s->v[0] = (double)iv;
        MF_TRY(range(item, "scale", 1e-6, &s->v[1]));
        MF_TRY(range(item, "ratio", 1e-6, &s->v[3]));
        if (s->v[2] > 1)
            return MF_ERR(MF_ERR_CONFIG, "%s: scale must lie in (0, 1]", mf_cfg_where(mf_cfg_find(item, "scale")));
        break;
    case T_RESIZE:
    case T_CENTER:
        MF_TRY(mf_cfg_get_int(item, "size", 0, &iv));
        s->v[0] = (double)iv;
        break;
    case T_ROT90:
        MF_TRY(mf_cfg_get_int(item, "k", -1, &iv));
        s->v[0] = (double)iv;
        break;
    case T_JITTER:
        MF_TRY(mf_cfg_get_float(item, "brightness", 0, &s->v[0]));
        MF_TRY(mf_cfg_get_float(item, "contrast", 0, &s->v[1]));
        MF_TRY(mf_cfg_get_float(item, "saturation", 0, &s->v[2]));
        MF_TRY(mf_cfg_get_float(item, "hue", 0, &s->v[3]));
        break;
    case T_GRAY:
        MF_TRY(mf_cfg_get_int(item, "channels", 0, &iv));
        s->v[0] = (double)iv;
        break;
    case T_BLUR:
        MF_TRY(range(item, "sigma", 1e-3, &s->v[0]));
        break;
    case T_SOLAR:
        MF_TRY(mf_cfg_get_float(item, "threshold", 0.5, &s->v[0]));
        break;
    case T_NORM: {
        int nm, ns;
        MF_TRY(floats(item, "mean", 1, MAXV, s->v, &nm));
        MF_TRY(floats(item, "std", 1, MAXV, s->w, &ns));
        if (nm != ns)
            return MF_ERR(MF_ERR_CONFIG, "%s: normalize: %d means but %d stds", mf_cfg_where(item), nm, ns);
        for (int i = 0; i < ns; i++)
            if (!(s->w[i] > 0))
                return MF_ERR(MF_ERR_CONFIG, "%s: normalize: std %g must be positive",
                              mf_cfg_where(mf_cfg_find(item, "std")), s->w[i]);
        s->nv = nm;
        break;
    }
    case T_CROP3: {
        int n;
        MF_TRY(floats(item, "size", 1, 3, s->v, &n));
        if (n == 1)
            s->v[1] = s->v[2] = s->v[0];
        else if (n != 3)
            return MF_ERR(MF_ERR_CONFIG, "%s: random_crop3d: size is one number or [d, h, w]",
                          mf_cfg_where(mf_cfg_find(item, "size")));
        break;
    }
    case T_FLIP3: {
        int n;
        MF_TRY(floats(item, "axes", 1, 3, s->v, &n));
        for (int i = 0; i < n; i++)
            if (s->v[i] != 0 && s->v[i] != 1 && s->v[i] != 2)
                return MF_ERR(MF_ERR_CONFIG, "%s: flip3d: axis %g (0, 1 or 2)", mf_cfg_where(mf_cfg_find(item, "axes")),
                              s->v[i]);
        s->nv = n;
        break;
    }
    case T_SS3:
        MF_TRY(range(item, "scale", -1e9, &s->v[0]));
        MF_TRY(range(item, "shift", -1e9, &s->v[2]));
        break;
    case T_NOISE3:
        MF_TRY(mf_cfg_get_float(item, "std", 0, &dv));
        s->v[0] = dv;
        break;
    }
    return MF_OK;
}

mf_status mf_pipeline_from_cfg(mf_cfg *list, mf_pipeline **out) {
    if (list && list->kind == MF_CFG_NULL)
        list = NULL;
    if (list && list->kind != MF_CFG_LIST)
        return MF_ERR(MF_ERR_CONFIG, "%s: %s: transforms must be a list", mf_cfg_where(list), mf_cfg_path(list));
    mf_pipeline *p = calloc(1, sizeof *p);
    int n = list ? list->n : 0;
    if (!p || (n && !(p->steps = calloc((size_t)n, sizeof(step))))) {
        free(p);
        return MF_ERR(MF_ERR_NOMEM, "pipeline: out of memory");
    }
    for (int i = 0; i < n; i++) {
        mf_status st = build_step(list->items[i], &p->steps[i]);
        if (st != MF_OK) {
            mf_pipeline_free(p);
            return st;
        }
        p->n++;
    }
    *out = p;
    return MF_OK;
}

static mf_status run_step(const step *s, mf_aug *v, mf_rng *rng) {
    /* the coin is always drawn, so later steps see the same stream whether or not this one ran */
    bool on = mf_data_uniform(rng) < s->p;
    switch (s->kind) {
    case T_RRC: {
        double scale[2] = {s->v[1], s->v[2]}, ratio[2] = {s->v[3], s->v[4]};
        return on ? mf_tf_random_resized_crop(v, rng, (int64_t)s->v[0], (int64_t)s->v[0], scale, ratio) : MF_OK;
    }
    case T_RESIZE:
        return on ? mf_tf_resize(v, (int64_t)s->v[0], (int64_t)s->v[0]) : MF_OK;
    case T_CENTER: {
        if (!on)
            return MF_OK;
        if (v->dims != 2)
            return MF_ERR(MF_ERR_INVALID, "center_crop: needs a 2-D view");
        double c = s->v[0], H = (double)v->image->shape[1], W = (double)v->image->shape[2];
        return mf_tf_resized_crop(v, floor((H - c) / 2 + 0.5), floor((W - c) / 2 + 0.5), c, c, (int64_t)c, (int64_t)c);
    }
    case T_HFLIP:
        return on ? mf_tf_hflip(v) : MF_OK;
    case T_VFLIP:
        return on ? mf_tf_vflip(v) : MF_OK;
    case T_ROT90: {
        int k = s->v[0] < 0 ? (int)mf_data_randint(rng, 4) : (int)s->v[0];
        return on ? mf_tf_rot90(v, k) : MF_OK;
    }
    case T_JITTER:
        return on ? mf_tf_color_jitter(v, rng, s->v[0], s->v[1], s->v[2], s->v[3]) : MF_OK;
    case T_GRAY: {
        /* `channels` fixes the output's channel count on every sample: grey
         * input has no colour for the coin to keep, so it is always expanded;
         * colour input kept by the coin would come out with its own count. */
        int64_t c_in = v->image->shape[0], c_out = s->v[0] > 0 ? (int64_t)s->v[0] : c_in;
        if (!on && c_out != c_in && c_in > 1)
            return MF_ERR(MF_ERR_INVALID,
                          "grayscale: channels %lld with p %g leaves %lld-channel images unchanged on the other "
                          "draws, so samples would differ in channels; set p: 1",
                          (long long)c_out, s->p, (long long)c_in);
        return on || c_out != c_in ? mf_tf_grayscale(v, (int)c_out) : MF_OK;
    }
    case T_BLUR: {
        double sg = mf_data_range(rng, s->v[0], s->v[1]);
        return on ? mf_tf_gaussian_blur(v, sg) : MF_OK;
    }
    case T_SOLAR:
        return on ? mf_tf_solarize(v, s->v[0]) : MF_OK;
    case T_NORM:
        return on ? mf_tf_normalize(v, s->v, s->w, s->nv) : MF_OK;
    case T_FLOAT:
        return mf_aug_to_float(v);
    case T_CROP3: {
        int64_t size[3] = {(int64_t)s->v[0], (int64_t)s->v[1], (int64_t)s->v[2]};
        return on ? mf_tf3_random_crop(v, rng, size) : MF_OK;
    }
    case T_FLIP3:
        for (int i = 0; i < s->nv; i++) {
            bool f = i == 0 ? on : mf_data_uniform(rng) < s->p;
            if (f)
                MF_TRY(mf_tf3_flip(v, (int)s->v[i]));
        }
        return MF_OK;
    case T_SS3: {
        double a = mf_data_range(rng, s->v[0], s->v[1]), b = mf_data_range(rng, s->v[2], s->v[3]);
        return on ? mf_tf3_scale_shift(v, a, b) : MF_OK;
    }
    case T_NOISE3:
        return on ? mf_tf3_noise(v, rng, s->v[0]) : MF_OK;
    }
    return MF_ERR(MF_ERR_STATE, "pipeline: bad step kind %d", s->kind);
}

mf_status mf_pipeline_apply(const mf_pipeline *p, mf_rng *rng, int dims, mf_tensor *image, mf_tensor *mask,
                            mf_aug *out) {
    MF_TRY(mf_aug_init(out, dims, image, mask));
    for (int i = 0; p && i < p->n; i++) {
        mf_status st = run_step(&p->steps[i], out, rng);
        if (st != MF_OK) {
            mf_aug_clear(out);
            return mf_error_context(st, "transform %d (%s)", i, schemas[p->steps[i].kind].name);
        }
    }
    /* the batch holds float images in [0, 1] (or normalised) */
    mf_status st = mf_aug_to_float(out);
    if (st != MF_OK)
        mf_aug_clear(out);
    return st;
}
