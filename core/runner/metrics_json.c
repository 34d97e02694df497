/* Metrics as JSON files of the run directory: best_metrics.json beside the
 * best checkpoint and each trial's final.json, written atomically and read
 * back when a run resumes. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/runner/internal.h"

mf_status mf__write_metrics_json(const char *p, const mf_metrics *m) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < m->n; i++)
        cJSON_AddNumberToObject(o, m->names[i], m->values[i]);
    char *t = cJSON_Print(o);
    cJSON_Delete(o);
    mf_status st = mf__write_file_atomic(p, t ? t : "{}");
    free(t);
    return st;
}

bool mf__read_metrics_json(const char *p, mf_metrics *m) {
    FILE *f = fopen(p, "rb");
    if (!f)
        return false;
    char buf[1 << 14];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *o = cJSON_Parse(buf);
    if (!o)
        return false;
    memset(m, 0, sizeof *m);
    for (cJSON *it = o->child; it; it = it->next)
        if (cJSON_IsNumber(it))
            mf_metrics_set(m, it->string, it->valuedouble);
    cJSON_Delete(o);
    return true;
}

mf_status mf__write_trial_json(const char *dir, const mf_metrics *m) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/final.json", dir);
    return mf__write_metrics_json(p, m);
}

bool mf__read_trial_json(const char *dir, mf_metrics *m) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/final.json", dir);
    return mf__read_metrics_json(p, m);
}
