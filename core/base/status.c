/* Thread-local error message storage behind mf_last_error(). */
#include "medfm/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MF_ERRBUF 2048
static _Thread_local char mf_errbuf[MF_ERRBUF];

const char *mf_last_error(void) { return mf_errbuf; }

void mf_error_clear(void) { mf_errbuf[0] = '\0'; }

const char *mf_status_name(mf_status st) {
    switch (st) {
    case MF_OK: return "ok";
    case MF_ERR_INVALID: return "invalid argument";
    case MF_ERR_SHAPE: return "shape error";
    case MF_ERR_DTYPE: return "dtype error";
    case MF_ERR_DEVICE: return "device error";
    case MF_ERR_IO: return "I/O error";
    case MF_ERR_FORMAT: return "format error";
    case MF_ERR_NOMEM: return "out of memory";
    case MF_ERR_STATE: return "invalid state";
    case MF_ERR_UNSUPPORTED: return "unsupported";
    case MF_ERR_CONFIG: return "configuration error";
    case MF_ERR_PLUGIN: return "plugin error";
    case MF_ERR_NOT_FOUND: return "not found";
    case MF_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

mf_status mf_error_at(mf_status st, const char *file, int line, const char *fmt, ...) {
    const char *base = strrchr(file, '/');
    /* Keep the path from the source root ("core/ops/conv.c") for readability. */
    const char *shown = file;
    const char *roots[] = {"/core/", "/plugins/", "/cli/", "/tests/", "/sdk/", "/bench/"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        const char *p = strstr(file, roots[i]);
        if (p) {
            shown = p + 1;
            break;
        }
    }
    if (shown == file && base)
        shown = base + 1;
    int n = snprintf(mf_errbuf, MF_ERRBUF, "%s:%d: ", shown, line);
    if (n < 0 || n >= MF_ERRBUF)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mf_errbuf + n, MF_ERRBUF - (size_t)n, fmt, ap);
    va_end(ap);
    return st;
}

mf_status mf_error_plain(mf_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mf_errbuf, MF_ERRBUF, fmt, ap);
    va_end(ap);
    return st;
}

mf_status mf_error_context(mf_status st, const char *fmt, ...) {
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[MF_ERRBUF];
    memcpy(old, mf_errbuf, MF_ERRBUF);
    snprintf(mf_errbuf, MF_ERRBUF, "%s: %s", prefix, old);
    return st;
}
