/* Kernels with a known race, and like ones without, for the race check's
 * own test: race_selftest.sh translates this file as build.sh does the
 * CUDA module's (translate.py --race), builds it with the emulator's device
 * code alone (the stream and graph functions it needs are stubbed below)
 * and expects a TSan report for exactly the racy cases, and the
 * emulator's own report for threads at different barriers. */
#include <stdio.h>
#include <stdlib.h>

int emu_capturing(cudaStream_t) { return 0; }
void emu_record(cudaStream_t, void (*)(void *), void *, void (*)(void *)) { abort(); }
void emu_stream_order(cudaStream_t) {}
extern "C" void emu_set_error(cudaError_t) { abort(); }

/* A thread reads what its neighbour wrote to shared memory: racy without
 * the barrier, clean with it. */
__global__ void shared_neighbour(float *out, bool barrier) {
    __shared__ float s[64];
    s[threadIdx.x] = (float)threadIdx.x;
    if (barrier)
        __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}
/* A shuffle exchanges registers but orders no memory. */
__global__ void shared_after_shuffle(float *out) {
    __shared__ float s[32];
    s[threadIdx.x] = 1.0f;
    float v = __shfl_xor_sync(0xffffffffu, (float)threadIdx.x, 1);
    out[threadIdx.x] = v + s[threadIdx.x ^ 1];
}
/* Even and odd threads wait at different barriers: undefined on a GPU,
 * reported by the emulator (in every build, not only the race check). */
__global__ void divergent_barrier(float *out) {
    if (threadIdx.x % 2) {
        out[threadIdx.x] = 1.0f;
        __syncthreads();
    } else {
        out[threadIdx.x] = 2.0f;
        __syncthreads();
    }
}
/* Thread 0 of every block adds to one word: racy, clean when atomic. */
__global__ void one_word_per_grid(float *out, bool atomic) {
    if (threadIdx.x == 0) {
        if (atomic)
            atomicAdd(out, 1.0f);
        else
            out[0] += 1.0f;
    }
}
/* Two threads of one block store to one word. */
__global__ void one_word_per_block(float *out) { out[0] = (float)threadIdx.x; }
/* Each thread its own word, read back by the host after the grid. */
__global__ void own_words(float *out) { out[blockIdx.x * blockDim.x + threadIdx.x] += 1.0f; }

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    float *out = (float *)calloc(1024, sizeof *out);
    unsigned g = 4, b = 64;
    const char *c = argv[1];
    if (!strcmp(c, "shared_no_barrier"))
        shared_neighbour<<<g, b>>>(out, false);
    else if (!strcmp(c, "shared_barrier"))
        shared_neighbour<<<g, b>>>(out, true);
    else if (!strcmp(c, "shared_after_shuffle"))
        shared_after_shuffle<<<1, 32>>>(out);
    else if (!strcmp(c, "grid_word"))
        one_word_per_grid<<<g, b>>>(out, false);
    else if (!strcmp(c, "grid_word_atomic"))
        one_word_per_grid<<<g, b>>>(out, true);
    else if (!strcmp(c, "divergent_barrier"))
        divergent_barrier<<<1, b>>>(out);
    else if (!strcmp(c, "block_word"))
        one_word_per_block<<<1, b>>>(out);
    else if (!strcmp(c, "own_words")) {
        for (int k = 0; k < 3; k++) /* host reads between grids */
            own_words<<<g, b>>>(out);
        out[0] += out[g * b - 1];
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    printf("%s ran, out[0] = %g\n", c, out[0]);
    free(out);
    return 0;
}
