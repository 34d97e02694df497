/* The plugin registry: factories by (kind, name) with the file each came
 * from, and the dlopen loader that fills it. Plugins load with RTLD_LOCAL so
 * two plugins never see each other's symbols. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medfm/plugin.h"

typedef struct {
    mf_plugin_info info;
    int file; /* index into files */
} entry;

typedef struct {
    char *path;
    void *handle;
} loaded_file;

struct mf_registry {
    entry *entries;
    int n, cap;
    loaded_file *files;
    int nfiles, capfiles;
    int loading; /* file index being initialised, or -1 */
};

static const char *kind_names[MF_KIND_COUNT] = {"encoder", "solver", "grad_estimator", "loss", "task", "dataset"};

const char *mf_plugin_kind_name(mf_plugin_kind k) {
    return (unsigned)k < MF_KIND_COUNT ? kind_names[k] : "unknown-kind";
}

mf_status mf_plugin_kind_parse(const char *s, mf_plugin_kind *out) {
    for (int i = 0; i < MF_KIND_COUNT; i++)
        if (!strcmp(s, kind_names[i])) {
            *out = (mf_plugin_kind)i;
            return MF_OK;
        }
    const char *dym = mf_did_you_mean(s, kind_names, MF_KIND_COUNT);
    return MF_ERR(MF_ERR_INVALID, "unknown plugin kind '%s' (kinds: encoder, solver, grad_estimator, loss, task, "
                                  "dataset)%s%s%s",
                  s, dym ? "; did you mean '" : "", dym ? dym : "", dym ? "'?" : "");
}

mf_status mf_registry_new(mf_registry **out) {
    mf_registry *r = calloc(1, sizeof *r);
    if (!r)
        return MF_ERR(MF_ERR_NOMEM, "registry: out of memory");
    r->loading = -1;
    *out = r;
    return MF_OK;
}

void mf_registry_free(mf_registry *reg) {
    if (!reg)
        return;
    free(reg->entries);
    for (int i = 0; i < reg->nfiles; i++) {
        /* Plugins stay mapped: tensors or callbacks they created may outlive
         * the registry (and ASan's leak reports need their symbols). */
        free(reg->files[i].path);
    }
    free(reg->files);
    free(reg);
}

mf_status mf_registry_add(mf_registry *reg, const mf_plugin_info *info) {
    if (!reg || !info)
        return MF_ERR(MF_ERR_INVALID, "registry_add: NULL argument");
    const char *file = reg->loading >= 0 ? reg->files[reg->loading].path : "<built-in>";
    if (info->size < offsetof(mf_plugin_info, vtable) + sizeof(void *))
        return MF_ERR(MF_ERR_PLUGIN, "%s: plugin info of size %u is too small", file, info->size);
    if ((unsigned)info->kind >= MF_KIND_COUNT || !info->name || !*info->name)
        return MF_ERR(MF_ERR_PLUGIN, "%s: plugin registers an invalid kind or an empty name", file);
    for (int i = 0; i < reg->n; i++)
        if (reg->entries[i].info.kind == info->kind && !strcmp(reg->entries[i].info.name, info->name)) {
            int f = reg->entries[i].file;
            return MF_ERR(MF_ERR_PLUGIN, "%s: %s '%s' is already registered by %s", file,
                          mf_plugin_kind_name(info->kind), info->name, f >= 0 ? reg->files[f].path : "<built-in>");
        }
    if (reg->n == reg->cap) {
        int cap = reg->cap ? reg->cap * 2 : 16;
        entry *p = realloc(reg->entries, (size_t)cap * sizeof *p);
        if (!p)
            return MF_ERR(MF_ERR_NOMEM, "registry: out of memory");
        reg->entries = p;
        reg->cap = cap;
    }
    entry *e = &reg->entries[reg->n++];
    memset(e, 0, sizeof *e);
    /* Copy what the plugin's struct has; newer fields stay zero. */
    memcpy(&e->info, info, info->size < sizeof e->info ? info->size : sizeof e->info);
    e->info.size = sizeof e->info;
    e->file = reg->loading;
    return MF_OK;
}

static bool is_elf(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    unsigned char m[4];
    bool ok = read(fd, m, 4) == 4 && m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' && m[3] == 'F';
    close(fd);
    return ok;
}

mf_status mf_registry_load(mf_registry *reg, const char *path) {
    char real[PATH_MAX];
    if (!realpath(path, real))
        return MF_ERR(errno == ENOENT ? MF_ERR_NOT_FOUND : MF_ERR_IO, "plugin %s: %s", path, strerror(errno));
    for (int i = 0; i < reg->nfiles; i++)
        if (!strcmp(reg->files[i].path, real))
            return MF_OK;
    if (!is_elf(real))
        return MF_ERR(MF_ERR_PLUGIN, "plugin %s: not a shared object (no ELF header)", real);
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return MF_ERR(MF_ERR_PLUGIN, "plugin %s: cannot load: %s", real, dlerror());
    mf_plugin_init_fn init = (mf_plugin_init_fn)dlsym(h, MEDFM_PLUGIN_ENTRY_NAME);
    if (!init) {
        dlclose(h);
        return MF_ERR(MF_ERR_PLUGIN, "plugin %s: missing entry symbol '%s' (is it a medfm plugin?)", real,
                      MEDFM_PLUGIN_ENTRY_NAME);
    }
    if (reg->nfiles == reg->capfiles) {
        int cap = reg->capfiles ? reg->capfiles * 2 : 8;
        loaded_file *p = realloc(reg->files, (size_t)cap * sizeof *p);
        if (!p) {
            dlclose(h);
            return MF_ERR(MF_ERR_NOMEM, "registry: out of memory");
        }
        reg->files = p;
        reg->capfiles = cap;
    }
    int fi = reg->nfiles++;
    reg->files[fi].path = strdup(real);
    reg->files[fi].handle = h;
    int before = reg->n;
    reg->loading = fi;
    mf_error_clear();
    mf_status st = init(reg, MEDFM_ABI_MAJOR, MEDFM_ABI_MINOR);
    reg->loading = -1;
    if (st != MF_OK) {
        /* Undo whatever it registered before failing. */
        reg->n = before;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mf_last_error());
        free(reg->files[fi].path);
        reg->nfiles--;
        dlclose(h);
        if (st == MF_ERR_PLUGIN && strstr(msg, "ABI"))
            return MF_ERR(MF_ERR_PLUGIN, "plugin %s: ABI mismatch: %s", real, msg);
        return MF_ERR(MF_ERR_PLUGIN, "plugin %s: initialisation failed (%s): %s", real, mf_status_name(st),
                      *msg ? msg : "no message");
    }
    return MF_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

mf_status mf_registry_load_dir(mf_registry *reg, const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return MF_ERR(errno == ENOENT ? MF_ERR_NOT_FOUND : MF_ERR_IO, "plugin directory %s: %s", dir,
                      strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 3, ".so"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(names, (size_t)cap * sizeof *p);
            if (!p)
                break;
            names = p;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    mf_status st = MF_OK;
    for (int i = 0; i < n; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (st == MF_OK)
            st = mf_registry_load(reg, p);
        free(names[i]);
    }
    free(names);
    return st;
}

const char *mf_plugin_dir(void) {
    static _Thread_local char buf[PATH_MAX];
    Dl_info info;
    if (dladdr((void *)&mf_plugin_dir, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash) {
            snprintf(buf, sizeof buf, "%.*s/medfm/plugins", (int)(slash - info.dli_fname), info.dli_fname);
            return buf;
        }
    }
    return "medfm/plugins";
}

mf_status mf_registry_load_defaults(mf_registry *reg) {
    struct stat sb;
    const char *dir = mf_plugin_dir();
    if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
        MF_TRY(mf_registry_load_dir(reg, dir));
    const char *env = getenv("MEDFM_PLUGIN_PATH");
    if (!env || !*env)
        return MF_OK;
    char *copy = strdup(env), *save = NULL;
    mf_status st = MF_OK;
    for (char *p = strtok_r(copy, ":", &save); p && st == MF_OK; p = strtok_r(NULL, ":", &save)) {
        if (stat(p, &sb) != 0)
            st = MF_ERR(MF_ERR_NOT_FOUND, "MEDFM_PLUGIN_PATH entry %s does not exist", p);
        else if (S_ISDIR(sb.st_mode))
            st = mf_registry_load_dir(reg, p);
        else
            st = mf_registry_load(reg, p);
    }
    free(copy);
    return st;
}

const mf_plugin_info *mf_registry_find(const mf_registry *reg, mf_plugin_kind kind, const char *name) {
    for (int i = 0; i < reg->n; i++)
        if (reg->entries[i].info.kind == kind && !strcmp(reg->entries[i].info.name, name))
            return &reg->entries[i].info;
    return NULL;
}

mf_status mf_registry_get(const mf_registry *reg, mf_plugin_kind kind, const char *name,
                          const mf_plugin_info **out) {
    const mf_plugin_info *p = mf_registry_find(reg, kind, name);
    if (p) {
        *out = p;
        return MF_OK;
    }
    const char *cand[256];
    int nc = 0;
    char avail[512] = "";
    size_t len = 0;
    for (int i = 0; i < reg->n && nc < 256; i++)
        if (reg->entries[i].info.kind == kind) {
            cand[nc++] = reg->entries[i].info.name;
            len += (size_t)snprintf(avail + len, len < sizeof avail ? sizeof avail - len : 0, "%s%s", nc > 1 ? ", " : "",
                                    reg->entries[i].info.name);
        }
    const char *dym = mf_did_you_mean(name, cand, nc);
    return MF_ERR(MF_ERR_NOT_FOUND, "no %s plugin named '%s'%s%s%s; available: %s", mf_plugin_kind_name(kind), name,
                  dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "", nc ? avail : "none");
}

int mf_registry_count(const mf_registry *reg) { return reg->n; }

const mf_plugin_info *mf_registry_at(const mf_registry *reg, int i) {
    return i >= 0 && i < reg->n ? &reg->entries[i].info : NULL;
}

const char *mf_registry_file(const mf_registry *reg, int i) {
    if (i < 0 || i >= reg->n)
        return NULL;
    int f = reg->entries[i].file;
    return f >= 0 ? reg->files[f].path : "<built-in>";
}
