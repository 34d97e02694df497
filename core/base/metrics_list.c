/* Named scalar lists for training logs and evaluation metrics. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "medfm/task.h"

void mf_metrics_set(mf_metrics *m, const char *name, double value) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], name)) {
            m->values[i] = value;
            return;
        }
    if (m->n >= MF_METRICS_MAX)
        return;
    snprintf(m->names[m->n], sizeof m->names[m->n], "%s", name);
    m->values[m->n++] = value;
}

double mf_metrics_get(const mf_metrics *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], name))
            return m->values[i];
    return NAN;
}
