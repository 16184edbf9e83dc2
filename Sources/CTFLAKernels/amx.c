// bfloat16 products on the AMX tile unit (TDPBF16PS: a 16 x 16 float32
// tile += 16 x 32 bf16 rows times 16 pairs x 16 columns of bf16 pairs), the
// same products as avx512_bf16.c. The operands are packed with that file's
// conversions: op(A) as rows of bf16 (k padded to 32), op(B) as rows of
// pairs (the layout the B tile reads, "VNNI"), both padded with zeros.
#include "CTFLABF16.h"
#include "CTFLAKernels.h"
#include "bf16_kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if TFLA_X86_KERNELS

#define TFLA_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512bf16,avx512f,avx512bw,avx512vl")))

typedef struct __attribute__((aligned(64))) {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} tile_config;

// Packed operands are arrays of whole tiles, 16 rows of 64 bytes each (256
// 32-bit words), so that every tile load reads 1 KB of consecutive memory:
// rows of a tile spread 512 bytes or more apart compete for a few L1 sets.
// op(A): tile (strip r, step s) holds rows 16r..16r+15, bf16 k = 32s..32s+31.
// op(B): tile (strip c, step s) holds pairs 16s..16s+15 (k = 32s..32s+31)
// of columns 16c..16c+15.

// Tiles 0-3: a 32 x 32 block of C; 4, 5: two 16-row strips of op(A);
// 6, 7: two 16-column strips of op(B).
TFLA_AMX_TARGET
// The block starts from `in` (row stride in_bytes) when given, else from
// zeros, and goes to `out`.
// `steps` k-steps are multiplied; a strip of either operand holds
// `strip_steps` (more when A is zero past the block's last k-step). With
// `b_low` (B's second term, packed as B), each k-step adds A·B and then
// A·B_low to the same accumulators.
static void amx_block(long steps, long strip_steps, const uint32_t *a, const uint32_t *b, const uint32_t *b_low,
                      bool two_rows, bool two_cols, const float *in, long in_bytes, float *out, long out_bytes) {
    if (in) {
        _tile_loadd(0, in, in_bytes);
        if (two_cols) _tile_loadd(1, in + 16, in_bytes);
        if (two_rows) _tile_loadd(2, (const char *)in + 16 * in_bytes, in_bytes);
        if (two_rows && two_cols) _tile_loadd(3, (const char *)in + 16 * in_bytes + 64, in_bytes);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    const uint32_t *a1 = a + strip_steps * TILE_WORDS;
    int terms = b_low ? 2 : 1;
    for (long s = 0; s < steps; s++) {
        long offset = s * TILE_WORDS;
        _tile_loadd(4, a + offset, 64);
        if (two_rows) _tile_loadd(5, a1 + offset, 64);
        for (int term = 0; term < terms; term++) {
            const uint32_t *b0 = term ? b_low : b, *b1 = b0 + strip_steps * TILE_WORDS;
            _tile_loadd(6, b0 + offset, 64);
            _tile_dpbf16ps(0, 4, 6);
            if (two_cols) {
                _tile_loadd(7, b1 + offset, 64);
                _tile_dpbf16ps(1, 4, 7);
            }
            if (two_rows) {
                _tile_dpbf16ps(2, 5, 6);
                if (two_cols) _tile_dpbf16ps(3, 5, 7);
            }
        }
    }
    _tile_stored(0, out, out_bytes);
    if (two_cols) _tile_stored(1, out + 16, out_bytes);
    if (two_rows) _tile_stored(2, (char *)out + 16 * out_bytes, out_bytes);
    if (two_rows && two_cols) _tile_stored(3, (char *)out + 16 * out_bytes + 64, out_bytes);
}

// Every tile 16 rows of 64 bytes (palette 1), as all products here use them.
TFLA_AMX_TARGET
static void configure_tiles(void) {
    tile_config config = {0};
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.rows[t] = 16;
        config.bytes_per_row[t] = 64;
    }
    _tile_loadconfig(&config);
}

// Row `row` of op(A) from `count` floats (zeros after them) into its tiles.
TFLA_BF16_TARGET
void tfla_amx_pack_row(const float *x, long count, long steps, long row, uint32_t *tiles) {
    uint32_t *out = tiles + (row / 16) * steps * TILE_WORDS + (row % 16) * 16;
    for (long s = 0; s < steps; s++) {
        long left = count - 32 * s;
        __mmask16 m0 = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        __mmask16 m1 = left >= 32 ? (__mmask16)0xffff : left > 16 ? (__mmask16)((1u << (left - 16)) - 1) : 0;
        __m512 low = _mm512_maskz_loadu_ps(m0, x + 32 * s), high = _mm512_maskz_loadu_ps(m1, x + 32 * s + 16);
        _mm512_storeu_si512((void *)(out + s * TILE_WORDS), (__m512i)_mm512_cvtne2ps_pbh(high, low));
    }
}

// `words` 32-bit words per row, `rows` rows at `stride`, transposed into
// tiles: word w of row j goes to row w % 16 of tile (j / 16, w / 16), column
// j % 16. Rows past `rows` (up to a multiple of 16) become zeros.
TFLA_BF16_TARGET
void tfla_amx_transpose_into_tiles(const uint32_t *src, long stride, long rows, long steps, uint32_t *tiles) {
    __m512i lanes = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                       _mm512_set1_epi32((int)stride));
    for (long strip = 0; strip < (rows + 15) / 16; strip++) {
        long left = rows - strip * 16;
        __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        const uint32_t *base = src + strip * 16 * stride;
        uint32_t *out = tiles + strip * steps * TILE_WORDS;
        for (long w = 0; w < steps * 16; w++) {
            __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, lanes, (const void *)(base + w), 4);
            _mm512_storeu_si512((void *)(out + (w / 16) * TILE_WORDS + (w % 16) * 16), v);
        }
    }
}

// Rows r and r + 1 of a 32 x 32 block (row stride 32) as one row of a B
// tile: 16 pairs (C[r][j], C[r + 1][j]) for columns j0..j0+15, rounded.
TFLA_BF16_TARGET
static inline __m512i pair_of_rows(const float *top, const float *bottom) {
    return interleaved_pairs(_mm512_loadu_ps(top), _mm512_loadu_ps(bottom));
}

// The `rows` x `cols` values at the top left of `block` (row stride 32),
// zeros around them, as k-step `step` of column strips `strip` and
// `strip` + 1 of a packed B operand (`steps` k-steps per strip).
TFLA_BF16_TARGET
static void pack_result_block(float *block, long rows, long cols, long strip, long step, long steps, uint32_t *packed) {
    for (long r = 0; r < 32; r++) {
        for (long col = 0; col < 32; col += 16) {
            long left = r < rows ? cols - col : 0;
            __mmask16 keep = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
            _mm512_store_ps(block + r * 32 + col, _mm512_maskz_mov_ps(keep, _mm512_load_ps(block + r * 32 + col)));
        }
    }
    for (long half = 0; half < (cols > 16 ? 2 : 1); half++) {
        uint32_t *tile = packed + ((strip + half) * steps + step) * TILE_WORDS;
        for (long pair = 0; pair < 16; pair++)
            _mm512_storeu_si512((void *)(tile + pair * 16),
                                pair_of_rows(block + 2 * pair * 32 + half * 16, block + (2 * pair + 1) * 32 + half * 16));
    }
}

// What rounding the block to bfloat16 left out, x − bf16(x), packed as
// pack_result_block packs the block (the low part of a two-term C).
TFLA_BF16_TARGET
static void pack_residual_block(float *block, long rows, long cols, long strip, long step, long steps,
                                uint32_t *packed) {
    for (long r = 0; r < 32; r++) {
        for (long col = 0; col < 32; col += 16) {
            __m512 x = _mm512_load_ps(block + r * 32 + col);
            __m512 high = _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x)), 16));
            _mm512_store_ps(block + r * 32 + col, _mm512_sub_ps(x, high));
        }
    }
    pack_result_block(block, rows, cols, strip, step, steps, packed);
}

// A whole 32 x 32 block of C (row stride ldc floats) packed as
// pack_result_block, and with `packed_low` also as pack_residual_block, in
// one pass over C's rows and with the same bits: the low term comes from
// the rounded pairs already at hand (a pair's word is bf16(bottom) << 16 |
// bf16(top)), not from a second rounding.
TFLA_BF16_TARGET
static void pack_full_block(const float *c, long ldc, long strip, long step, long steps, uint32_t *packed,
                            uint32_t *packed_low) {
    const __m512i upper = _mm512_set1_epi32((int)0xffff0000u);
    for (long half = 0; half < 2; half++) {
        uint32_t *tile = packed + ((strip + half) * steps + step) * TILE_WORDS;
        uint32_t *low = packed_low ? packed_low + ((strip + half) * steps + step) * TILE_WORDS : NULL;
        for (long pair = 0; pair < 16; pair++) {
            __m512 top = _mm512_loadu_ps(c + 2 * pair * ldc + half * 16);
            __m512 bottom = _mm512_loadu_ps(c + (2 * pair + 1) * ldc + half * 16);
            __m512i words = interleaved_pairs(top, bottom);
            _mm512_storeu_si512((void *)(tile + pair * 16), words);
            if (!low) continue;
            __m512 top_high = _mm512_castsi512_ps(_mm512_slli_epi32(words, 16));
            __m512 bottom_high = _mm512_castsi512_ps(_mm512_and_si512(words, upper));
            _mm512_storeu_si512((void *)(low + pair * 16), interleaved_pairs(_mm512_sub_ps(top, top_high),
                                                                             _mm512_sub_ps(bottom, bottom_high)));
        }
    }
}

long tfla_amx_packed_words(long k, long n) {
    return ((n + 15) / 16) * ((k + 31) / 32) * TILE_WORDS;
}

// C <- alpha A B + beta C for A (m x k) and B (k x n) already in tile
// layout; `packed_c` as for amx_products.
TFLA_AMX_TARGET
static void amx_tile_product(long m, long n, long k, const uint32_t *tiles_a, const uint32_t *tiles_b,
                             const uint32_t *tiles_b_low, float alpha, float beta, float *c, long ldc,
                             uint32_t *packed_c, uint32_t *packed_low, int shape) {
    long steps = (k + 31) / 32;
    long strips_m = (m + 15) / 16, strips_n = (n + 15) / 16;
    configure_tiles();
    // Blocks that lie inside C and need no scaling go straight to C
    // (loaded first when beta is 1); the others through a 32 x 32 buffer.
    // With packed_c every block also passes through the buffer, in the same
    // arithmetic, so that C gets the same bits either way.
    bool direct_scaling = alpha == 1.0f && (beta == 0.0f || beta == 1.0f);
    long steps_c = (m + 31) / 32;  // packed_c: k-steps of the later product
    float block[32 * 32] __attribute__((aligned(64)));
    for (long cs = 0; cs < strips_n; cs += 2) {
        bool two_cols = cs + 1 < strips_n;
        long j = cs * 16, full_cols = two_cols ? 32 : 16;
        long cols = n - j < full_cols ? n - j : full_cols;
        for (long rs = 0; rs < strips_m; rs += 2) {
            bool two_rows = rs + 1 < strips_m;
            long i = rs * 16, full_rows = two_rows ? 32 : 16;
            long rows = m - i < full_rows ? m - i : full_rows;
            // Above the diagonal: blocks left out, or k-steps of A's zeros.
            if (shape == TFLA_TILE_LOWER_RESULT && j > i + rows - 1) continue;
            long block_steps = steps;
            if (shape == TFLA_TILE_LOWER_A && (i + rows - 1) / 32 + 1 < steps) block_steps = (i + rows - 1) / 32 + 1;
            const uint32_t *a_strip = tiles_a + rs * steps * TILE_WORDS;
            const uint32_t *b_strip = tiles_b + cs * steps * TILE_WORDS;
            const uint32_t *b_low_strip = tiles_b_low ? tiles_b_low + cs * steps * TILE_WORDS : NULL;
            if (direct_scaling && rows == full_rows && cols == full_cols) {
                float *corner = c + i * ldc + j;
                const float *start = beta == 1.0f ? corner : NULL;
                if (!packed_c) {
                    amx_block(block_steps, steps, a_strip, b_strip, b_low_strip, two_rows, two_cols, start, ldc * 4,
                              corner, ldc * 4);
                    continue;
                }
                if (rows == 32 && cols == 32) {
                    // Straight into C, then packed from C's rows.
                    amx_block(block_steps, steps, a_strip, b_strip, b_low_strip, true, true, start, ldc * 4, corner,
                              ldc * 4);
                    pack_full_block(corner, ldc, cs, i / 32, steps_c, packed_c, packed_low);
                    continue;
                }
                amx_block(block_steps, steps, a_strip, b_strip, b_low_strip, two_rows, two_cols, start, ldc * 4, block,
                          32 * 4);
                for (long r = 0; r < rows; r++) memcpy(corner + r * ldc, block + r * 32, (size_t)cols * sizeof(float));
                pack_result_block(block, rows, cols, cs, i / 32, steps_c, packed_c);
                if (packed_low) pack_residual_block(block, rows, cols, cs, i / 32, steps_c, packed_low);
                continue;
            }
            amx_block(block_steps, steps, a_strip, b_strip, b_low_strip, two_rows, two_cols, NULL, 0, block, 32 * 4);
            __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
            // A whole block is packed from C afterwards; a partial one from
            // `block`, which then holds what C holds.
            bool whole = rows == 32 && cols == 32;
            for (long r = 0; r < rows; r++) {
                float *row = c + (i + r) * ldc + j;
                for (long col = 0; col < cols; col += 16) {
                    long left = cols - col;
                    __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                    __m512 x = _mm512_mul_ps(va, _mm512_load_ps(block + r * 32 + col));
                    if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, row + col), x);
                    _mm512_mask_storeu_ps(row + col, mask, x);
                    if (packed_c && !whole) _mm512_mask_storeu_ps(block + r * 32 + col, mask, x);
                }
            }
            if (packed_c && whole) {
                pack_full_block(c + i * ldc + j, ldc, cs, i / 32, steps_c, packed_c, packed_low);
                continue;
            }
            if (packed_c) pack_result_block(block, rows, cols, cs, i / 32, steps_c, packed_c);
            if (packed_low) pack_residual_block(block, rows, cols, cs, i / 32, steps_c, packed_low);
        }
    }
    _tile_release();
}

// One 32 x 32 block of the packed state update below: the product `block`
// added to decay times the pairs read from the packed terms, rounded back
// into both terms (`keep_packed`) and stored in float32 to `c_out` (may be
// NULL). `two_rows`, `two_cols`: whether the block's second 16-row and
// 16-column strips exist (the product leaves them undefined otherwise).
TFLA_BF16_TARGET
static void packed_state_block(const float *block, long m, long n, long i, long cs, long steps_c, bool two_rows,
                               bool two_cols, float decay, uint32_t *packed_c, uint32_t *packed_low, bool keep_packed,
                               float *c_out, long ldc) {
    const __m512i upper = _mm512_set1_epi32((int)0xffff0000u);
    const __m512 scale = _mm512_set1_ps(decay);
    for (long half = 0; half < (two_cols ? 2 : 1); half++) {
        long j = (cs + half) * 16;
        __mmask16 columns = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        long offset = ((cs + half) * steps_c + i / 32) * TILE_WORDS;
        uint32_t *high = packed_c + offset, *low = packed_low + offset;
        for (long pair = 0; pair < (two_rows ? 16 : 8); pair++) {
            __m512i h = _mm512_loadu_si512((const void *)(high + pair * 16));
            __m512i l = _mm512_loadu_si512((const void *)(low + pair * 16));
            __m512 top = _mm512_add_ps(_mm512_castsi512_ps(_mm512_slli_epi32(h, 16)),
                                       _mm512_castsi512_ps(_mm512_slli_epi32(l, 16)));
            __m512 bottom = _mm512_add_ps(_mm512_castsi512_ps(_mm512_and_si512(h, upper)),
                                          _mm512_castsi512_ps(_mm512_and_si512(l, upper)));
            top = _mm512_fmadd_ps(scale, top, _mm512_load_ps(block + 2 * pair * 32 + half * 16));
            bottom = _mm512_fmadd_ps(scale, bottom, _mm512_load_ps(block + (2 * pair + 1) * 32 + half * 16));
            if (c_out) {
                long row = i + 2 * pair;
                if (row < m) _mm512_mask_storeu_ps(c_out + row * ldc + j, columns, top);
                if (row + 1 < m) _mm512_mask_storeu_ps(c_out + (row + 1) * ldc + j, columns, bottom);
            }
            if (!keep_packed) continue;
            // The high term truncated (its bits, taken as they are), the low
            // term the rest rounded to nearest even: the two sum to the
            // float32 value within 2^-16 of it, without bias.
            __m512i top_bits = _mm512_castps_si512(top), bottom_bits = _mm512_castps_si512(bottom);
            _mm512_storeu_si512((void *)(high + pair * 16),
                                _mm512_ternarylogic_epi32(bottom_bits, upper, _mm512_srli_epi32(top_bits, 16), 0xEA));
            __m512 top_high = _mm512_castsi512_ps(_mm512_and_si512(top_bits, upper));
            __m512 bottom_high = _mm512_castsi512_ps(_mm512_and_si512(bottom_bits, upper));
            _mm512_storeu_si512((void *)(low + pair * 16),
                                interleaved_pairs(_mm512_sub_ps(top, top_high), _mm512_sub_ps(bottom, bottom_high)));
        }
    }
}

// The state update of a walk whose C lives between chunks only as its two
// packed bfloat16 terms: C <- decay·(C_high + C_low) + A·B, block by block
// (packed_state_block; the sum of the two terms is exact in float32). C's
// float32 rows are neither read nor written between chunks: that is the
// traffic saved. Padding stays zero: A's and B's padding make the product
// zero there, and the terms' padding is zero. The tile product of each
// block is issued before the vector pass of the block before it, into the
// other of two buffers, for the two to overlap; measured, they do not (the
// time is the sum of both; Docs/log/bf16-end-to-end.md, step 10), and the
// order costs nothing.
TFLA_AMX_TARGET
static void amx_packed_state_update(long m, long n, long k, const uint32_t *tiles_a, const uint32_t *tiles_b,
                                    float decay, uint32_t *packed_c, uint32_t *packed_low, bool keep_packed,
                                    float *c_out, long ldc) {
    long steps = (k + 31) / 32, steps_c = (m + 31) / 32;
    long strips_m = (m + 15) / 16, strips_n = (n + 15) / 16;
    if (k > 0) configure_tiles();
    float blocks[2][32 * 32] __attribute__((aligned(64)));
    long pending_i = -1, pending_cs = 0;
    bool pending_rows = false, pending_cols = false;
    int current = 0;
    for (long cs = 0; cs < strips_n; cs += 2) {
        bool two_cols = cs + 1 < strips_n;
        for (long rs = 0; rs < strips_m; rs += 2) {
            bool two_rows = rs + 1 < strips_m;
            // No product (k = 0): each block is decay times the terms.
            if (k > 0)
                amx_block(steps, steps, tiles_a + rs * steps * TILE_WORDS, tiles_b + cs * steps * TILE_WORDS, NULL,
                          two_rows, two_cols, NULL, 0, blocks[current], 32 * 4);
            else
                memset(blocks[current], 0, sizeof blocks[current]);
            if (pending_i >= 0)
                packed_state_block(blocks[1 - current], m, n, pending_i, pending_cs, steps_c, pending_rows,
                                   pending_cols, decay, packed_c, packed_low, keep_packed, c_out, ldc);
            pending_i = rs * 16;
            pending_cs = cs;
            pending_rows = two_rows;
            pending_cols = two_cols;
            current = 1 - current;
        }
    }
    packed_state_block(blocks[1 - current], m, n, pending_i, pending_cs, steps_c, pending_rows, pending_cols, decay,
                       packed_c, packed_low, keep_packed, c_out, ldc);
    if (k > 0) _tile_release();
}

// C <- alpha op(A) op(B) + beta C on tiles. `packed_b` (may be NULL): op(B)
// already in tile layout (tfla_amx_packed_words(k, n) words). `packed_c`
// (may be NULL): receives the new C (m x n) in the same layout, as the B
// operand of a later product with k = m.
TFLA_AMX_TARGET
static void amx_products(bool transpose_a, bool transpose_b, long m, long n, long k,
                         float alpha, const float *a, long lda, const float *b, long ldb, const uint32_t *packed_b,
                         float beta, float *c, long ldc, uint32_t *packed_c) {
    long steps = (k + 31) / 32, pairs = (k + 1) / 2;
    long strips_m = (m + 15) / 16, strips_n = (n + 15) / 16;
    uint32_t *tiles_a = tfla_scratch_bytes(0, (size_t)(strips_m * steps * TILE_WORDS) * sizeof(uint32_t));
    if (transpose_a) {
        // op(A)'s rows are A's columns: pairs of A's rows (pair p of column
        // i at p * m + i, zero pairs up to 16 * steps), then transposed.
        long words = steps * 16;
        uint32_t *columns = tfla_scratch_bytes(2, (size_t)(words * m) * sizeof(uint32_t));
        for (long p = 0; p < pairs; p++) {
            const float *r1 = 2 * p + 1 < k ? a + (2 * p + 1) * lda : NULL;
            tfla_pair_rows(a + 2 * p * lda, r1, m, m, columns + p * m);
        }
        memset(columns + pairs * m, 0, (size_t)((words - pairs) * m) * sizeof(uint32_t));
        // Row i of op(A) is column i of `columns`: stride 1 between rows,
        // m between words.
        __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        lanes = _mm512_mullo_epi32(lanes, _mm512_set1_epi32((int)m));
        for (long i = 0; i < strips_m * 16; i++) {
            uint32_t *out = tiles_a + (i / 16) * steps * TILE_WORDS + (i % 16) * 16;
            for (long s = 0; s < steps; s++) {
                __m512i v = i < m ? _mm512_i32gather_epi32(lanes, (const void *)(columns + s * 16 * m + i), 4)
                                  : _mm512_setzero_si512();
                _mm512_storeu_si512((void *)(out + s * TILE_WORDS), v);
            }
        }
    } else {
        for (long i = 0; i < strips_m * 16; i++) tfla_amx_pack_row(i < m ? a + i * lda : a, i < m ? k : 0, steps, i, tiles_a);
    }
    const uint32_t *tiles_b = packed_b;
    if (!tiles_b) {
        uint32_t *packing = tfla_scratch_bytes(1, (size_t)(strips_n * steps * TILE_WORDS) * sizeof(uint32_t));
        if (transpose_b) {
            // op(B)'s columns are B's rows: each as bf16 words, then transposed.
            long words = steps * 16;
            uint16_t *halves = tfla_scratch_bytes(2, (size_t)(n * words) * sizeof(uint32_t));
            for (long j = 0; j < n; j++) {
                tfla_convert_row(b + j * ldb, k, halves + j * 2 * words);
                memset(halves + j * 2 * words + k, 0, (size_t)(2 * words - k) * sizeof(uint16_t));
            }
            tfla_amx_transpose_into_tiles((const uint32_t *)halves, words, n, steps, packing);
        } else {
            // Pair p of op(B) (rows 2p, 2p + 1), 16 columns at a time,
            // straight into its tile row.
            for (long p = 0; p < steps * 16; p++) {
                const float *r0 = 2 * p < k ? b + 2 * p * ldb : b, *r1 = 2 * p + 1 < k ? b + (2 * p + 1) * ldb : b;
                bool has0 = 2 * p < k, has1 = 2 * p + 1 < k;
                for (long strip = 0; strip < strips_n; strip++) {
                    long left = n - strip * 16;
                    __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                    __m512 top = _mm512_maskz_loadu_ps(has0 ? mask : 0, r0 + strip * 16);
                    __m512 bottom = _mm512_maskz_loadu_ps(has1 ? mask : 0, r1 + strip * 16);
                    _mm512_storeu_si512((void *)(packing + (strip * steps + p / 16) * TILE_WORDS + (p % 16) * 16),
                                        interleaved_pairs(top, bottom));
                }
            }
        }
        tiles_b = packing;
    }

    amx_tile_product(m, n, k, tiles_a, tiles_b, NULL, alpha, beta, c, ldc, packed_c, NULL, TFLA_TILE_FULL);
}

TFLA_AMX_TARGET
void tfla_amx_bf16_gemm(bool transpose_a, bool transpose_b, long m, long n, long k,
                        float alpha, const float *a, long lda, const float *b, long ldb,
                        float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    amx_products(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, NULL, beta, c, ldc, NULL);
}

TFLA_AMX_TARGET
void tfla_amx_bf16_gemm_packing_result(bool transpose_a, bool transpose_b, long m, long n, long k,
                                       float alpha, const float *a, long lda, const float *b, long ldb,
                                       float beta, float *c, long ldc, uint32_t *packed_c) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        // No product: scale C, then pack it as it stands.
        float block[32 * 32] __attribute__((aligned(64)));
        for (long i = 0; i < m; i += 32) {
            for (long j = 0; j < n; j += 32) {
                long rows = m - i < 32 ? m - i : 32, cols = n - j < 32 ? n - j : 32;
                for (long r = 0; r < rows; r++) {
                    for (long col = 0; col < cols; col++) {
                        float *x = c + (i + r) * ldc + j + col;
                        *x = beta == 0.0f ? 0.0f : beta * *x;
                        block[r * 32 + col] = *x;
                    }
                }
                pack_result_block(block, rows, cols, j / 16, i / 32, (m + 31) / 32, packed_c);
            }
        }
        return;
    }
    amx_products(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, NULL, beta, c, ldc, packed_c);
}

TFLA_AMX_TARGET
void tfla_amx_bf16_gemm_packed_b(bool transpose_a, long m, long n, long k, float alpha, const float *a, long lda,
                                 const uint32_t *packed_b, float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    amx_products(transpose_a, false, m, n, k, alpha, a, lda, NULL, 0, packed_b, beta, c, ldc, NULL);
}

TFLA_AMX_TARGET
void tfla_amx_tile_product(long m, long n, long k, const uint32_t *a_tiles, const uint32_t *b_tiles,
                           float alpha, float beta, float *c, long ldc, uint32_t *packed_c, uint32_t *packed_low) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        tfla_amx_bf16_gemm_packing_result(false, false, m, n, 0, alpha, NULL, 0, NULL, 0, beta, c, ldc, packed_c
                                          ? packed_c : tfla_scratch_bytes(4, (size_t)tfla_amx_packed_words(m, n) * 4));
        return;
    }
    amx_tile_product(m, n, k, a_tiles, b_tiles, NULL, alpha, beta, c, ldc, packed_c, packed_low, TFLA_TILE_FULL);
}

TFLA_AMX_TARGET
void tfla_amx_tile_product_shaped(long m, long n, long k, const uint32_t *a_tiles, const uint32_t *b_tiles,
                                  const uint32_t *b_low_tiles, float alpha, float beta, float *c, long ldc, int shape) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        tfla_amx_tile_product(m, n, k, a_tiles, b_tiles, alpha, beta, c, ldc, NULL, NULL);
        return;
    }
    amx_tile_product(m, n, k, a_tiles, b_tiles, b_low_tiles, alpha, beta, c, ldc, NULL, NULL, shape);
}

TFLA_AMX_TARGET
void tfla_amx_packed_state_update(long m, long n, long k, const uint32_t *a_tiles, const uint32_t *b_tiles,
                                  float decay, uint32_t *packed_c, uint32_t *packed_low, bool keep_packed,
                                  float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    amx_packed_state_update(m, n, k, a_tiles, b_tiles, decay, packed_c, packed_low, keep_packed, c, ldc);
}


#else
long tfla_amx_packed_words(long k, long n) { return ((n + 15) / 16) * ((k + 31) / 32) * 256; }

void tfla_amx_bf16_gemm_packing_result(bool transpose_a, bool transpose_b, long m, long n, long k,
                                       float alpha, const float *a, long lda, const float *b, long ldb,
                                       float beta, float *c, long ldc, uint32_t *packed_c) {
    (void)transpose_a; (void)transpose_b; (void)m; (void)n; (void)k; (void)alpha; (void)a;
    (void)lda; (void)b; (void)ldb; (void)beta; (void)c; (void)ldc; (void)packed_c;
    abort();
}

void tfla_amx_bf16_gemm_packed_b(bool transpose_a, long m, long n, long k, float alpha, const float *a, long lda,
                                 const uint32_t *packed_b, float beta, float *c, long ldc) {
    (void)transpose_a; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)packed_b;
    (void)beta; (void)c; (void)ldc;
    abort();
}

void tfla_amx_tile_product(long m, long n, long k, const uint32_t *a_tiles, const uint32_t *b_tiles,
                           float alpha, float beta, float *c, long ldc, uint32_t *packed_c, uint32_t *packed_low) {
    (void)m; (void)n; (void)k; (void)a_tiles; (void)b_tiles; (void)alpha; (void)beta; (void)c; (void)ldc;
    (void)packed_c; (void)packed_low;
    abort();
}

void tfla_amx_tile_product_shaped(long m, long n, long k, const uint32_t *a_tiles, const uint32_t *b_tiles,
                                  const uint32_t *b_low_tiles, float alpha, float beta, float *c, long ldc, int shape) {
    (void)m; (void)n; (void)k; (void)a_tiles; (void)b_tiles; (void)b_low_tiles; (void)alpha; (void)beta; (void)c;
    (void)ldc; (void)shape;
    abort();
}

void tfla_amx_packed_state_update(long m, long n, long k, const uint32_t *a_tiles, const uint32_t *b_tiles,
                                  float decay, uint32_t *packed_c, uint32_t *packed_low, bool keep_packed,
                                  float *c, long ldc) {
    (void)m; (void)n; (void)k; (void)a_tiles; (void)b_tiles; (void)decay; (void)packed_c; (void)packed_low;
    (void)keep_packed; (void)c; (void)ldc;
    abort();
}

void tfla_amx_bf16_gemm(bool transpose_a, bool transpose_b, long m, long n, long k,
                        float alpha, const float *a, long lda, const float *b, long ldb,
                        float beta, float *c, long ldc) {
    (void)transpose_a; (void)transpose_b; (void)m; (void)n; (void)k; (void)alpha; (void)a;
    (void)lda; (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
    abort();
}
#endif
