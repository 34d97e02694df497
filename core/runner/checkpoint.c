/* Checkpoints: a directory per saved step holding the model state, the
 * optimiser state (safetensors) and a small state.json (step, epoch, trial,
 * RNG stream, best metric). A step directory is filled under a temporary
 * name and renamed into place; latest.json, written by temp file + fsync +
 * rename, names the newest complete one. A crash at any point leaves the
 * previous checkpoint loadable. */
#define _XOPEN_SOURCE 700
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/runner/internal.h"
#include "medfm/ops/reduce.h"
#include "medfm/io.h"
#include "medfm/nn.h"

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

mf_status mf__mkdirs(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return MF_ERR(MF_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return MF_ERR(MF_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
    return MF_OK;
}

mf_status mf__write_file_atomic(const char *path, const char *text) {
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return MF_ERR(MF_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return MF_ERR(MF_ERR_IO, "cannot write %s: %s", tmp, strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return MF_ERR(MF_ERR_IO, "cannot sync %s: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return MF_ERR(MF_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        fsync_dir(dir);
    } else {
        fsync_dir(".");
    }
    return MF_OK;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static mf_status save_model(const char *path, mf_module *model) {
    mf_named_tensors st = {0};
    MF_TRY(mf_module_state(model, &st));
    mf_status s = mf_state_dict_save(path, st.items, st.n, 0, NULL);
    mf_named_tensors_free(&st);
    return s;
}

static char *u64s(uint64_t v, char *buf) {
    snprintf(buf, 32, "%" PRIu64, v);
    return buf;
}

static mf_status write_state_json(const char *path, const mf_ckpt_state *s) {
    cJSON *o = cJSON_CreateObject();
    char b[32];
    cJSON_AddNumberToObject(o, "step", (double)s->step);
    cJSON_AddNumberToObject(o, "epoch", (double)s->epoch);
    cJSON_AddNumberToObject(o, "trial", (double)s->trial);
    cJSON_AddStringToObject(o, "seed", u64s(s->seed, b));
    cJSON_AddStringToObject(o, "task_rng_seed", u64s(s->task_rng.seed, b));
    cJSON_AddStringToObject(o, "task_rng_offset", u64s(s->task_rng.offset, b));
    cJSON_AddBoolToObject(o, "has_best", s->has_best);
    cJSON_AddNumberToObject(o, "best_value", s->has_best ? s->best_value : 0);
    cJSON_AddNumberToObject(o, "best_step", (double)s->best_step);
    cJSON_AddNumberToObject(o, "elapsed", s->elapsed);
    if (s->loss_scale > 0) { /* %.17g round trip: resume stays bit-identical */
        cJSON_AddNumberToObject(o, "loss_scale", s->loss_scale);
        cJSON_AddNumberToObject(o, "loss_scale_good_steps", (double)s->scale_good_steps);
        cJSON_AddNumberToObject(o, "loss_scale_skipped", (double)s->scale_skipped);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return MF_ERR(MF_ERR_NOMEM, "checkpoint state: out of memory");
    mf_status st = mf__write_file_atomic(path, text);
    free(text);
    return st;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = malloc((size_t)n + 1);
    if (t && fread(t, 1, (size_t)n, f) != (size_t)n) {
        free(t);
        t = NULL;
    }
    if (t)
        t[n] = 0;
    fclose(f);
    return t;
}

static uint64_t json_u64(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v))
        return strtoull(v->valuestring, NULL, 10);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 1.8e19))
        return 0; /* out of range (or NaN) reads as absent rather than as an undefined cast */
    return (uint64_t)v->valuedouble;
}

static double json_num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static mf_status read_state_json(const char *path, mf_ckpt_state *s) {
    char *t = read_text(path);
    if (!t)
        return MF_ERR(MF_ERR_NOT_FOUND, "checkpoint state %s cannot be read", path);
    cJSON *o = cJSON_Parse(t);
    free(t);
    if (!o)
        return MF_ERR(MF_ERR_FORMAT, "checkpoint state %s is not valid JSON", path);
    s->step = (int64_t)json_num(o, "step");
    s->epoch = (int64_t)json_num(o, "epoch");
    s->trial = (int64_t)json_num(o, "trial");
    s->seed = json_u64(o, "seed");
    s->task_rng.seed = json_u64(o, "task_rng_seed");
    s->task_rng.offset = json_u64(o, "task_rng_offset");
    s->has_best = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "has_best"));
    s->best_value = json_num(o, "best_value");
    s->best_step = (int64_t)json_num(o, "best_step");
    s->elapsed = json_num(o, "elapsed");
    s->loss_scale = json_num(o, "loss_scale");
    s->scale_good_steps = (int64_t)json_num(o, "loss_scale_good_steps");
    s->scale_skipped = (int64_t)json_num(o, "loss_scale_skipped");
    cJSON_Delete(o);
    return MF_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void prune(const char *ckpt_dir, const char *latest, int keep) {
    DIR *d = opendir(ckpt_dir);
    if (!d)
        return;
    char *names[4096];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 4096) {
        if (!strncmp(de->d_name, ".tmp-", 5)) {
            char p[PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", ckpt_dir, de->d_name);
            rm_rf(p);
        } else if (!strncmp(de->d_name, "step-", 5)) {
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str); /* zero-padded: sorts by step */
    for (int i = 0; i < n; i++) {
        if (names[i] && i < n - keep && strcmp(names[i], latest)) {
            char p[PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", ckpt_dir, names[i]);
            rm_rf(p);
        }
        free(names[i]);
    }
}

/* An error naming the first parameter holding inf/NaN, else MF_OK. */
static mf_status check_finite(mf_module *model, const char *ckpt_dir, int64_t step) {
    mf_named_tensors ps;
    MF_TRY(mf_module_named_parameters(model, &ps));
    mf_status st = MF_OK;
    for (int i = 0; st == MF_OK && i < ps.n; i++) {
        bool finite;
        st = mf_all_finite(ps.items[i].tensor, &finite);
        if (st == MF_OK && !finite)
            st = MF_ERR(MF_ERR_STATE,
                        "parameter %s holds inf/NaN after step %lld: training diverged; this step was not saved "
                        "and earlier checkpoints in %s are untouched (resume from the last with a lower optim.lr, "
                        "or set optim.clip_grad_norm)",
                        ps.items[i].name, (long long)step, ckpt_dir);
    }
    mf_named_tensors_free(&ps);
    return st;
}

mf_status mf__ckpt_save(const char *ckpt_dir, mf_module *model, const mf_optimizer *opt, const mf_ckpt_state *s,
                        int keep) {
    MF_TRY(check_finite(model, ckpt_dir, s->step));
    MF_TRY(mf__mkdirs(ckpt_dir));
    char name[64], final[PATH_MAX], tmp[PATH_MAX], p[PATH_MAX + 64];
    snprintf(name, sizeof name, "step-%09lld", (long long)s->step);
    snprintf(final, sizeof final, "%s/%s", ckpt_dir, name);
    struct stat sb;
    if (stat(final, &sb) == 0)
        goto point; /* this step is already saved (a resumed run's last step) */
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s", ckpt_dir, name);
    rm_rf(tmp);
    if (mkdir(tmp, 0755) != 0)
        return MF_ERR(MF_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    MF_TRY(save_model(p, model));
    if (opt) {
        snprintf(p, sizeof p, "%s/optim.safetensors", tmp);
        MF_TRY(mf_optim_state_save(opt, p));
    }
    snprintf(p, sizeof p, "%s/state.json", tmp);
    MF_TRY(write_state_json(p, s));
    fsync_dir(tmp);
    if (rename(tmp, final) != 0)
        return MF_ERR(MF_ERR_IO, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
    fsync_dir(ckpt_dir);
point:;
    char json[256];
    snprintf(json, sizeof json, "{\"dir\": \"%s\", \"step\": %lld}\n", name, (long long)s->step);
    snprintf(p, sizeof p, "%s/latest.json", ckpt_dir);
    MF_TRY(mf__write_file_atomic(p, json));
    prune(ckpt_dir, name, keep);
    return MF_OK;
}

static mf_status latest_dir(const char *ckpt_dir, char *out, size_t cap) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/latest.json", ckpt_dir);
    char *t = read_text(p);
    if (!t)
        return MF_ERR(MF_ERR_NOT_FOUND, "no checkpoint in %s (latest.json missing)", ckpt_dir);
    cJSON *o = cJSON_Parse(t);
    free(t);
    const cJSON *d = o ? cJSON_GetObjectItemCaseSensitive(o, "dir") : NULL;
    if (!cJSON_IsString(d) || strchr(d->valuestring, '/')) {
        cJSON_Delete(o);
        return MF_ERR(MF_ERR_FORMAT, "%s: malformed checkpoint pointer", p);
    }
    snprintf(out, cap, "%s/%s", ckpt_dir, d->valuestring);
    cJSON_Delete(o);
    return MF_OK;
}

mf_status mf__ckpt_load_latest(const char *ckpt_dir, mf_module *model, mf_optimizer *opt, mf_ckpt_state *s) {
    char dir[PATH_MAX], p[PATH_MAX + 64];
    MF_TRY(latest_dir(ckpt_dir, dir, sizeof dir));
    snprintf(p, sizeof p, "%s/state.json", dir);
    MF_TRY(read_state_json(p, s));
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    mf_named_tensors st = {0};
    MF_TRY(mf_module_state(model, &st));
    mf_status r = mf_state_dict_load(p, st.items, st.n, true, NULL);
    mf_named_tensors_free(&st);
    MF_TRY(r);
    if (opt) {
        snprintf(p, sizeof p, "%s/optim.safetensors", dir);
        MF_TRY(mf_optim_state_load(opt, p));
    }
    return MF_OK;
}

mf_status mf__load_model_weights(const char *path, mf_module *model) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return MF_ERR(MF_ERR_NOT_FOUND, "checkpoint %s does not exist", path);
    char file[PATH_MAX + 64];
    if (S_ISDIR(sb.st_mode)) {
        /* A run directory, its checkpoints/ directory, or a step directory. */
        char dir[PATH_MAX];
        snprintf(file, sizeof file, "%s/checkpoints", path);
        const char *ck = stat(file, &sb) == 0 ? file : path;
        snprintf(dir, sizeof dir, "%s", ck);
        snprintf(file, sizeof file, "%s/best.safetensors", dir);
        if (stat(file, &sb) != 0) {
            snprintf(file, sizeof file, "%s/model.safetensors", dir);
            if (stat(file, &sb) != 0) {
                char step[PATH_MAX];
                MF_TRY(latest_dir(dir, step, sizeof step));
                snprintf(file, sizeof file, "%s/model.safetensors", step);
            }
        }
    } else {
        snprintf(file, sizeof file, "%s", path);
    }
    mf_named_tensors st = {0};
    MF_TRY(mf_module_state(model, &st));
    mf_status r = mf_state_dict_load(file, st.items, st.n, true, NULL);
    mf_named_tensors_free(&st);
    return r;
}
