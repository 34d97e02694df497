/* The whole public API of libmedfm. Plugins include this (or the parts
 * they need) and nothing outside sdk/include. */
#ifndef MEDFM_MEDFM_H
#define MEDFM_MEDFM_H

#include "medfm/amp.h"
#include "medfm/autograd.h"
#include "medfm/batch.h"
#include "medfm/conv_algo.h"
#include "medfm/data.h"
#include "medfm/graph.h"
#include "medfm/image.h"
#include "medfm/io.h"
#include "medfm/loader.h"
#include "medfm/memory.h"
#include "medfm/optim.h"
#include "medfm/ops.h"
#include "medfm/parallel.h"
#include "medfm/status.h"
#include "medfm/tensor.h"
#include "medfm/transforms.h"
#include "medfm/version.h"
#include "medfm/volume.h"

#endif
