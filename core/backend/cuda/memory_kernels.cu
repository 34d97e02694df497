/* Copy and fill kernels of the CUDA module (host side: memory.c). Copies
 * of one dtype move bits by element size; conversions go through double,
 * like the CPU backend. */
#include "core/backend/cuda/device_util.cuh"

template <typename U>
__global__ void copy_bits_kernel(mf_cuda_layout L, U *dst, const U *src) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[2];
        mf_offsets<2>(L, i, off);
        dst[off[0]] = src[off[1]];
    }
}

template <int SD, int DD>
__global__ void convert_kernel(mf_cuda_layout L, void *dst, int dst_dt, const void *src, int src_dt) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[2];
        mf_offsets<2>(L, i, off);
        mf_store<DD>(dst, dst_dt, off[0], mf_load<SD>(src, src_dt, off[1]));
    }
}

template <typename U>
__global__ void fill_kernel(mf_cuda_layout L, U *dst, U value) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[1];
        mf_offsets<1>(L, i, off);
        dst[off[0]] = value;
    }
}

extern "C" cudaError_t mf_cuda_launch_copy(cudaStream_t s, const mf_cuda_layout *L, void *dst, int dst_dt,
                                           const void *src, int src_dt) {
    unsigned g = mf_grid_for(L->n);
    if (dst_dt == src_dt) {
        switch (mf_dtype_size((mf_dtype)dst_dt)) {
        case 1: copy_bits_kernel<uint8_t><<<g, MF_THREADS, 0, s>>>(*L, (uint8_t *)dst, (const uint8_t *)src); break;
        case 2: copy_bits_kernel<uint16_t><<<g, MF_THREADS, 0, s>>>(*L, (uint16_t *)dst, (const uint16_t *)src); break;
        case 4: copy_bits_kernel<uint32_t><<<g, MF_THREADS, 0, s>>>(*L, (uint32_t *)dst, (const uint32_t *)src); break;
        case 8: copy_bits_kernel<uint64_t><<<g, MF_THREADS, 0, s>>>(*L, (uint64_t *)dst, (const uint64_t *)src); break;
        default: return cudaErrorInvalidValue;
        }
    } else if (src_dt == MF_F32 && dst_dt == MF_F64) {
        convert_kernel<MF_F32, MF_F64><<<g, MF_THREADS, 0, s>>>(*L, dst, dst_dt, src, src_dt);
    } else if (src_dt == MF_F64 && dst_dt == MF_F32) {
        convert_kernel<MF_F64, MF_F32><<<g, MF_THREADS, 0, s>>>(*L, dst, dst_dt, src, src_dt);
    } else if (src_dt == MF_F32 && dst_dt == MF_BF16) { /* autocast's casts, both ways */
        convert_kernel<MF_F32, MF_BF16><<<g, MF_THREADS, 0, s>>>(*L, dst, dst_dt, src, src_dt);
    } else if (src_dt == MF_BF16 && dst_dt == MF_F32) {
        convert_kernel<MF_BF16, MF_F32><<<g, MF_THREADS, 0, s>>>(*L, dst, dst_dt, src, src_dt);
    } else {
        convert_kernel<MF_DYN, MF_DYN><<<g, MF_THREADS, 0, s>>>(*L, dst, dst_dt, src, src_dt);
    }
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_fill(cudaStream_t s, const mf_cuda_layout *L, void *dst, int esize,
                                           uint64_t pattern) {
    unsigned g = mf_grid_for(L->n);
    switch (esize) {
    case 1: fill_kernel<uint8_t><<<g, MF_THREADS, 0, s>>>(*L, (uint8_t *)dst, (uint8_t)pattern); break;
    case 2: fill_kernel<uint16_t><<<g, MF_THREADS, 0, s>>>(*L, (uint16_t *)dst, (uint16_t)pattern); break;
    case 4: fill_kernel<uint32_t><<<g, MF_THREADS, 0, s>>>(*L, (uint32_t *)dst, (uint32_t)pattern); break;
    case 8: fill_kernel<uint64_t><<<g, MF_THREADS, 0, s>>>(*L, (uint64_t *)dst, pattern); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}
