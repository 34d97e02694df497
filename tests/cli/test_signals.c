/* `medfm run` as a child process stopped by SIGINT or SIGTERM once its
 * first checkpoint exists: it exits 128 + signal, has saved a checkpoint at
 * the step where it stopped, and `medfm run --resume` then finishes the
 * run. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/testing.h"

#define MEDFM MEDFM_BUILD_DIR "/bin/medfm"
#define TOTAL_STEPS 500

/* About 1 ms a step: a signal sent right after the first checkpoint (step
 * 50) lands some 450 steps (and 9 checkpoint saves) before the end, yet
 * resuming stays quick. Checkpoints fsync, so they are kept few. */
static const char *config = "name: sig\n"
                            "data:\n"
                            "  train: {source: {type: phantom2d, count: 64, size: 12, num_classes: 2, seed: 1}, workers: 0}\n"
                            "  val: {source: {type: phantom2d, count: 8, size: 12, num_classes: 2, seed: 1, offset: 1000}, workers: 0}\n"
                            "encoder: {plugin: simple_cnn, width: 4, depth: 2}\n"
                            "task: {plugin: classification, num_classes: 2}\n"
                            "train: {steps: 500, batch_size: 8, val_every: 0, checkpoint_every: 50, log_every: 50}\n";

static char dir[64];

static void setup(void) {
    strcpy(dir, "/tmp/medfm_signals_XXXXXX");
    cr_assert(mkdtemp(dir));
    char p[128];
    snprintf(p, sizeof p, "%s/sig.yaml", dir);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(config, f);
    fclose(f);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Starts `medfm run ...` with stdout+stderr going to dir/<log>. */
static pid_t spawn(const char *log, const char *a1, const char *a2, const char *a3, const char *a4) {
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, log);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(MEDFM, MEDFM, "run", a1, a2, a3, a4, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int exit_code(pid_t pid) {
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "medfm did not exit normally (status %#x)", status);
    return WEXITSTATUS(status);
}

static char *slurp(const char *name) {
    static char buf[1 << 16];
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    cr_assert(f, "%s missing", p);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* The step recorded in checkpoints/latest.json. */
static long long latest_step(void) {
    const char *j = slurp("runs/sig/checkpoints/latest.json");
    const char *s = strstr(j, "\"step\":");
    cr_assert(s, "latest.json without a step: %s", j);
    return strtoll(s + 7, NULL, 10);
}

static void interrupt_then_resume(int sig) {
    char cfg[128], out[128];
    snprintf(cfg, sizeof cfg, "%s/sig.yaml", dir);
    snprintf(out, sizeof out, "%s/runs", dir);
    pid_t pid = spawn("run.log", cfg, "--output", out, "--plain");

    /* Wait for the first checkpoint (or the child's early death). */
    char latest[160];
    snprintf(latest, sizeof latest, "%s/runs/sig/checkpoints/latest.json", dir);
    struct stat sb;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (stat(latest, &sb) != 0) {
        int status;
        cr_assert_eq(waitpid(pid, &status, WNOHANG), 0, "medfm exited before its first checkpoint: %s",
                     slurp("run.log"));
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 30) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            cr_assert_fail("no checkpoint after 30 s: %s", slurp("run.log"));
        }
        usleep(500);
    }
    cr_assert_eq(kill(pid, sig), 0);
    int code = exit_code(pid);
    const char *log = slurp("run.log");
    cr_assert_eq(code, 128 + sig, "exit code %d after signal %d: %s", code, sig, log);

    /* The checkpoint is the one taken where the run stopped. */
    const char *m = strstr(log, "at step ");
    cr_assert(m && strstr(log, "checkpoint saved") && strstr(log, "--resume"), "%s", log);
    long long stopped = strtoll(m + 8, NULL, 10);
    cr_assert(stopped >= 50 && stopped < TOTAL_STEPS, "stopped at step %lld: %s", stopped, log);
    cr_assert_eq(latest_step(), stopped, "latest.json does not point at the interruption step %lld", stopped);
    char ck[160];
    snprintf(ck, sizeof ck, "%s/runs/sig/checkpoints/step-%09lld/model.safetensors", dir, stopped);
    cr_assert_eq(access(ck, R_OK), 0, "%s missing", ck);

    /* Resuming finishes the remaining steps. */
    char run_dir[160];
    snprintf(run_dir, sizeof run_dir, "%s/runs/sig", dir);
    pid = spawn("resume.log", "--resume", run_dir, "--plain", NULL);
    code = exit_code(pid);
    cr_assert_eq(code, 0, "resume exited %d: %s", code, slurp("resume.log"));
    cr_assert_eq(latest_step(), TOTAL_STEPS);
    snprintf(ck, sizeof ck, "%s/summary.json", run_dir);
    cr_assert_eq(access(ck, R_OK), 0, "summary.json missing after resume");
}

Test(cli_signals, sigint_checkpoints_exits_130_and_resume_completes, .init = setup, .fini = teardown) {
    interrupt_then_resume(SIGINT);
}

Test(cli_signals, sigterm_checkpoints_exits_143_and_resume_completes, .init = setup, .fini = teardown) {
    interrupt_then_resume(SIGTERM);
}
