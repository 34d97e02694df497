/* Graph construction (sec. 3.2.1): each view's batch of node embeddings
 * becomes a kNN graph, and the GCN propagates over its symmetrically
 * normalised adjacency with self-loops. Both are discrete functions of the
 * embeddings, computed on the host from detached values. The edges stay on
 * the host, where the solvers and the propagation matrix read them: one
 * read of the distances is the step's only wait for the graph. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lvmmed.h"
#include "medfm/autograd.h"
#include "medfm/ops/distance.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/view.h"

/* A tensor built on the host, moved to `dev` when that is not the CPU. */
static mf_status host_tensor(int ndim, const int64_t *shape, mf_dtype dt, const void *data, mf_device dev,
                             mf_tensor **out) {
    mf_tensor *t;
    MF_TRY(mf_tensor_from_data(ndim, shape, dt, data, &t));
    if (dev.type == MF_CPU) {
        *out = t;
        return MF_OK;
    }
    mf_status st = mf_to_device(t, dev, out);
    mf_tensor_release(t);
    return st;
}

mf_status lvm_knn_edges(const mf_tensor *z, int64_t k, mf_tensor **edges) {
    *edges = NULL;
    if (z->ndim != 3)
        return MF_ERR(MF_ERR_SHAPE, "lvmmed knn: node features must be (G, n, F), got %s", MF_SHAPE(z));
    int64_t G = z->shape[0], n = z->shape[1];
    if (k < 1 || k >= n)
        return MF_ERR(MF_ERR_INVALID, "lvmmed knn: k = %lld needs 1 <= k < graph size %lld", (long long)k,
                      (long long)n);
    bool grad = mf_grad_set_enabled(false);
    mf_tensor *dist = NULL;
    mf_status st = mf_pairwise_distance(z, z, 2, &dist);
    mf_grad_set_enabled(grad);
    MF_TRY(st);
    double *d = malloc(sizeof *d * (size_t)(G * n * n));
    int64_t *e = malloc(sizeof *e * (size_t)(G * n * k * 2));
    if (!d || !e) {
        st = MF_ERR(MF_ERR_NOMEM, "lvmmed knn: out of memory");
        goto cleanup;
    }
    MF_CHECK(mf_tensor_to_host(dist, MF_F64, d, sizeof *d * (size_t)(G * n * n)));
    for (int64_t g = 0; g < G; g++)
        for (int64_t i = 0; i < n; i++) {
            const double *row = d + (g * n + i) * n;
            int64_t *out = e + (g * n + i) * k * 2;
            /* k rounds of "nearest not yet taken": n is small (16). */
            for (int64_t r = 0; r < k; r++) {
                int64_t best = -1;
                for (int64_t j = 0; j < n; j++) {
                    if (j == i)
                        continue;
                    bool taken = false;
                    for (int64_t q = 0; q < r; q++)
                        taken |= out[q * 2 + 1] == j;
                    if (!taken && (best < 0 || row[j] < row[best]))
                        best = j;
                }
                out[r * 2] = i;
                out[r * 2 + 1] = best;
            }
        }
    int64_t shape[3] = {G, n * k, 2};
    st = mf_tensor_from_data(3, shape, MF_I64, e, edges);
cleanup:
    free(d);
    free(e);
    mf_tensor_release(dist);
    return st;
}

mf_status lvm_gcn_propagation(const mf_tensor *edges, int64_t n, mf_dtype dt, mf_device dev, mf_tensor **prop) {
    *prop = NULL;
    if (edges->ndim != 3 || edges->shape[2] != 2 || edges->dtype != MF_I64)
        return MF_ERR(MF_ERR_SHAPE, "lvmmed gcn propagation: edges must be (G, E, 2) i64, got %s", MF_SHAPE(edges));
    int64_t G = edges->shape[0], E = edges->shape[1];
    int64_t *e = malloc(sizeof *e * (size_t)(G * E * 2));
    double *a = calloc((size_t)(G * n * n), sizeof *a);
    double *deg = malloc(sizeof *deg * (size_t)n);
    mf_status st = MF_OK;
    if (!e || !a || !deg) {
        st = MF_ERR(MF_ERR_NOMEM, "lvmmed gcn propagation: out of memory");
        goto cleanup;
    }
    MF_CHECK(mf_tensor_to_host(edges, MF_I64, e, sizeof *e * (size_t)(G * E * 2)));
    for (int64_t g = 0; g < G; g++) {
        double *ag = a + g * n * n;
        for (int64_t q = 0; q < E; q++) {
            int64_t i = e[(g * E + q) * 2], j = e[(g * E + q) * 2 + 1];
            if (i < 0 || i >= n || j < 0 || j >= n) {
                st = MF_ERR(MF_ERR_INVALID, "lvmmed gcn propagation: edge (%lld, %lld) outside a graph of %lld nodes",
                            (long long)i, (long long)j, (long long)n);
                goto cleanup;
            }
            ag[i * n + j] = ag[j * n + i] = 1; /* symmetric: an undirected graph for the GCN */
        }
        for (int64_t i = 0; i < n; i++) {
            ag[i * n + i] = 1; /* self-loops: A + I */
            deg[i] = 0;
            for (int64_t j = 0; j < n; j++)
                deg[i] += ag[i * n + j];
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                ag[i * n + j] /= sqrt(deg[i] * deg[j]);
    }
    mf_tensor *p64;
    int64_t shape[3] = {G, n, n};
    MF_CHECK(host_tensor(3, shape, MF_F64, a, dev, &p64));
    if (dt == MF_F64) {
        *prop = p64;
    } else {
        st = mf_to_dtype(p64, dt, prop);
        mf_tensor_release(p64);
    }
cleanup:
    free(e);
    free(a);
    free(deg);
    return st;
}
