/* safetensors dtype names <-> medfm dtypes, shared by reader and writer. */
#ifndef MF_SAFETENSORS_FORMAT_H
#define MF_SAFETENSORS_FORMAT_H

#include "medfm/tensor.h"

mf_status mf_st_dtype_from_name(const char *s, mf_dtype *out);
const char *mf_st_dtype_name(mf_dtype dt);

#endif
