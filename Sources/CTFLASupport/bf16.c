// bfloat16 products with float32 accumulation (AVX512-BF16), the operand
// rounding they share with the float32 fallback, and CPU detection.
#include "CTFLABF16.h"
#include "CTFLASupport.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x40u;
    uint32_t zero = (u >> 16) & 0x8000u;
    rounded = (u & 0x7fffffffu) > 0x7f800000u ? nan : rounded;
    return (u & 0x7f800000u) == 0 ? zero : rounded;
}

float tfla_bf16_round(float x) {
    uint32_t u = bf16_bits(x) << 16;
    float y;
    memcpy(&y, &u, sizeof y);
    return y;
}

// Per-thread scratch: the product's operands (slots 0-2) and the
// fallback's rounded copies (slots 3, 4). Grown when too small, never shrunk.
typedef struct {
    void *data;
    size_t capacity;
} scratch_buffer;

static _Thread_local scratch_buffer scratch[5];

static void *scratch_bytes(int slot, size_t bytes) {
    scratch_buffer *buffer = &scratch[slot];
    if (buffer->capacity < bytes) {
        free(buffer->data);
        size_t rounded = (bytes + 63) & ~(size_t)63;
        buffer->data = aligned_alloc(64, rounded);
        if (!buffer->data) abort();
        buffer->capacity = rounded;
    }
    return buffer->data;
}

const float *tfla_bf16_rounded_operand(int slot, bool transpose, long rows, long cols,
                                       const float *x, long ld) {
    float *out = scratch_bytes(3 + (slot & 1), (size_t)(rows * cols > 0 ? rows * cols : 1) * sizeof(float));
    for (long r = 0; r < rows; r++) {
        for (long col = 0; col < cols; col++) {
            float value = transpose ? x[col * ld + r] : x[r * ld + col];
            out[r * cols + col] = tfla_bf16_round(value);
        }
    }
    return out;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

bool tfla_cpu_has_avx512_bf16(void) {
    tfla_cpu_features f = tfla_detect_cpu_features();
    if (!(f.avx512f && f.avx512bw && f.avx512vl)) return false;
    if (__get_cpuid_max(0, 0) < 7) return false;
    unsigned int a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    if (a < 1) return false;
    __cpuid_count(7, 1, a, b, c, d);
    return (a >> 5) & 1;
}

// Register tile: MR rows of C by NR = 2 x 16 columns.
enum { MR = 8, NR = 32 };

// op(X) (rows x cols) as bfloat16 bits, row-major with row stride `ldo`
// (even); an odd `cols` gets a zero column so that rows are whole pairs.
static void to_bf16_rows(bool transpose, long rows, long cols, const float *x, long ld,
                         uint16_t *out, long ldo) {
    if (transpose) {
        for (long col = 0; col < cols; col++) {
            const float *source = x + col * ld;
            for (long r = 0; r < rows; r++) out[r * ldo + col] = (uint16_t)bf16_bits(source[r]);
        }
    } else {
        for (long r = 0; r < rows; r++) {
            const float *source = x + r * ld;
            uint16_t *target = out + r * ldo;
            for (long col = 0; col < cols; col++) target[col] = (uint16_t)bf16_bits(source[col]);
        }
    }
    if (cols < ldo) {
        for (long r = 0; r < rows; r++) out[r * ldo + cols] = 0;
    }
}

// op(B) (k x n) as bf16 pairs along k, panels of NR columns:
// packed[(panel * kp + p) * NR + j] holds B[2p][col] (low half) and
// B[2p+1][col], col = panel * NR + j; columns past n are zero.
static void pack_b(bool transpose, long k, long n, const float *b, long ldb, uint32_t *packed,
                   uint16_t *staging) {
    long kp = (k + 1) / 2, panels = (n + NR - 1) / NR;
    if (transpose) {
        // Rows of op(B)ᵀ are columns of op(B): convert them, then each
        // 32-bit word of a converted row is one pair.
        to_bf16_rows(false, n, k, b, ldb, staging, 2 * kp);
        const uint32_t *words = (const uint32_t *)staging;
        for (long panel = 0; panel < panels; panel++) {
            uint32_t *out = packed + panel * kp * NR;
            for (long j = 0; j < NR; j++) {
                long col = panel * NR + j;
                if (col < n) {
                    for (long p = 0; p < kp; p++) out[p * NR + j] = words[col * kp + p];
                } else {
                    for (long p = 0; p < kp; p++) out[p * NR + j] = 0;
                }
            }
        }
        return;
    }
    for (long panel = 0; panel < panels; panel++) {
        uint32_t *out = packed + panel * kp * NR;
        long cols = n - panel * NR < NR ? n - panel * NR : NR;
        for (long p = 0; p < kp; p++) {
            uint32_t *row = out + p * NR;
            const float *r0 = b + 2 * p * ldb + panel * NR;
            if (2 * p + 1 < k) {
                const float *r1 = r0 + ldb;
                for (long j = 0; j < cols; j++) row[j] = bf16_bits(r0[j]) | (bf16_bits(r1[j]) << 16);
            } else {
                for (long j = 0; j < cols; j++) row[j] = bf16_bits(r0[j]);
            }
            for (long j = cols; j < NR; j++) row[j] = 0;
        }
    }
}

// MR rows of C (row r of op(A) as bf16 pairs at `a + r * lda_words`) by
// NR columns (one packed panel of B), accumulated over kp pairs.
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
static void micro_kernel(long kp, const uint32_t *a, long lda_words, const uint32_t *pb, float *c, long ldc,
                         long rows, long cols, float alpha, float beta) {
    __m512 acc[MR][2];
    const uint32_t *row_of[MR];
    for (int r = 0; r < MR; r++) {
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        row_of[r] = a + (r < rows ? r : rows - 1) * lda_words;
    }
    for (long p = 0; p < kp; p++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)(pb + p * NR));
        __m512bh b1 = (__m512bh)_mm512_load_si512((const void *)(pb + p * NR + 16));
        for (int r = 0; r < MR; r++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)row_of[r][p]);
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

void tfla_bf16_gemm(bool transpose_a, bool transpose_b, long m, long n, long k,
                    float alpha, const float *a, long lda, const float *b, long ldb,
                    float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    long kp = (k + 1) / 2, column_panels = (n + NR - 1) / NR;
    size_t words = (size_t)(kp > 0 ? kp : 1);
    uint16_t *rows_a = scratch_bytes(0, (size_t)m * words * sizeof(uint32_t));
    uint32_t *pb = scratch_bytes(1, (size_t)column_panels * NR * words * sizeof(uint32_t));
    uint16_t *staging = transpose_b ? scratch_bytes(2, (size_t)n * words * sizeof(uint32_t)) : NULL;
    to_bf16_rows(transpose_a, m, k, a, lda, rows_a, 2 * kp);
    pack_b(transpose_b, k, n, b, ldb, pb, staging);
    const uint32_t *words_a = (const uint32_t *)rows_a;
    for (long jp = 0; jp < column_panels; jp++) {
        long cols = n - jp * NR < NR ? n - jp * NR : NR;
        for (long i = 0; i < m; i += MR) {
            long rows = m - i < MR ? m - i : MR;
            micro_kernel(kp, words_a + i * kp, kp, pb + jp * kp * NR, c + i * ldc + jp * NR, ldc,
                         rows, cols, alpha, beta);
        }
    }
}
#else
bool tfla_cpu_has_avx512_bf16(void) { return false; }

void tfla_bf16_gemm(bool transpose_a, bool transpose_b, long m, long n, long k,
                    float alpha, const float *a, long lda, const float *b, long ldb,
                    float beta, float *c, long ldc) {
    (void)transpose_a; (void)transpose_b; (void)m; (void)n; (void)k; (void)alpha; (void)a;
    (void)lda; (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
    abort();
}
#endif
