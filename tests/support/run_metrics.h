/* A run's metrics.jsonl as the tests read it. */
#ifndef MF_TEST_RUN_METRICS_H
#define MF_TEST_RUN_METRICS_H

/* Values of `key` in the train events of run_dir/metrics.jsonl, in step
 * order, at most max of them (returns how many); fails the current test
 * when the file is missing. */
int t_train_values(const char *run_dir, const char *key, double *v, int max);

#endif
