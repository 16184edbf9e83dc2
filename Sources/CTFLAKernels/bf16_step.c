// The generation step on a matrix memory stored in bfloat16: widen, update,
// accumulate h and narrow in one pass over C (CTFLABF16Step.h).
#include "CTFLABF16Step.h"
#include "bf16_bits.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float widen_bf16(uint16_t bits) {
    uint32_t u = (uint32_t)bits << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

// Columns [first, last) of the tile, one value at a time: the portable path,
// and the vector path's remainder columns.
static void step_columns(long rows, long first, long last, long row_stride, float forget, float input,
                         const float *q, const float *k, const float *v, uint16_t *c, float *h) {
    for (long j = first; j < last; j++) h[j] = 0;
    for (long r = 0; r < rows; r++) {
        const float weighted_key = input * k[r];
        const float query = q[r];
        uint16_t *row = c + r * row_stride;
        for (long j = first; j < last; j++) {
            const float increment = weighted_key * v[j];
            const float updated = fmaf(forget, widen_bf16(row[j]), increment);
            h[j] = fmaf(query, updated, h[j]);
            row[j] = tfla_bf16_bits(updated);
        }
    }
}

#if TFLA_X86_KERNELS
#include <immintrin.h>

#define TFLA_BF16_STEP_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl,fma")))

// Columns 16·J … 16·J + 31 of one row of C at `row` (the row's weighted key
// i′·k_r and query q_r broadcast): widen the 32 values, update them
// (C′ = fma(f′, C, (i′k_r)·v)), accumulate h ← fma(q_r, C′, h), narrow and
// store. The widening zero-extends and shifts each value into the upper
// half of a float32 (exact).
#define STEP_PAIR(row, weighted_key, query, J)                                                          \
    do {                                                                                               \
        __m512 new0 = _mm512_castsi512_ps(_mm512_slli_epi32(                                            \
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((row) + 16 * (J)))), 16));       \
        __m512 new1 = _mm512_castsi512_ps(_mm512_slli_epi32(                                            \
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((row) + 16 * (J) + 16))), 16));  \
        new0 = _mm512_fmadd_ps(f, new0, _mm512_mul_ps(weighted_key, vv[J]));                            \
        new1 = _mm512_fmadd_ps(f, new1, _mm512_mul_ps(weighted_key, vv[(J) + 1]));                     \
        acc[J] = _mm512_fmadd_ps(query, new0, acc[J]);                                                  \
        acc[(J) + 1] = _mm512_fmadd_ps(query, new1, acc[(J) + 1]);                                      \
        _mm512_storeu_si512((void *)((row) + 16 * (J)), (__m512i)_mm512_cvtne2ps_pbh(new1, new0));      \
    } while (0)

// A block of 16·VECTORS columns (VECTORS even), all rows: h and v stay in
// registers, each row's slice of C is widened, updated, accumulated and
// narrowed in registers. Rows go two at a time (their h terms still added
// in row order), which saves a few percent of loop overhead.
#define STEP_BLOCK(VECTORS)                                                                             \
    TFLA_BF16_STEP_TARGET static inline __attribute__((always_inline)) void step_block_##VECTORS(        \
        long rows, long row_stride, __m512 f, float input, const float *q, const float *k,              \
        const float *v, uint16_t *c, float *h) {                                                      \
        __m512 vv[VECTORS], acc[VECTORS];                                                               \
        for (int j = 0; j < VECTORS; j++) {                                                             \
            vv[j] = _mm512_loadu_ps(v + 16 * j);                                                        \
            acc[j] = _mm512_setzero_ps();                                                               \
        }                                                                                               \
        long r = 0;                                                                                     \
        for (; r + 2 <= rows; r += 2) {                                                                 \
            const __m512 key0 = _mm512_set1_ps(input * k[r]), key1 = _mm512_set1_ps(input * k[r + 1]);  \
            const __m512 query0 = _mm512_set1_ps(q[r]), query1 = _mm512_set1_ps(q[r + 1]);              \
            uint16_t *row0 = c + r * row_stride, *row1 = row0 + row_stride;                             \
            for (int j = 0; j < VECTORS; j += 2) {                                                      \
                STEP_PAIR(row0, key0, query0, j);                                                       \
                STEP_PAIR(row1, key1, query1, j);                                                       \
            }                                                                                           \
        }                                                                                               \
        if (r < rows) {                                                                                 \
            const __m512 key0 = _mm512_set1_ps(input * k[r]), query0 = _mm512_set1_ps(q[r]);            \
            uint16_t *row0 = c + r * row_stride;                                                        \
            for (int j = 0; j < VECTORS; j += 2) STEP_PAIR(row0, key0, query0, j);                      \
        }                                                                                               \
        for (int j = 0; j < VECTORS; j++) _mm512_storeu_ps(h + 16 * j, acc[j]);                        \
    }

STEP_BLOCK(8)
STEP_BLOCK(2)

TFLA_BF16_STEP_TARGET
static void step_rows_avx512(long rows, long columns, long row_stride, float forget, float input,
                             const float *q, const float *k, const float *v, uint16_t *c, float *h) {
    const __m512 f = _mm512_set1_ps(forget);
    long j = 0;
    for (; j + 128 <= columns; j += 128) step_block_8(rows, row_stride, f, input, q, k, v + j, c + j, h + j);
    for (; j + 32 <= columns; j += 32) step_block_2(rows, row_stride, f, input, q, k, v + j, c + j, h + j);
    if (j < columns) step_columns(rows, j, columns, row_stride, forget, input, q, k, v, c, h);
}

void tfla_bf16_step_rows(bool vector, long rows, long columns, long row_stride,
                         float forget, float input, const float *q, const float *k,
                         const float *v, uint16_t *c, float *h) {
    if (vector) {
        step_rows_avx512(rows, columns, row_stride, forget, input, q, k, v, c, h);
    } else {
        step_columns(rows, 0, columns, row_stride, forget, input, q, k, v, c, h);
    }
}
#else
void tfla_bf16_step_rows(bool vector, long rows, long columns, long row_stride,
                         float forget, float input, const float *q, const float *k,
                         const float *v, uint16_t *c, float *h) {
    (void)vector;
    step_columns(rows, 0, columns, row_stride, forget, input, q, k, v, c, h);
}
#endif
