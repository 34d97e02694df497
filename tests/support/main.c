/* The test runner's entry point: Criterion's own main, except that the
 * parent process leaves with _exit.
 *
 * Every test runs in a worker process Criterion starts for it; the parent
 * only schedules workers and collects their results. Under LeakSanitizer
 * (`make sanitize`) each worker is still checked for leaks when it exits,
 * but the parent's exit-time check would only ever see Criterion's own
 * bookkeeping, which now and then leaves one small block behind (a 48-byte
 * calloc inside libcriterion failed CI once, after all tests had passed).
 * _exit skips that check for the parent alone.
 *
 * MEDFM_TEST_WORKER_PRELOAD is put in LD_PRELOAD for the workers alone
 * (Criterion starts them with exec): `make racecheck-cuda-emu` and
 * `test-cuda-emu` preload ThreadSanitizer or AddressSanitizer that
 * way (Criterion's parent cannot run under ThreadSanitizer). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
    const char *preload = getenv("MEDFM_TEST_WORKER_PRELOAD");
    if (preload && *preload)
        setenv("LD_PRELOAD", preload, 1);
    struct criterion_test_set *tests = criterion_initialize();
    int result = 0;
    if (criterion_handle_args(argc, argv, true))
        result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    fflush(stdout);
    fflush(stderr);
    _exit(result);
}
