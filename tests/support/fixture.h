/* Golden-value fixtures: safetensors files in tests/fixtures written by the
 * tools/fixtures/gen_*.py scripts (float64 PyTorch references). */
#ifndef MF_TEST_FIXTURE_H
#define MF_TEST_FIXTURE_H

#include "medfm/medfm.h"

/* Tensor `name` from tests/fixtures/<file> as a CPU tensor of the stored
 * dtype; fails the current test if the file or name is missing. */
mf_tensor *t_fixture(const char *file, const char *name);

#endif
