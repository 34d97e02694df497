/* medfm embed CONFIG --input X --output F.safetensors [--all]: features of
 * safetensors tensors (as is) or of image/volume files (through the
 * config's evaluation transforms). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "medfm/autograd.h"
#include "medfm/image.h"
#include "medfm/io.h"
#include "medfm/nn.h"
#include "medfm/transforms.h"
#include "medfm/volume.h"

static const char help[] =
    "usage: medfm embed CONFIG --input FILE [--input ...] --output F.safetensors\n"
    "                   [--all] [--tensor NAME] [--device DEV] [key.sub=value ...]\n"
    "\n"
    "Runs the configured encoder (encoder.weights=FILE loads weights) in eval\n"
    "mode and writes `pooled` (N,D) and with --all each stage as `features.<i>`.\n"
    "A .safetensors input is fed as is (N,C,H,W or N,C,D,H,W; the file's only\n"
    "tensor or --tensor NAME). PNG/JPEG images and NIfTI volumes (.nii,\n"
    ".nii.gz, reoriented to RAS) go through the config's evaluation transforms\n"
    "(data.val.transforms, else data.test.transforms) as one sample each.\n"
    "Several inputs are concatenated in order (their shapes must agree).\n"
    "It runs on --device (cpu, cuda, cuda:N; default cpu): the config's `device`\n"
    "is where training runs and does not apply here.\n";

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* One image or volume file as a (1, C, ...) f32 batch through `pipe`. */
static mf_status load_file(const char *path, const mf_pipeline *pipe, mf_rng *rng, mf_tensor **out) {
    mf_tensor *img = NULL;
    int dims;
    if (ends_with(path, ".nii") || ends_with(path, ".nii.gz")) {
        mf_nifti_options o = {.canonical = true, .as_float = true};
        mf_volume v;
        MF_TRY(mf_nifti_read(path, &o, &v));
        if (v.data->ndim != 3) {
            mf_status st = MF_ERR(MF_ERR_SHAPE, "%s: embed takes 3-D volumes, got %s", path, MF_SHAPE(v.data));
            mf_volume_free(&v);
            return st;
        }
        mf_status st = mf_unsqueeze(v.data, 0, &img); /* (1, D, H, W) */
        mf_volume_free(&v);
        MF_TRY(st);
        dims = 3;
    } else {
        MF_TRY(mf_image_read(path, &img));
        dims = 2;
    }
    mf_aug a;
    memset(&a, 0, sizeof a);
    mf_status st = mf_pipeline_apply(pipe, rng, dims, img, NULL, &a);
    mf_tensor_release(img);
    mf_tensor *f = NULL;
    if (st == MF_OK)
        st = mf_to_dtype(a.image, MF_F32, &f);
    if (st == MF_OK)
        st = mf_unsqueeze(f, 0, out);
    mf_tensor_release(f);
    mf_aug_clear(&a);
    return st;
}

int cmd_embed(int argc, char **argv) {
    const char *config = NULL, *output = NULL, *tname = NULL, *dev_name = "cpu";
    const char **inputs = calloc((size_t)argc, sizeof *inputs), **over = calloc((size_t)argc, sizeof *over);
    int n_in = 0, n_over = 0, rc = EXIT_USAGE;
    bool all = false;
    mf_experiment *e = NULL;
    mf_encoder *enc = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(help, stdout);
            rc = EXIT_OK;
            goto done;
        } else if (!strcmp(a, "--input") && i + 1 < argc) {
            inputs[n_in++] = argv[++i];
        } else if (!strcmp(a, "--output") && i + 1 < argc) {
            output = argv[++i];
        } else if (!strcmp(a, "--tensor") && i + 1 < argc) {
            tname = argv[++i];
        } else if (!strcmp(a, "--device") && i + 1 < argc) {
            dev_name = argv[++i];
        } else if (!strcmp(a, "--all")) {
            all = true;
        } else if (a[0] == '-') {
            fprintf(stderr, "medfm embed: unknown option '%s'\n\n%s", a, help);
            goto done;
        } else if (strchr(a, '=')) {
            over[n_over++] = a;
        } else if (!config) {
            config = a;
        } else {
            fprintf(stderr, "medfm embed: unexpected argument '%s'\n", a);
            goto done;
        }
    }
    if (!config || !n_in || !output) {
        fprintf(stderr, "medfm embed: CONFIG, --input and --output are required\n\n%s", help);
        goto done;
    }
    mf_device dev;
    if (mf_device_parse(dev_name, &dev) != MF_OK) {
        fprintf(stderr, "medfm embed: --device: %s\n", mf_last_error());
        goto done;
    }
    if (mf_experiment_load(config, n_over, over, NULL, &e) != MF_OK) {
        fprintf(stderr, "medfm embed: %s\n", mf_last_error());
        goto done;
    }
    mf_cfg *esec = mf_cfg_find(e->config, "encoder");
    if (!esec || esec->kind != MF_CFG_MAP) {
        fprintf(stderr, "medfm embed: %s has no encoder section\n", config);
        goto done;
    }
    int64_t seed = 0;
    mf_cfg_get_int(e->config, "seed", 0, &seed);
    mf_rng rng;
    mf_rng_init(&rng, (uint64_t)seed);
    if (mf_plugin_create_encoder(e->registry, esec, &rng, &enc) != MF_OK) {
        fprintf(stderr, "medfm embed: %s\n", mf_last_error());
        rc = cli_exit_for(MF_ERR_CONFIG);
        goto done;
    }
    rc = EXIT_RUNTIME;
    if (mf_module_to_device(enc->module, dev) != MF_OK) {
        fprintf(stderr, "medfm embed: --device %s: %s\n", dev_name, mf_last_error());
        goto done;
    }
    mf_module_train(enc->module, false);
    mf_grad_set_enabled(false);
    /* Outputs per input, concatenated along N at the end. */
    int n_out = 0;
    const char *names[1 + MF_ENCODER_MAX_STAGES];
    char stage_names[MF_ENCODER_MAX_STAGES][32];
    mf_tensor **parts = calloc((size_t)n_in * (1 + MF_ENCODER_MAX_STAGES), sizeof *parts);
    /* Evaluation transforms for image and volume inputs. */
    mf_cfg *tl = mf_cfg_find(e->config, "data.val.transforms");
    if (!tl || tl->kind != MF_CFG_LIST)
        tl = mf_cfg_find(e->config, "data.test.transforms");
    mf_pipeline *pipe = NULL;
    if (mf_pipeline_from_cfg(tl && tl->kind == MF_CFG_LIST ? tl : NULL, &pipe) != MF_OK) {
        fprintf(stderr, "medfm embed: %s\n", mf_last_error());
        rc = cli_exit_for(MF_ERR_CONFIG);
        free(parts);
        goto done;
    }
    for (int k = 0; k < n_in; k++) {
        mf_tensor *x = NULL, *x32 = NULL;
        mf_status st = MF_OK;
        if (!ends_with(inputs[k], ".safetensors")) {
            st = load_file(inputs[k], pipe, &rng, &x32);
        } else {
            mf_safetensors *f;
            st = mf_safetensors_open(inputs[k], &f);
            const char *nm = NULL;
            if (st == MF_OK) {
                nm = tname ? tname : (mf_safetensors_count(f) == 1 ? mf_safetensors_name(f, 0) : NULL);
                if (!nm)
                    st = MF_ERR(MF_ERR_INVALID, "%s holds %d tensors: name one with --tensor", inputs[k],
                                mf_safetensors_count(f));
                if (st == MF_OK)
                    st = mf_safetensors_get(f, nm, &x);
                mf_safetensors_close(f);
            }
            if (st == MF_OK)
                st = mf_to_dtype(x, MF_F32, &x32);
            mf_tensor_release(x);
        }
        mf_encoder_output out;
        mf_tensor *xd = NULL;
        if (st == MF_OK)
            st = mf_to_device(x32, dev, &xd);
        if (st == MF_OK)
            st = enc->forward(enc, xd, all, &out);
        mf_tensor_release(x32);
        mf_tensor_release(xd);
        if (st == MF_OK) {
            n_out = 1 + (all ? out.n_stages : 0);
            for (int j = 0; j < n_out && st == MF_OK; j++) /* results on the host */
                st = mf_to_device(j ? out.stages[j - 1] : out.pooled, MF_DEVICE_CPU,
                                  &parts[k * (1 + MF_ENCODER_MAX_STAGES) + j]);
            mf_encoder_output_clear(&out);
        }
        if (st != MF_OK) {
            fprintf(stderr, "medfm embed: %s: %s\n", inputs[k], mf_last_error());
            for (int i = 0; i < n_in * (1 + MF_ENCODER_MAX_STAGES); i++)
                mf_tensor_release(parts[i]);
            free(parts);
            mf_pipeline_free(pipe);
            goto done;
        }
    }
    mf_pipeline_free(pipe);
    mf_tensor *cat[1 + MF_ENCODER_MAX_STAGES] = {0};
    mf_status st = MF_OK;
    mf_tensor **items = calloc((size_t)(n_in > 0 ? n_in : 1), sizeof *items);
    if (!items)
        st = MF_ERR(MF_ERR_NOMEM, "embed: out of memory");
    for (int j = 0; j < n_out && st == MF_OK; j++) {
        for (int k = 0; k < n_in; k++)
            items[k] = parts[k * (1 + MF_ENCODER_MAX_STAGES) + j];
        st = n_in == 1 ? (cat[j] = mf_tensor_retain(items[0]), MF_OK) : mf_concat(n_in, items, 0, &cat[j]);
        if (j == 0)
            names[j] = "pooled";
        else {
            snprintf(stage_names[j - 1], sizeof stage_names[0], "features.%d", j - 1);
            names[j] = stage_names[j - 1];
        }
    }
    free(items);
    if (st == MF_OK)
        st = mf_safetensors_save(output, n_out, names, cat, 0, NULL);
    if (st != MF_OK)
        fprintf(stderr, "medfm embed: %s\n", mf_last_error());
    else {
        printf("%s: pooled %s", output, MF_SHAPE(cat[0]));
        printf("%s\n", n_out > 1 ? " + stage features" : "");
        rc = EXIT_OK;
    }
    for (int j = 0; j < n_out; j++)
        mf_tensor_release(cat[j]);
    for (int i = 0; i < n_in * (1 + MF_ENCODER_MAX_STAGES); i++)
        mf_tensor_release(parts[i]);
    free(parts);
done:
    if (enc && enc->destroy)
        enc->destroy(enc);
    mf_experiment_free(e);
    free(inputs);
    free(over);
    return rc;
}
