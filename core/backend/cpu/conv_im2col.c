/* im2col and its adjoint col2im, written once as a template over the
 * element type. The innermost loop runs over the last output dim; with
 * stride 1 it is a plain copy / add of a contiguous row segment. */
#include <string.h>

#include "core/backend/cpu/conv_im2col.h"

static inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* Output positions o with 0 <= o*s + off < size, as [lo, hi) within [0, out). */
static inline void valid_range(int64_t off, int64_t s, int64_t size, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t l = off >= 0 ? 0 : ceil_div(-off, s);
    int64_t h = size - off <= 0 ? 0 : ceil_div(size - off, s);
    if (h > out)
        h = out;
    if (l > h)
        l = h;
    *lo = l, *hi = h;
}

#define DEFINE_IM2COL(T, SUF)                                                                                    \
    static void im2col_##SUF(const T *x, const mf_conv_geom *g, int64_t cg, T *col, int64_t ld, int64_t q0, int64_t q1) {               \
        const int64_t I0 = g->in[0], I1 = g->in[1], I2 = g->in[2];                                              \
        const int64_t O1 = g->out[1], O2 = g->out[2];                                                            \
        int64_t r = 0;                                                                                           \
        for (int64_t c = 0; c < cg; c++)                                                                         \
            for (int64_t a = 0; a < g->k[0]; a++)                                                                \
                for (int64_t b = 0; b < g->k[1]; b++)                                                            \
                    for (int64_t e = 0; e < g->k[2]; e++, r++) {                                                 \
                        T *row = col + r * ld;                                                                   \
                        int64_t off0 = a * g->dil[0] - g->pad[0], off1 = b * g->dil[1] - g->pad[1],              \
                                off2 = e * g->dil[2] - g->pad[2];                                                \
                        int64_t lo, hi;                                                                          \
                        valid_range(off2, g->stride[2], I2, O2, &lo, &hi);                                       \
                        for (int64_t q = q0; q < q1; q++) {                                                      \
                            int64_t o0 = q / O1, o1 = q % O1;                                                    \
                            int64_t i0 = o0 * g->stride[0] + off0, i1 = o1 * g->stride[1] + off1;                \
                            T *d = row + (q - q0) * O2;                                                          \
                            if (i0 < 0 || i0 >= I0 || i1 < 0 || i1 >= I1) {                                      \
                                memset(d, 0, sizeof(T) * (size_t)O2);                                            \
                                continue;                                                                        \
                            }                                                                                    \
                            const T *s = x + ((c * I0 + i0) * I1 + i1) * I2 + off2;                              \
                            for (int64_t o = 0; o < lo; o++)                                                     \
                                d[o] = 0;                                                                        \
                            if (g->stride[2] == 1) {                                                             \
                                memcpy(d + lo, s + lo, sizeof(T) * (size_t)(hi - lo));                           \
                            } else {                                                                             \
                                const int64_t st = g->stride[2];                                                 \
                                for (int64_t o = lo; o < hi; o++)                                                \
                                    d[o] = s[o * st];                                                            \
                            }                                                                                    \
                            for (int64_t o = hi; o < O2; o++)                                                    \
                                d[o] = 0;                                                                        \
                        }                                                                                        \
                    }                                                                                            \
    }                                                                                                            \
                                                                                                                 \
    static void col2im_##SUF(const T *col, int64_t ld, const mf_conv_geom *g, int64_t cg, T *x, int64_t q0, int64_t q1) {              \
        const int64_t I0 = g->in[0], I1 = g->in[1], I2 = g->in[2];                                              \
        const int64_t O1 = g->out[1], O2 = g->out[2];                                                            \
        int64_t r = 0;                                                                                           \
        for (int64_t c = 0; c < cg; c++)                                                                         \
            for (int64_t a = 0; a < g->k[0]; a++)                                                                \
                for (int64_t b = 0; b < g->k[1]; b++)                                                            \
                    for (int64_t e = 0; e < g->k[2]; e++, r++) {                                                 \
                        const T *row = col + r * ld;                                                             \
                        int64_t off0 = a * g->dil[0] - g->pad[0], off1 = b * g->dil[1] - g->pad[1],              \
                                off2 = e * g->dil[2] - g->pad[2];                                                \
                        int64_t lo, hi;                                                                          \
                        valid_range(off2, g->stride[2], I2, O2, &lo, &hi);                                       \
                        for (int64_t q = q0; q < q1; q++) {                                                      \
                            int64_t o0 = q / O1, o1 = q % O1;                                                    \
                            int64_t i0 = o0 * g->stride[0] + off0, i1 = o1 * g->stride[1] + off1;                \
                            if (i0 < 0 || i0 >= I0 || i1 < 0 || i1 >= I1)                                        \
                                continue;                                                                        \
                            const T *s = row + (q - q0) * O2;                                                    \
                            T *d = x + ((c * I0 + i0) * I1 + i1) * I2 + off2;                                    \
                            const int64_t st = g->stride[2];                                                     \
                            if (st == 1) {                                                                       \
                                for (int64_t o = lo; o < hi; o++)                                                \
                                    d[o] += s[o];                                                                \
                            } else {                                                                             \
                                for (int64_t o = lo; o < hi; o++)                                                \
                                    d[o * st] += s[o];                                                           \
                            }                                                                                    \
                        }                                                                                        \
                    }                                                                                            \
    }

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)

void mf__im2col_lines(mf_dtype dt, const void *x, const mf_conv_geom *g, int64_t cg, void *col, int64_t ld,
                      int64_t q0, int64_t q1) {
    if (dt == MF_F32)
        im2col_f32(x, g, cg, col, ld, q0, q1);
    else
        im2col_f64(x, g, cg, col, ld, q0, q1);
}

void mf__col2im_lines(mf_dtype dt, const void *col, int64_t ld, const mf_conv_geom *g, int64_t cg, void *x,
                      int64_t q0, int64_t q1) {
    if (dt == MF_F32)
        col2im_f32(col, ld, g, cg, x, q0, q1);
    else
        col2im_f64(col, ld, g, cg, x, q0, q1);
}

void mf__im2col(mf_dtype dt, const void *x, const mf_conv_geom *g, int64_t cg, void *col, int64_t ld) {
    mf__im2col_lines(dt, x, g, cg, col, ld, 0, g->out[0] * g->out[1]);
}

void mf__col2im(mf_dtype dt, const void *col, int64_t ld, const mf_conv_geom *g, int64_t cg, void *x) {
    mf__col2im_lines(dt, col, ld, g, cg, x, 0, g->out[0] * g->out[1]);
}
