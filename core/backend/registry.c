/* Chooses the backend of a device. The CPU backend is linked in; the CUDA
 * backend lives in its own module (libmedfm_cuda.so) loaded on first use, so
 * that CPU runs never need a GPU, a driver or the CUDA libraries. */
#define _GNU_SOURCE
#include "core/backend/backend.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const mf_backend mf_cpu_backend;

typedef mf_status (*mf_cuda_entry_fn)(const mf_backend **out, char *err, size_t errlen);

static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static const mf_backend *cuda_backend;
static mf_status cuda_status = MF_ERR_DEVICE;
static char cuda_error[1024];
static void *cuda_handle;

#ifndef MEDFM_CUDA_MODULE_NAME
#define MEDFM_CUDA_MODULE_NAME "libmedfm_cuda.so"
#endif

static void load_cuda(void) {
    /* MEDFM_CUDA_MODULE overrides the path (tests, uninstalled builds);
     * otherwise the module is looked up beside libmedfm via the loader path. */
    const char *path = getenv("MEDFM_CUDA_MODULE");
    Dl_info info;
    char local[4096];
    if (!path || !*path) {
        path = MEDFM_CUDA_MODULE_NAME;
        if (dladdr((void *)&mf_backend_get, &info) && info.dli_fname) {
            const char *slash = strrchr(info.dli_fname, '/');
            if (slash) {
                snprintf(local, sizeof local, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname,
                         MEDFM_CUDA_MODULE_NAME);
                path = local;
            }
        }
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(cuda_error, sizeof cuda_error,
                 "CUDA backend module not available (%s); this build may lack CUDA", dlerror());
        return;
    }
    mf_cuda_entry_fn entry = (mf_cuda_entry_fn)dlsym(h, "mf_cuda_backend_init");
    if (!entry) {
        snprintf(cuda_error, sizeof cuda_error, "%s has no entry symbol mf_cuda_backend_init", path);
        return;
    }
    cuda_handle = h;
    cuda_status = entry(&cuda_backend, cuda_error, sizeof cuda_error);
    if (cuda_status != MF_OK)
        cuda_backend = NULL;
}

mf_status mf_backend_get(mf_device dev, const mf_backend **out) {
    if (dev.type == MF_CPU) {
        *out = &mf_cpu_backend;
        return MF_OK;
    }
    if (dev.type == MF_CUDA) {
        pthread_once(&cuda_once, load_cuda);
        if (!cuda_backend)
            return MF_ERR(MF_ERR_DEVICE, "device cuda:%d: %s", dev.index, cuda_error);
        *out = cuda_backend;
        return MF_OK;
    }
    return MF_ERR(MF_ERR_DEVICE, "unknown device type %d", dev.type);
}

mf_status mf_backend_of(const mf_tensor *t, const mf_backend **out) {
    return mf_backend_get(t->storage->device, out);
}

mf_status mf__need_cuda(mf_device dev, const char *what, const char *rule) {
    if (dev.type != MF_CUDA)
        return MF_ERR(MF_ERR_DEVICE, "%s: %s, not %s", what, rule, mf_device_name(dev));
    const mf_backend *be;
    return mf_backend_get(dev, &be);
}

mf_status mf__cuda_symbol(const char *name, void **fn) {
    const mf_backend *be;
    MF_TRY(mf_backend_get((mf_device){MF_CUDA, 0}, &be));
    *fn = dlsym(cuda_handle, name);
    if (!*fn)
        return MF_ERR(MF_ERR_DEVICE, "the CUDA module has no %s (built from another medfm version?)", name);
    return MF_OK;
}
