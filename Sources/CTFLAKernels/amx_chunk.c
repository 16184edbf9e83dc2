// The operands of one chunk, packed once into the AMX tile layout of amx.c
// and shared by every product of the chunk: q as the A operand of Q·C and
// of the scores, kᵀ as the B operand of the scores, v as the B operand of
// S·V and of the state update, and (diag(w)K)ᵀ as the state update's A.
// Each packer reads float32 (rounded to bfloat16 on the way) or bfloat16
// storage (copied bit for bit), so that bfloat16 inputs are never widened
// into a float32 copy.
#include "CTFLABF16.h"
#include "CTFLAKernels.h"
#include "bf16_kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if TFLA_X86_KERNELS


// The mask of the first `count` of 16 lanes (all for count >= 16, none for
// count <= 0).
static inline __mmask16 lanes16(long count) {
    return count >= 16 ? (__mmask16)0xffff : count > 0 ? (__mmask16)((1u << count) - 1) : 0;
}

static inline __mmask32 lanes32(long count) {
    return count >= 32 ? (__mmask32)0xffffffffu : count > 0 ? (__mmask32)((1u << count) - 1) : 0;
}

// 16 values of a row (masked to `count`) as float32: read, or widened from
// bfloat16 (exact).
TFLA_BF16_TARGET
static inline __m512 load16(int source, const void *row, long offset, long count) {
    __mmask16 mask = lanes16(count);
    if (source == TFLA_SOURCE_BFLOAT16) {
        __m256i halves = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)row + offset);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16));
    }
    return _mm512_maskz_loadu_ps(mask, (const float *)row + offset);
}

// 16 values of a row (masked to `count`) as bfloat16 bits in 32-bit lanes
// (low halves): copied, or rounded from float32.
TFLA_BF16_TARGET
static inline __m512i bits16(int source, const void *row, long offset, long count) {
    __mmask16 mask = lanes16(count);
    if (source == TFLA_SOURCE_BFLOAT16)
        return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, (const uint16_t *)row + offset));
    __m512 x = _mm512_maskz_loadu_ps(mask, (const float *)row + offset);
    __m512i bits = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x));
    if (source != TFLA_SOURCE_FLOAT32_RESIDUAL) return bits;
    __m512 low = _mm512_sub_ps(x, _mm512_castsi512_ps(_mm512_slli_epi32(bits, 16)));
    return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(low));
}

static inline const void *row_at(int source, const void *x, long index, long ld) {
    // (TFLA_SOURCE_FLOAT32_RESIDUAL reads float32 rows.)
    return source == TFLA_SOURCE_BFLOAT16 ? (const void *)((const uint16_t *)x + index * ld)
                                          : (const void *)((const float *)x + index * ld);
}

TFLA_BF16_TARGET
void tfla_amx_pack_a(int source, const void *x, long ld, long m, long k, uint32_t *tiles) {
    long steps = (k + 31) / 32, strips = (m + 15) / 16;
    if (source != TFLA_SOURCE_BFLOAT16) {
        for (long i = 0; i < strips * 16; i++)
            tfla_amx_pack_row(i < m ? (const float *)x + i * ld : x, i < m ? k : 0, steps, i, tiles);
        return;
    }
    for (long i = 0; i < strips * 16; i++) {
        const uint16_t *row = (const uint16_t *)x + i * ld;
        uint32_t *out = tiles + (i / 16) * steps * TILE_WORDS + (i % 16) * 16;
        for (long s = 0; s < steps; s++) {
            __m512i v = _mm512_maskz_loadu_epi16(i < m ? lanes32(k - 32 * s) : 0, row + 32 * s);
            _mm512_storeu_si512((void *)(out + s * TILE_WORDS), v);
        }
    }
}

TFLA_BF16_TARGET
void tfla_amx_pack_b(int source, const void *x, long ld, long k, long n, uint32_t *tiles) {
    long steps = (k + 31) / 32, strips = (n + 15) / 16;
    for (long p = 0; p < steps * 16; p++) {
        long top = 2 * p, bottom = 2 * p + 1;
        const void *r0 = row_at(source, x, top < k ? top : 0, ld), *r1 = row_at(source, x, bottom < k ? bottom : 0, ld);
        for (long strip = 0; strip < strips; strip++) {
            long left = n - strip * 16;
            __m512i low = bits16(source, r0, strip * 16, top < k ? left : 0);
            __m512i high = bits16(source, r1, strip * 16, bottom < k ? left : 0);
            _mm512_storeu_si512((void *)(tiles + (strip * steps + p / 16) * TILE_WORDS + (p % 16) * 16),
                                _mm512_or_si512(low, _mm512_slli_epi32(high, 16)));
        }
    }
}

TFLA_BF16_TARGET
void tfla_amx_pack_b_transposed(int source, const void *x, long ld, long n, long k, uint32_t *tiles) {
    long steps = (k + 31) / 32, strips = (n + 15) / 16;
    if (source == TFLA_SOURCE_BFLOAT16) {
        // Pair p of column j of op(B) is word p of x's row j: gathered 16
        // rows at a time (by halves, so any row stride works); the last
        // word of an odd k keeps only its low half.
        __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                          _mm512_set1_epi32((int)ld));
        long pairs = (k + 1) / 2;
        __m512i low_half = _mm512_set1_epi32(0xffff);
        for (long strip = 0; strip < strips; strip++) {
            __mmask16 mask = lanes16(n - strip * 16);
            const uint16_t *base = (const uint16_t *)x + strip * 16 * ld;
            uint32_t *out = tiles + strip * steps * TILE_WORDS;
            for (long p = 0; p < steps * 16; p++) {
                __m512i v = _mm512_setzero_si512();
                if (p < pairs) {
                    v = _mm512_mask_i32gather_epi32(v, mask, rows, (const void *)(base + 2 * p), 2);
                    if (2 * p + 1 == k) v = _mm512_and_si512(v, low_half);
                }
                _mm512_storeu_si512((void *)(out + (p / 16) * TILE_WORDS + (p % 16) * 16), v);
            }
        }
        return;
    }
    // float32: each row of x rounded into padded bf16 words, then transposed.
    long words = steps * 16;
    uint16_t *halves = tfla_scratch_bytes(2, (size_t)(n * words) * sizeof(uint32_t));
    for (long j = 0; j < n; j++) {
        tfla_convert_row((const float *)x + j * ld, k, halves + j * 2 * words);
        memset(halves + j * 2 * words + k, 0, (size_t)(2 * words - k) * sizeof(uint16_t));
    }
    tfla_amx_transpose_into_tiles((const uint32_t *)halves, words, n, steps, tiles);
}

TFLA_BF16_TARGET
void tfla_amx_pack_weighted_transposed(int source, const void *x, long ld, long length, long columns,
                                       const float *weights, float decay, float *n, uint32_t *tiles) {
    long steps = (length + 31) / 32, strips = (columns + 15) / 16, pairs = steps * 16;
    long stride = strips * 16;
    // Pair p of every column (tokens 2p, 2p + 1, each times its weight and
    // rounded), at staged[p * stride + column]; then transposed into rows.
    uint32_t *staged = tfla_scratch_bytes(2, (size_t)(pairs * stride) * sizeof(uint32_t));
    if (n) {
        __m512 scale = _mm512_set1_ps(decay);
        for (long d = 0; d < columns; d += 16) {
            __mmask16 mask = lanes16(columns - d);
            _mm512_mask_storeu_ps(n + d, mask, _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(mask, n + d)));
        }
    }
    for (long p = 0; p < pairs; p++) {
        long t0 = 2 * p, t1 = 2 * p + 1;
        bool has0 = t0 < length, has1 = t1 < length;
        const void *r0 = row_at(source, x, has0 ? t0 : 0, ld), *r1 = row_at(source, x, has1 ? t1 : 0, ld);
        __m512 w0 = _mm512_set1_ps(has0 ? weights[t0] : 0.0f), w1 = _mm512_set1_ps(has1 ? weights[t1] : 0.0f);
        for (long d = 0; d < stride; d += 16) {
            long left = columns - d;
            __m512 top = _mm512_mul_ps(w0, load16(source, r0, d, has0 ? left : 0));
            __m512 bottom = _mm512_mul_ps(w1, load16(source, r1, d, has1 ? left : 0));
            _mm512_storeu_si512((void *)(staged + p * stride + d), interleaved_pairs(top, bottom));
            if (n && left > 0) {
                // n gains w_t·x_t in token order, as the float32 kernel adds them.
                __mmask16 mask = lanes16(left);
                __m512 sum = _mm512_maskz_loadu_ps(mask, n + d);
                if (has0) sum = _mm512_add_ps(sum, top);
                if (has1) sum = _mm512_add_ps(sum, bottom);
                _mm512_mask_storeu_ps(n + d, mask, sum);
            }
        }
    }
    // Row d of op(A) = column d of `staged`: word p of tile (d / 16, p / 16).
    __m512i lanes = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                       _mm512_set1_epi32((int)stride));
    for (long d = 0; d < stride; d++) {
        uint32_t *out = tiles + (d / 16) * steps * TILE_WORDS + (d % 16) * 16;
        for (long s = 0; s < steps; s++) {
            __m512i v = _mm512_i32gather_epi32(lanes, (const void *)(staged + s * 16 * stride + d), 4);
            _mm512_storeu_si512((void *)(out + s * TILE_WORDS), v);
        }
    }
}

TFLA_BF16_TARGET
void tfla_bf16_rows_dot(long m, long k, const uint16_t *x, long ld, const float *v, float *y) {
    for (long i = 0; i < m; i++) {
        __m512 acc = _mm512_setzero_ps();
        for (long j = 0; j < k; j += 16) {
            __mmask16 mask = lanes16(k - j);
            acc = _mm512_fmadd_ps(load16(TFLA_SOURCE_BFLOAT16, x + i * ld, j, k - j), _mm512_maskz_loadu_ps(mask, v + j), acc);
        }
        y[i] = _mm512_reduce_add_ps(acc);
    }
}

TFLA_BF16_TARGET
void tfla_bf16_store_row(const float *x, long count, uint16_t *out) { tfla_convert_row(x, count, out); }

TFLA_BF16_TARGET
bool tfla_scale_rows(long rows, long width, const float *h, long ldh, const float *scale, float *out,
                     uint16_t *out16, long ldo) {
    // Non-finite lanes are caught as x - x != 0 (NaN for ±inf and NaN).
    __mmask16 bad = 0;
    for (long t = 0; t < rows; t++) {
        const float *row = h + t * ldh;
        __m512 factor = _mm512_set1_ps(scale[t]);
        for (long j = 0; j < width; j += 16) {
            __mmask16 mask = lanes16(width - j);
            __m512 x = _mm512_mul_ps(factor, _mm512_maskz_loadu_ps(mask, row + j));
            bad |= _mm512_mask_cmp_ps_mask(mask, _mm512_sub_ps(x, x), _mm512_setzero_ps(), _CMP_NEQ_UQ);
            if (out16) _mm256_mask_storeu_epi16(out16 + t * ldo + j, mask, (__m256i)_mm512_cvtneps_pbh(x));
            else _mm512_mask_storeu_ps(out + t * ldo + j, mask, x);
        }
    }
    return bad == 0;
}

#else

static void unavailable(void) { abort(); }

void tfla_amx_pack_a(int source, const void *x, long ld, long m, long k, uint32_t *tiles) {
    (void)source; (void)x; (void)ld; (void)m; (void)k; (void)tiles;
    unavailable();
}

void tfla_amx_pack_b(int source, const void *x, long ld, long k, long n, uint32_t *tiles) {
    (void)source; (void)x; (void)ld; (void)k; (void)n; (void)tiles;
    unavailable();
}

void tfla_amx_pack_b_transposed(int source, const void *x, long ld, long n, long k, uint32_t *tiles) {
    (void)source; (void)x; (void)ld; (void)n; (void)k; (void)tiles;
    unavailable();
}

void tfla_amx_pack_weighted_transposed(int source, const void *x, long ld, long length, long columns,
                                       const float *weights, float decay, float *n, uint32_t *tiles) {
    (void)source; (void)x; (void)ld; (void)length; (void)columns; (void)weights; (void)decay; (void)n;
    (void)tiles;
    unavailable();
}

void tfla_bf16_rows_dot(long m, long k, const uint16_t *x, long ld, const float *v, float *y) {
    (void)m; (void)k; (void)x; (void)ld; (void)v; (void)y;
    unavailable();
}

void tfla_bf16_store_row(const float *x, long count, uint16_t *out) {
    (void)x; (void)count; (void)out;
    unavailable();
}

bool tfla_scale_rows(long rows, long width, const float *h, long ldh, const float *scale, float *out,
                     uint16_t *out16, long ldo) {
    (void)rows; (void)width; (void)h; (void)ldh; (void)scale; (void)out; (void)out16; (void)ldo;
    unavailable();
    return false;
}
#endif
