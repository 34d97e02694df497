/* Shared check for the nn tests: a module's state (parameters + buffers in
 * state_dict order) matches a hand-written list of torch names and shapes. */
#ifndef MF_TEST_NN_EXPECT_H
#define MF_TEST_NN_EXPECT_H

#include <string.h>

#include "medfm/nn.h"
#include "tests/support/testing.h"

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[5];
} t_expect;

static inline void t_expect_state(const mf_module *m, int n, const t_expect *want) {
    mf_named_tensors l;
    MF_OK_OR_FAIL(mf_module_state(m, &l));
    cr_assert_eq(l.n, n, "%s: %lld state entries, want %d", mf_module_type(m), (long long)l.n, n);
    for (int i = 0; i < n; i++) {
        cr_assert_str_eq(l.items[i].name, want[i].name, "%s entry %d", mf_module_type(m), i);
        const mf_tensor *t = l.items[i].tensor;
        cr_assert_eq(t->ndim, want[i].ndim, "%s: %s has %d dims", mf_module_type(m), want[i].name, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            cr_assert_eq(t->shape[d], want[i].shape[d], "%s: %s shape %s", mf_module_type(m), want[i].name,
                         MF_SHAPE(t));
    }
    mf_named_tensors_free(&l);
}

#endif
