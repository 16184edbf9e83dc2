// bfloat16 products with float32 accumulation on AVX512-BF16 (vdpbf16ps):
// the conversions to bf16 (shared with the AMX packing, amx.c), the
// register-tile micro-kernel and its matrix-vector case.
#include "CTFLABF16.h"
#include "CTFLAKernels.h"
#include "bf16_kernels.h"

#include <stdint.h>
#include <stdlib.h>

#if TFLA_X86_KERNELS

// Register tile: MR rows of C by NR = 2 x 16 columns.
enum { MR = 8, NR = 32 };

// `count` floats as bfloat16 bits (vcvtneps2bf16: ties to even,
// subnormals to zero, NaN quiet: the same bits as tfla_bf16_bits).
TFLA_BF16_TARGET
void tfla_convert_row(const float *x, long count, uint16_t *out) {
    long j = 0;
    for (; j + 16 <= count; j += 16) {
        __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + j));
        _mm256_storeu_si256((__m256i *)(out + j), (__m256i)v);
    }
    if (j < count) {
        __mmask16 mask = (__mmask16)((1u << (count - j)) - 1);
        __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, x + j));
        _mm256_mask_storeu_epi16(out + j, mask, (__m256i)v);
    }
}

// out[j] = (bf16 of r0[j]) | (bf16 of r1[j]) << 16 for j < count, zero up
// to `padded`; a NULL r1 reads as zeros (the pad of an odd k).
TFLA_BF16_TARGET
void tfla_pair_rows(const float *r0, const float *r1, long count, long padded, uint32_t *out) {
    for (long j = 0; j < padded; j += 16) {
        long left = count - j;
        __mmask16 mask = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        __m512 top = _mm512_maskz_loadu_ps(mask, r0 + j);
        __m512 bottom = r1 ? _mm512_maskz_loadu_ps(mask, r1 + j) : _mm512_setzero_ps();
        // Stores stop at `padded` (not a multiple of 16 for a transposed A).
        long room = padded - j;
        __mmask16 store = room >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << room) - 1);
        _mm512_mask_storeu_epi32((void *)(out + j), store, interleaved_pairs(top, bottom));
    }
}

// MR rows of C by NR columns. Row r of op(A), as bf16 pairs, has pair p at
// a[r * row_stride + p * pair_stride]; B's pair row p starts at
// b + p * b_stride (the panel's NR columns).
TFLA_BF16_TARGET
static void micro_kernel(long kp, const uint32_t *a, long row_stride, long pair_stride,
                         const uint32_t *b, long b_stride, float *c, long ldc,
                         long rows, long cols, float alpha, float beta) {
    __m512 acc[MR][2];
    const uint32_t *row_of[MR];
    for (int r = 0; r < MR; r++) {
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        row_of[r] = a + (r < rows ? r : rows - 1) * row_stride;
    }
    for (long p = 0; p < kp; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(b + p * b_stride));
        __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + p * b_stride + 16));
        long offset = p * pair_stride;
        for (int r = 0; r < MR; r++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)row_of[r][offset]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);
        }
    }
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? (__mmask16)0xffff : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < MR; r++) {
        if (r >= rows) break;
        float *row = c + r * ldc;
        __m512 x0 = _mm512_mul_ps(va, acc[r][0]), x1 = _mm512_mul_ps(va, acc[r][1]);
        if (beta != 0.0f) {
            x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), x0);
            x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), x1);
        }
        _mm512_mask_storeu_ps(row, m0, x0);
        _mm512_mask_storeu_ps(row + 16, m1, x1);
    }
}

// op(A)·x for one column x (q·n in the forward): rows of A against the
// rounded x, 16 products per FMA (exact: bf16 × bf16 fits in float32),
// instead of a 32-column register tile with 31 columns of padding.
TFLA_BF16_TARGET
static void matrix_vector(long m, long k, float alpha, const float *a, long lda, const float *x,
                          float beta, float *c, long ldc) {
    for (long i = 0; i < m; i++) {
        const float *row = a + i * lda;
        __m512 acc = _mm512_setzero_ps();
        for (long j = 0; j < k; j += 16) {
            __mmask16 mask = k - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - j)) - 1);
            __m256bh rounded = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, row + j));
            __m512 widened = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)rounded), 16));
            acc = _mm512_fmadd_ps(widened, _mm512_maskz_loadu_ps(mask, x + j), acc);
        }
        float sum = alpha * _mm512_reduce_add_ps(acc);
        c[i * ldc] = beta != 0.0f ? sum + beta * c[i * ldc] : sum;
    }
}

void tfla_bf16_gemm(bool transpose_a, bool transpose_b, long m, long n, long k,
                    float alpha, const float *a, long lda, const float *b, long ldb,
                    float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (n == 1 && !transpose_a) {
        float *x = tfla_scratch_bytes(2, (size_t)(k > 0 ? k : 1) * sizeof(float));
        for (long j = 0; j < k; j++) x[j] = tfla_bf16_round(transpose_b ? b[j] : b[j * ldb]);
        matrix_vector(m, k, alpha, a, lda, x, beta, c, ldc);
        return;
    }
    long kp = (k + 1) / 2, padded_n = (n + NR - 1) / NR * NR;
    size_t pairs = (size_t)(kp > 0 ? kp : 1);
    uint32_t *words_a = tfla_scratch_bytes(0, (size_t)m * pairs * sizeof(uint32_t));
    uint32_t *words_b = tfla_scratch_bytes(1, (size_t)padded_n * pairs * sizeof(uint32_t));
    // op(A): rows of pairs (row_stride kp) or columns of pairs (pair_stride m).
    long row_stride, pair_stride;
    if (transpose_a) {
        for (long p = 0; p < kp; p++) {
            const float *r1 = 2 * p + 1 < k ? a + (2 * p + 1) * lda : NULL;
            tfla_pair_rows(a + 2 * p * lda, r1, m, m, words_a + p * m);
        }
        row_stride = 1, pair_stride = m;
    } else {
        uint16_t *halves = (uint16_t *)words_a;
        for (long i = 0; i < m; i++) {
            tfla_convert_row(a + i * lda, k, halves + i * 2 * kp);
            if (k & 1) halves[i * 2 * kp + k] = 0;
        }
        row_stride = kp, pair_stride = 1;
    }
    // op(B): pair row p at words_b + p * padded_n.
    if (transpose_b) {
        uint16_t *halves = tfla_scratch_bytes(2, (size_t)n * pairs * sizeof(uint32_t));
        for (long j = 0; j < n; j++) {
            tfla_convert_row(b + j * ldb, k, halves + j * 2 * kp);
            if (k & 1) halves[j * 2 * kp + k] = 0;
        }
        const uint32_t *columns = (const uint32_t *)halves;
        for (long p = 0; p < kp; p++) {
            uint32_t *row = words_b + p * padded_n;
            for (long j = 0; j < n; j++) row[j] = columns[j * kp + p];
            for (long j = n; j < padded_n; j++) row[j] = 0;
        }
    } else {
        for (long p = 0; p < kp; p++) {
            const float *r1 = 2 * p + 1 < k ? b + (2 * p + 1) * ldb : NULL;
            tfla_pair_rows(b + 2 * p * ldb, r1, n, padded_n, words_b + p * padded_n);
        }
    }
    for (long j = 0; j < n; j += NR) {
        long cols = n - j < NR ? n - j : NR;
        for (long i = 0; i < m; i += MR) {
            long rows = m - i < MR ? m - i : MR;
            micro_kernel(kp, words_a + i * row_stride, row_stride, pair_stride, words_b + j, padded_n,
                         c + i * ldc + j, ldc, rows, cols, alpha, beta);
        }
    }
}

#else

void tfla_bf16_gemm(bool transpose_a, bool transpose_b, long m, long n, long k,
                    float alpha, const float *a, long lda, const float *b, long ldb,
                    float beta, float *c, long ldc) {
    (void)transpose_a; (void)transpose_b; (void)m; (void)n; (void)k; (void)alpha; (void)a;
    (void)lda; (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
    abort();
}
#endif
