/* Learning-rate schedules as pure functions of (step, total): the runner
 * asks for the lr of each step, so resuming at step k needs no schedule
 * state. LVM-Med's "halving" schedule halves the lr `times` times at evenly
 * spaced points of the run. */
#include <math.h>
#include <string.h>

#include "medfm/optim.h"

static const char *const kind_names[] = {"constant", "step", "halving", "cosine", "poly", "exponential"};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

const char *mf_lr_kind_name(mf_lr_kind kind) {
    return (int)kind >= 0 && (int)kind < N_KINDS ? kind_names[kind] : "?";
}

mf_status mf_lr_kind_parse(const char *name, mf_lr_kind *out) {
    for (int i = 0; i < N_KINDS; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (mf_lr_kind)i;
            return MF_OK;
        }
    return MF_ERR(MF_ERR_INVALID,
                  "lr schedule: unknown name '%s' (known: constant, step, halving, cosine, poly, exponential)", name);
}

mf_status mf_lr_schedule_check(const mf_lr_schedule *s, int64_t total) {
    const char *k = mf_lr_kind_name(s->kind);
    switch (s->kind) {
    case MF_LR_CONSTANT: return MF_OK;
    case MF_LR_STEP:
        if (s->step_size < 1)
            return MF_ERR(MF_ERR_INVALID, "lr schedule %s: step_size must be >= 1 (got %lld)", k,
                          (long long)s->step_size);
        if (!(s->gamma > 0))
            return MF_ERR(MF_ERR_INVALID, "lr schedule %s: gamma must be > 0 (got %g)", k, s->gamma);
        return MF_OK;
    case MF_LR_EXPONENTIAL:
        if (!(s->gamma > 0))
            return MF_ERR(MF_ERR_INVALID, "lr schedule %s: gamma must be > 0 (got %g)", k, s->gamma);
        return MF_OK;
    case MF_LR_HALVING:
    case MF_LR_COSINE:
    case MF_LR_POLY:
        if (total < 1)
            return MF_ERR(MF_ERR_INVALID, "lr schedule %s: total steps must be >= 1 (got %lld)", k, (long long)total);
        if (s->kind == MF_LR_HALVING && s->times < 0)
            return MF_ERR(MF_ERR_INVALID, "lr schedule %s: times must be >= 0 (got %d)", k, s->times);
        if (s->kind == MF_LR_COSINE && (s->warmup_steps < 0 || !(s->min_lr >= 0)))
            return MF_ERR(MF_ERR_INVALID, "lr schedule %s: warmup_steps (%lld) and min_lr (%g) must be >= 0", k,
                          (long long)s->warmup_steps, s->min_lr);
        if (s->kind == MF_LR_POLY && !(s->power >= 0))
            return MF_ERR(MF_ERR_INVALID, "lr schedule %s: power must be >= 0 (got %g)", k, s->power);
        return MF_OK;
    }
    return MF_ERR(MF_ERR_INVALID, "lr schedule: unknown kind %d", (int)s->kind);
}

double mf_lr_at(const mf_lr_schedule *s, double base, int64_t step, int64_t total) {
    if (step < 0)
        step = 0;
    if (total >= 1 && step > total)
        step = total;
    switch (s->kind) {
    case MF_LR_CONSTANT: return base;
    case MF_LR_STEP: return base * pow(s->gamma, (double)(step / (s->step_size > 0 ? s->step_size : 1)));
    case MF_LR_EXPONENTIAL: return base * pow(s->gamma, (double)step);
    case MF_LR_HALVING: {
        if (total < 1)
            return base;
        /* Integer arithmetic: the halving points are exact steps. */
        int64_t k = step * (int64_t)(s->times + 1) / total;
        if (k > s->times)
            k = s->times;
        return ldexp(base, -(int)k);
    }
    case MF_LR_COSINE: {
        if (step < s->warmup_steps)
            return base * (double)step / (double)s->warmup_steps;
        int64_t span = total - s->warmup_steps;
        double progress = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
        return s->min_lr + (base - s->min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
    }
    case MF_LR_POLY:
        if (total < 1)
            return base;
        return base * pow(1.0 - (double)step / (double)total, s->power);
    }
    return base;
}
