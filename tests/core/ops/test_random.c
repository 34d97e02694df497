/* Random fills, dropout and drop_path: reproducibility (same seed, any
 * thread count, contiguous or strided), offsets, distribution moments, and
 * bad input. */
#include <math.h>
#include <string.h>

#include "tests/support/testing.h"

static void moments(const mf_tensor *t, double *mean, double *std) {
    int64_t n = mf_tensor_numel(t);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = mf_tensor_get_flat(t, i);
        s += v;
        s2 += v * v;
    }
    *mean = s / n;
    *std = sqrt(s2 / n - *mean * *mean);
}

static mf_tensor *empty(int ndim, const int64_t *shape, mf_dtype dt) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_empty(ndim, shape, dt, MF_DEVICE_CPU, &t));
    return t;
}

typedef mf_status (*fill_fn)(mf_tensor *, mf_rng *);
static mf_status f_uniform(mf_tensor *t, mf_rng *r) { return mf_rand_uniform_(t, r, -2, 3); }
static mf_status f_normal(mf_tensor *t, mf_rng *r) { return mf_rand_normal_(t, r, 1, 2); }
static mf_status f_gumbel(mf_tensor *t, mf_rng *r) { return mf_rand_gumbel_(t, r, 0, 1); }
static mf_status f_trunc(mf_tensor *t, mf_rng *r) { return mf_rand_trunc_normal_(t, r, 0, 1, -0.5, 2); }
static const struct {
    const char *name;
    fill_fn f;
} fills[] = {{"uniform", f_uniform}, {"normal", f_normal}, {"gumbel", f_gumbel}, {"trunc_normal", f_trunc}};
#define NFILLS (sizeof fills / sizeof fills[0])

Test(random, draws_are_bit_identical_on_one_and_two_threads) {
    int before = mf_num_threads();
    for (size_t k = 0; k < NFILLS; k++)
        for (int dt = 0; dt < 2; dt++) {
            mf_dtype d = dt ? MF_F64 : MF_F32;
            mf_tensor *a = empty(2, (int64_t[]){37, 2001}, d), *b = empty(2, (int64_t[]){37, 2001}, d);
            mf_rng r1, r2;
            mf_rng_init(&r1, 1234);
            mf_rng_init(&r2, 1234);
            mf_set_num_threads(1);
            MF_OK_OR_FAIL(fills[k].f(a, &r1));
            mf_set_num_threads(2);
            MF_OK_OR_FAIL(fills[k].f(b, &r2));
            cr_assert_eq(memcmp(mf_tensor_data(a), mf_tensor_data(b), mf_tensor_nbytes(a)), 0, "%s %s differs",
                         fills[k].name, mf_dtype_name(d));
            cr_assert_eq(r1.offset, r2.offset);
            mf_tensor_release(a);
            mf_tensor_release(b);
        }
    mf_set_num_threads(before);
}

Test(random, offset_advances_by_the_blocks_consumed) {
    mf_rng r;
    mf_rng_init(&r, 7);
    mf_tensor *a = empty(1, (int64_t[]){10}, MF_F32), *b = empty(1, (int64_t[]){10}, MF_F64);
    MF_OK_OR_FAIL(mf_rand_uniform_(a, &r, 0, 1));
    cr_assert_eq(r.offset, 3, "10 f32 draws use ceil(10/4) blocks, got %llu", (unsigned long long)r.offset);
    MF_OK_OR_FAIL(mf_rand_normal_(b, &r, 0, 1));
    cr_assert_eq(r.offset, 8, "10 f64 draws use 5 more blocks, got %llu", (unsigned long long)r.offset);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(random, uniform_values_come_from_the_documented_philox_words) {
    mf_rng r;
    mf_rng_init(&r, 99);
    r.offset = 5;
    mf_tensor *a = empty(1, (int64_t[]){6}, MF_F32);
    MF_OK_OR_FAIL(mf_rand_uniform_(a, &r, 0, 1));
    for (int i = 0; i < 6; i++) {
        uint32_t w[4];
        mf_philox4x32(99, 0, 5 + i / 4, w);
        double want = (double)(w[i % 4] >> 8) * 0x1p-24;
        cr_assert_eq(mf_tensor_get_flat(a, i), want, "element %d", i);
    }
    mf_tensor_release(a);
}

Test(random, normal_values_follow_the_documented_box_muller_pairs) {
    for (int dt = 0; dt < 2; dt++) {
        mf_rng r;
        mf_rng_init(&r, 31);
        r.offset = 2;
        mf_tensor *a = empty(1, (int64_t[]){7}, dt ? MF_F64 : MF_F32);
        MF_OK_OR_FAIL(mf_rand_normal_(a, &r, 0, 1));
        int per = dt ? 2 : 4, wpe = dt ? 2 : 1;
        for (int i = 0; i < 7; i++) {
            uint32_t w[4];
            mf_philox4x32(31, 0, 2 + i / per, w);
            const uint32_t *pw = w + ((i % per) / 2) * 2 * wpe;
            double u1, u2;
            if (wpe == 1) {
                u1 = ((pw[0] >> 8) + 0.5) * 0x1p-24;
                u2 = (pw[1] >> 8) * 0x1p-24;
            } else {
                u1 = ((double)(((uint64_t)pw[0] << 32 | pw[1]) >> 11) + 0.5) * 0x1p-53;
                u2 = (double)(((uint64_t)pw[2] << 32 | pw[3]) >> 11) * 0x1p-53;
            }
            double rr = sqrt(-2 * log(u1)), want = i % 2 ? rr * sin(2 * M_PI * u2) : rr * cos(2 * M_PI * u2);
            if (!dt)
                want = (float)want;
            cr_assert_eq(mf_tensor_get_flat(a, i), want, "%s element %d", dt ? "f64" : "f32", i);
        }
        mf_tensor_release(a);
    }
}

Test(random, successive_draws_differ_and_seeds_reproduce) {
    mf_rng r, s;
    mf_rng_init(&r, 5);
    mf_rng_init(&s, 5);
    mf_tensor *a = empty(1, (int64_t[]){64}, MF_F32), *b = empty(1, (int64_t[]){64}, MF_F32),
              *c = empty(1, (int64_t[]){64}, MF_F32);
    MF_OK_OR_FAIL(mf_rand_normal_(a, &r, 0, 1));
    MF_OK_OR_FAIL(mf_rand_normal_(b, &r, 0, 1));
    MF_OK_OR_FAIL(mf_rand_normal_(c, &s, 0, 1));
    cr_assert_neq(memcmp(mf_tensor_data(a), mf_tensor_data(b), 256), 0);
    cr_assert_eq(memcmp(mf_tensor_data(a), mf_tensor_data(c), 256), 0);
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(c);
}

Test(random, strided_views_get_the_same_stream_in_row_major_order) {
    mf_tensor *base = empty(2, (int64_t[]){5, 3}, MF_F64), *tv, *flat = empty(2, (int64_t[]){3, 5}, MF_F64), *tc;
    MF_OK_OR_FAIL(mf_transpose(base, 0, 1, &tv)); /* [3, 5] view */
    mf_rng r1, r2;
    mf_rng_init(&r1, 3);
    mf_rng_init(&r2, 3);
    MF_OK_OR_FAIL(mf_rand_normal_(tv, &r1, 0, 1));
    MF_OK_OR_FAIL(mf_rand_normal_(flat, &r2, 0, 1));
    MF_OK_OR_FAIL(mf_contiguous(tv, &tc));
    cr_assert_eq(memcmp(mf_tensor_data(tc), mf_tensor_data(flat), 15 * sizeof(double)), 0);
    mf_tensor_release(base);
    mf_tensor_release(tv);
    mf_tensor_release(tc);
    mf_tensor_release(flat);
}

Test(random, normal_moments_of_100k_draws) {
    for (int dt = 0; dt < 2; dt++) {
        mf_tensor *t = empty(1, (int64_t[]){100000}, dt ? MF_F64 : MF_F32);
        mf_rng r;
        mf_rng_init(&r, 2024 + dt);
        MF_OK_OR_FAIL(mf_rand_normal_(t, &r, 1.5, 2.0));
        double m, s;
        moments(t, &m, &s);
        /* standard error of the mean: 2 / sqrt(1e5) = 0.0063 */
        cr_assert(fabs(m - 1.5) < 0.03 && fabs(s - 2.0) < 0.03, "mean %g std %g", m, s);
        mf_tensor_release(t);
    }
}

Test(random, uniform_and_gumbel_moments_and_ranges) {
    mf_tensor *t = empty(1, (int64_t[]){100000}, MF_F32);
    mf_rng r;
    mf_rng_init(&r, 11);
    MF_OK_OR_FAIL(mf_rand_uniform_(t, &r, -2, 3));
    double m, s, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < 100000; i++) {
        double v = mf_tensor_get_flat(t, i);
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    cr_assert(lo >= -2 && hi < 3, "range [%g, %g]", lo, hi);
    moments(t, &m, &s);
    cr_assert(fabs(m - 0.5) < 0.03 && fabs(s - 5 / sqrt(12)) < 0.03, "uniform mean %g std %g", m, s);
    MF_OK_OR_FAIL(mf_rand_gumbel_(t, &r, 0, 1));
    moments(t, &m, &s);
    /* Gumbel(0, 1): mean = Euler's gamma, std = pi / sqrt 6 */
    cr_assert(fabs(m - 0.5772157) < 0.03 && fabs(s - M_PI / sqrt(6)) < 0.03, "gumbel mean %g std %g", m, s);
    mf_tensor_release(t);
}

Test(random, trunc_normal_stays_in_bounds_with_the_truncated_mean) {
    mf_tensor *t = empty(1, (int64_t[]){100000}, MF_F64);
    mf_rng r;
    mf_rng_init(&r, 8);
    MF_OK_OR_FAIL(mf_rand_trunc_normal_(t, &r, 0, 1, -0.5, 2));
    double m, s;
    for (int64_t i = 0; i < 100000; i++) {
        double v = mf_tensor_get_flat(t, i);
        cr_assert(v >= -0.5 && v <= 2, "element %lld = %g", (long long)i, v);
    }
    moments(t, &m, &s);
    /* mean of N(0,1) truncated to [-0.5, 2]: (phi(-0.5) - phi(2)) / (Phi(2) - Phi(-0.5)) */
    double phi_a = exp(-0.125) / sqrt(2 * M_PI), phi_b = exp(-2.0) / sqrt(2 * M_PI);
    double Z = 0.5 * (erf(2 / M_SQRT2) - erf(-0.5 / M_SQRT2));
    cr_assert(fabs(m - (phi_a - phi_b) / Z) < 0.01, "mean %g want %g", m, (phi_a - phi_b) / Z);
    mf_tensor_release(t);
}

Test(random, fills_reject_bad_arguments) {
    mf_tensor *t = empty(1, (int64_t[]){4}, MF_F32);
    mf_tensor *i = empty(1, (int64_t[]){4}, MF_I64);
    mf_rng r;
    mf_rng_init(&r, 1);
    cr_assert_eq(mf_rand_uniform_(t, &r, 2, 1), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "rand_uniform_"), "%s", mf_last_error());
    cr_assert_eq(mf_rand_normal_(t, &r, 0, -1), MF_ERR_INVALID);
    cr_assert_eq(mf_rand_gumbel_(t, &r, 0, 0), MF_ERR_INVALID);
    cr_assert_eq(mf_rand_trunc_normal_(t, &r, 0, 1, 2, -2), MF_ERR_INVALID);
    cr_assert_eq(mf_rand_normal_(i, &r, 0, 1), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "i64"), "%s", mf_last_error());
    cr_assert_eq(mf_rand_normal_(t, NULL, 0, 1), MF_ERR_INVALID);
    cr_assert_eq(r.offset, 0, "failed draws consume nothing");
    mf_tensor_release(t);
    mf_tensor_release(i);
}

/* --------------------------------------------------------------- dropout */

Test(random, dropout_keeps_about_one_minus_p_and_scales) {
    mf_tensor *x, *y;
    MF_OK_OR_FAIL(mf_tensor_full(1, (int64_t[]){100000}, MF_F32, MF_DEVICE_CPU, 1.0, &x));
    mf_rng r;
    mf_rng_init(&r, 17);
    MF_OK_OR_FAIL(mf_dropout(x, 0.3, true, &r, &y));
    int64_t kept = 0;
    for (int64_t i = 0; i < 100000; i++) {
        double v = mf_tensor_get_flat(y, i);
        if (v != 0) {
            kept++;
            cr_assert_float_eq(v, 1 / 0.7, 1e-6);
        }
    }
    cr_assert(fabs(kept / 1e5 - 0.7) < 0.01, "kept fraction %g", kept / 1e5);
    mf_tensor_release(x);
    mf_tensor_release(y);
}

Test(random, dropout_is_identity_when_not_training_or_p_is_zero) {
    mf_tensor *x = t_uniform(1, 1, (int64_t[]){8}, MF_F32, -1, 1), *y;
    mf_rng r;
    mf_rng_init(&r, 1);
    MF_OK_OR_FAIL(mf_dropout(x, 0.5, false, &r, &y));
    t_assert_close(y, x, 0, 0, "eval dropout");
    mf_tensor_release(y);
    MF_OK_OR_FAIL(mf_dropout(x, 0.0, true, NULL, &y));
    t_assert_close(y, x, 0, 0, "p=0 dropout");
    mf_tensor_release(y);
    cr_assert_eq(r.offset, 0);
    MF_OK_OR_FAIL(mf_dropout(x, 1.0, true, &r, &y));
    for (int i = 0; i < 8; i++)
        cr_assert_eq(mf_tensor_get_flat(y, i), 0.0);
    mf_tensor_release(y);
    mf_tensor_release(x);
}

static mf_status call_dropout(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    mf_rng r;
    mf_rng_init(&r, 77); /* same mask on every call, as a gradcheck needs */
    return mf_dropout(in[0], 0.4, true, &r, out);
}
static mf_status call_drop_path(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    mf_rng r;
    mf_rng_init(&r, 78);
    return mf_drop_path(in[0], 0.5, true, &r, out);
}

Test(random, dropout_and_drop_path_grads_match_finite_difference) {
    mf_tensor *x = t_param(t_uniform(1, 2, (int64_t[]){4, 5}, MF_F64, -1, 1));
    t_gradcheck("dropout", call_dropout, NULL, 1, &x, 1e-6, 1e-8, 1e-6);
    mf_tensor *z = t_param(t_uniform(2, 3, (int64_t[]){8, 2, 3}, MF_F64, -1, 1));
    t_gradcheck("drop_path", call_drop_path, NULL, 1, &z, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(x);
    mf_tensor_release(z);
}

Test(random, drop_path_drops_whole_samples) {
    mf_tensor *x, *y;
    MF_OK_OR_FAIL(mf_tensor_full(3, (int64_t[]){2000, 3, 4}, MF_F64, MF_DEVICE_CPU, 1.0, &x));
    mf_rng r;
    mf_rng_init(&r, 5);
    MF_OK_OR_FAIL(mf_drop_path(x, 0.25, true, &r, &y));
    int kept = 0;
    for (int n = 0; n < 2000; n++) {
        double v0 = mf_tensor_get_flat(y, n * 12);
        for (int k = 1; k < 12; k++)
            cr_assert_eq(mf_tensor_get_flat(y, n * 12 + k), v0, "sample %d mixes kept and dropped", n);
        cr_assert(v0 == 0 || fabs(v0 - 1 / 0.75) < 1e-12, "sample %d has %g", n, v0);
        kept += v0 != 0;
    }
    cr_assert(fabs(kept / 2000.0 - 0.75) < 0.04, "kept fraction %g", kept / 2000.0);
    cr_assert_eq(r.offset, 500, "one word per sample: 2000 / 4 blocks, got %llu", (unsigned long long)r.offset);
    mf_tensor_release(x);
    mf_tensor_release(y);
}

Test(random, dropout_rejects_bad_probability_and_missing_generator) {
    mf_tensor *x = t_uniform(1, 1, (int64_t[]){8}, MF_F32, -1, 1), *y = NULL;
    mf_rng r;
    mf_rng_init(&r, 1);
    cr_assert_eq(mf_dropout(x, 1.5, true, &r, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "dropout") && strstr(mf_last_error(), "1.5"), "%s", mf_last_error());
    cr_assert_eq(mf_dropout(x, 0.5, true, NULL, &y), MF_ERR_INVALID);
    cr_assert_eq(mf_drop_path(x, -0.1, true, &r, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "drop_path"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
}
