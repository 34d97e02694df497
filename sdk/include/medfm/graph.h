/* CUDA graphs, like torch.cuda.CUDAGraph: the device work of a piece of
 * host code (typically a training step's forward and backward) recorded
 * once and replayed with one launch, which removes the per-kernel launch
 * cost of small or many-layer models.
 *
 * Between begin and end nothing runs: kernels and device copies are only
 * recorded, so results appear after the first replay. Tensors allocated
 * while capturing keep their memory for the graph's lifetime, and every
 * replay rewrites them in place: keep references to the inputs you refill
 * (copy new data into them before each replay) and to the outputs you read.
 * Host-side values are frozen at capture: a capture fails with an error
 * when the code reads device memory on the host (mf_tensor_item, a copy to
 * the CPU) or draws random numbers on the device. Shapes must not change
 * between replays. Only cuda devices have graphs. */
#ifndef MEDFM_GRAPH_H
#define MEDFM_GRAPH_H

#include "medfm/status.h"
#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_graph mf_graph;

/* Starts recording the work queued on `dev`. */
mf_status mf_graph_capture_begin(mf_device dev);

/* Stops recording and returns the graph; on error (the message says what
 * the captured code did that a graph cannot hold) nothing is returned and
 * the device is no longer capturing. */
mf_status mf_graph_capture_end(mf_device dev, mf_graph **out);

/* Queues one replay of the recorded work on the device's stream. */
mf_status mf_graph_replay(mf_graph *g);

/* Destroys the graph; its private memory goes back to the allocator once
 * the tensors allocated during its capture are released. NULL is a no-op. */
void mf_graph_free(mf_graph *g);

#ifdef __cplusplus
}
#endif

#endif
