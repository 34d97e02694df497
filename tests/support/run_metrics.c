/* A run's metrics.jsonl as the tests read it. */
#include "tests/support/run_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/testing.h"

int t_train_values(const char *run_dir, const char *key, double *v, int max) {
    char p[1200], line[4096], pat[64];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run_dir);
    snprintf(pat, sizeof pat, "\"%s\":", key);
    FILE *f = fopen(p, "r");
    cr_assert(f, "%s missing", p);
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        char *k = strstr(line, pat);
        if (strstr(line, "\"event\":\"train\"") && k)
            v[n++] = strtod(k + strlen(pat), NULL);
    }
    fclose(f);
    return n;
}
