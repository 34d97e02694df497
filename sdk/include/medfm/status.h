/* Status codes and the thread-local error message every fallible medfm
 * function leaves behind. Functions return mf_status (0 = ok) and write
 * results through out-pointers; mf_last_error() says what went wrong where. */
#ifndef MEDFM_STATUS_H
#define MEDFM_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mf_status {
    MF_OK = 0,
    MF_ERR_INVALID = 1,     /* bad argument value */
    MF_ERR_SHAPE = 2,       /* shapes do not agree */
    MF_ERR_DTYPE = 3,       /* dtype not allowed or mismatched */
    MF_ERR_DEVICE = 4,      /* device mismatch or device unavailable */
    MF_ERR_IO = 5,          /* file system error */
    MF_ERR_FORMAT = 6,      /* malformed file content */
    MF_ERR_NOMEM = 7,       /* allocation failed */
    MF_ERR_STATE = 8,       /* call not valid in the current state */
    MF_ERR_UNSUPPORTED = 9, /* valid request this build/backend cannot do */
    MF_ERR_CONFIG = 10,     /* configuration error */
    MF_ERR_PLUGIN = 11,     /* plugin loading or ABI error */
    MF_ERR_NOT_FOUND = 12,  /* named thing (key, file, plugin) does not exist */
    MF_ERR_INTERRUPTED = 13 /* stopped by a signal or a user request */
} mf_status;

/* Message of the last failure on this thread: "file:line: text". */
const char *mf_last_error(void);
/* Short name of a status code ("shape error"). */
const char *mf_status_name(mf_status st);

/* Records a failure and returns `st`, so callers can `return mf_error(...)`. */
mf_status mf_error_at(mf_status st, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Records a message that already names its place (e.g. a list of config
 * problems, each with file:line:col) without adding one. */
mf_status mf_error_plain(mf_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with more context ("loading x.safetensors: ...")
 * and returns `st` unchanged. */
mf_status mf_error_context(mf_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mf_error_clear(void);

#define MF_ERR(st, ...) mf_error_at((st), __FILE__, __LINE__, __VA_ARGS__)

/* Propagate a failure from a callee: `MF_TRY(mf_foo(...));` */
#define MF_TRY(expr)                   \
    do {                               \
        mf_status mf_try_st_ = (expr); \
        if (mf_try_st_ != MF_OK)       \
            return mf_try_st_;         \
    } while (0)

/* Same, but jumps to a cleanup label, leaving the status in `st`. */
#define MF_CHECK(expr)        \
    do {                      \
        st = (expr);          \
        if (st != MF_OK)      \
            goto cleanup;     \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
