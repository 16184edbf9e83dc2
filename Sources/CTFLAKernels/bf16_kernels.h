// Private to CTFLAKernels: what the bf16 product files share (the
// per-thread scratch, the AVX512-BF16 conversions the AMX packing reuses).
#ifndef TFLA_KERNELS_BF16_KERNELS_H
#define TFLA_KERNELS_BF16_KERNELS_H

#include "bf16_bits.h"

#include <stddef.h>
#include <stdint.h>

#define TFLA_INTERNAL __attribute__((visibility("hidden")))

// Per-thread scratch (scratch.c): slots 0-2 hold a product's packed
// operands, slots 3 and 4 the fallback's rounded copies. Grown when too
// small, never shrunk, freed when the thread exits.
enum { TFLA_SCRATCH_SLOTS = 5 };
TFLA_INTERNAL void *tfla_scratch_bytes(int slot, size_t bytes);

#if TFLA_X86_KERNELS
#include <immintrin.h>

#define TFLA_BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))

// 32-bit words in one AMX tile (16 rows of 64 bytes): the unit of every
// packed operand.
enum { TILE_WORDS = 256 };

// `count` floats as bfloat16 bits (vcvtneps2bf16: ties to even, subnormals
// to zero, NaN quiet: the same bits as tfla_bf16_bits).
TFLA_INTERNAL TFLA_BF16_TARGET void tfla_convert_row(const float *x, long count, uint16_t *out);

// out[j] = (bf16 of r0[j]) | (bf16 of r1[j]) << 16 for j < count, zero up
// to `padded`; a NULL r1 reads as zeros (the pad of an odd k).
TFLA_INTERNAL TFLA_BF16_TARGET void tfla_amx_pack_row(const float *x, long count, long steps, long row, uint32_t *tiles);
TFLA_INTERNAL TFLA_BF16_TARGET void tfla_amx_transpose_into_tiles(const uint32_t *src, long stride, long rows, long steps,
                                                                  uint32_t *tiles);

TFLA_INTERNAL TFLA_BF16_TARGET void tfla_pair_rows(const float *r0, const float *r1, long count, long padded,
                                                   uint32_t *out);

// (top j, bottom j) rounded to bf16 pairs, as 16 32-bit words.
TFLA_BF16_TARGET
static inline __m512i interleaved_pairs(__m512 top, __m512 bottom) {
    // cvtne2ps gives [top 0..15 | bottom 0..15] as bf16; the permutation
    // interleaves them into (top j, bottom j) pairs.
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(bottom, top));
}
#endif

#endif
