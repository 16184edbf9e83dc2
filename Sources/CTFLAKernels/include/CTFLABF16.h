#ifndef TFLA_CSUPPORT_BF16_H
#define TFLA_CSUPPORT_BF16_H

#include <stdbool.h>
#include <stdint.h>

/* Internal to the library: hidden from the shared library's exports
 * (libtfla_c.so exports the functions of tfla.h only). */
#pragma GCC visibility push(hidden)

/// Whether the running CPU and operating system support AVX512-BF16
/// (vdpbf16ps) together with AVX-512 F/BW/VL: cpuid leaf 7 subleaf 1,
/// EAX bit 5, and the ZMM state enabled in XCR0.
bool tfla_cpu_has_avx512_bf16(void);

/// `x` rounded to bfloat16 (round to nearest, ties to even) and widened
/// back: the rounding every bf16 product applies to its operands. Zeros
/// and subnormals become signed zeros (the dot-product instruction reads
/// subnormals as zero), NaN stays NaN, overflow gives ±infinity.
float tfla_bf16_round(float x);

/// Row-major `C <- alpha * op(A) * op(B) + beta * C` with both operands
/// rounded to bfloat16 and the products accumulated in float32
/// (vdpbf16ps). `op(A)` is m x k, `op(B)` k x n; leading dimensions are row
/// strides. With `beta == 0` C is not read. Only call it when
/// tfla_cpu_has_avx512_bf16() is true. The summation order is fixed by the
/// sizes alone, so equal arguments give equal bits. Packs the operands into
/// buffers owned by the calling thread (grown on demand, freed when the
/// thread exits).
void tfla_bf16_gemm(bool transpose_a, bool transpose_b, long m, long n, long k,
                    float alpha, const float *a, long lda, const float *b, long ldb,
                    float beta, float *c, long ldc);

/// Whether the running CPU has the AMX tile unit with bf16 products
/// (AMX-TILE and AMX-BF16, cpuid leaf 7 EDX bits 24 and 22), the operating
/// system saves the tile state, and it granted this process the tile data
/// state (Linux's ARCH_REQ_XCOMP_PERM, requested on the first call). Also
/// requires AVX512-BF16, which packs the operands.
bool tfla_cpu_has_amx_bf16(void);

/// `tfla_bf16_gemm` on the AMX tile unit: the same operand rounding and
/// float32 accumulation, with a different (fixed) order of the float32
/// sums. Only call it when tfla_cpu_has_amx_bf16() is true. Configures the
/// tiles on entry and releases them on return.
void tfla_amx_bf16_gemm(bool transpose_a, bool transpose_b, long m, long n, long k,
                        float alpha, const float *a, long lda, const float *b, long ldb,
                        float beta, float *c, long ldc);

/// The number of 32-bit words that op(B) (k x n) takes in the tile
/// layout of the AMX products (whole 16 x 64-byte tiles, zero padded).
long tfla_amx_packed_words(long k, long n);

/// tfla_amx_bf16_gemm that also writes the new C (m x n), rounded to
/// bfloat16, into `packed_c` (tfla_amx_packed_words(m, n) words) in the
/// layout tfla_amx_bf16_gemm_packed_b reads as its op(B): the chunkwise
/// forward's state update, whose result is the next chunk's B operand.
void tfla_amx_bf16_gemm_packing_result(bool transpose_a, bool transpose_b, long m, long n, long k,
                                       float alpha, const float *a, long lda, const float *b, long ldb,
                                       float beta, float *c, long ldc, uint32_t *packed_c);

/// tfla_amx_bf16_gemm with op(B) (k x n) given already packed by
/// tfla_amx_bf16_gemm_packing_result: the same bits as packing B anew.
void tfla_amx_bf16_gemm_packed_b(bool transpose_a, long m, long n, long k, float alpha, const float *a, long lda,
                                 const uint32_t *packed_b, float beta, float *c, long ldc);

/// `op(X)` (rows x cols after the optional transposition) rounded to
/// bfloat16 and widened back to float32, row-major with row stride `cols`,
/// in a buffer owned by the calling thread (`slot` 0 or 1; valid until the
/// thread's next call with the same slot). The operands of the float32
/// fallback for CPUs without AVX512-BF16.
const float *tfla_bf16_rounded_operand(int slot, bool transpose, long rows, long cols,
                                       const float *x, long ld);


/* ---- Operands packed once per chunk (amx_chunk.c) ----
 * Packers write the tile layout of the AMX products: op(A) (m x k) as
 * tfla_amx_packed_words(k, m) words, op(B) (k x n) as
 * tfla_amx_packed_words(k, n) words, zero padded. `x` holds float32
 * (TFLA_SOURCE_FLOAT32: rounded to nearest even) or bfloat16 bits
 * (TFLA_SOURCE_BFLOAT16: copied), row-major with row stride `ld`
 * elements. Only call them where tfla_cpu_has_amx_bf16() is true; they
 * use a buffer owned by the calling thread. */
enum { TFLA_SOURCE_FLOAT32 = 0, TFLA_SOURCE_BFLOAT16 = 1, TFLA_SOURCE_FLOAT32_RESIDUAL = 2 };

/// op(A) = x (m rows of k).
void tfla_amx_pack_a(int source, const void *x, long ld, long m, long k, uint32_t *tiles);

/// op(B) = x (k rows of n). TFLA_SOURCE_FLOAT32_RESIDUAL packs what
/// rounding float32 x to bfloat16 leaves out, x − bf16(x), rounded.
void tfla_amx_pack_b(int source, const void *x, long ld, long k, long n, uint32_t *tiles);

/// op(B) = xᵀ for x of n rows of k (the keys, as the scores' B operand).
void tfla_amx_pack_b_transposed(int source, const void *x, long ld, long n, long k, uint32_t *tiles);

/// op(A) = (diag(w)·x)ᵀ, `columns` x `length`, for x of `length` rows of
/// `columns` (the state update's weighted keys): each w_t·x_t in float32,
/// then rounded. With `n` (may be NULL), also n <- decay·n + Σ_t w_t·x_t in
/// float32, tokens in order.
void tfla_amx_pack_weighted_transposed(int source, const void *x, long ld, long length, long columns,
                                       const float *weights, float decay, float *n, uint32_t *tiles);

/// Row-major C <- alpha·A·B + beta·C (m x n) from operands packed above
/// (A with k columns, B with k rows); `packed_c` (may be NULL) as for
/// tfla_amx_bf16_gemm_packing_result. The same blocking and bits as
/// tfla_amx_bf16_gemm on the same rounded operands.
/// With `packed_low` (may be NULL; only with `packed_c`), also the low
/// part C − bf16(C), rounded to bfloat16, in the same layout: the two
/// packed terms sum to C within ~2^-16 relative.
void tfla_amx_tile_product(long m, long n, long k, const uint32_t *a_tiles, const uint32_t *b_tiles,
                           float alpha, float beta, float *c, long ldc, uint32_t *packed_c, uint32_t *packed_low);

/// Shapes of tfla_amx_tile_product_shaped.
enum {
    TFLA_TILE_FULL = 0,
    /// Only C's lower triangle (j <= i) is wanted: 32 x 32 blocks wholly
    /// above the diagonal are left as they were (the scores QKᵀ).
    TFLA_TILE_LOWER_RESULT = 1,
    /// A is zero above its diagonal (A[i][p] = 0 for p > i): each block's
    /// k-steps stop at its last row (S·V for the masked scores S). The
    /// products left out are exact zeros: C gets the same bits as the full
    /// product, but for 0·inf in B.
    TFLA_TILE_LOWER_A = 2,
};

/// tfla_amx_tile_product without packed results, for a lower-triangular
/// result or A (`shape`, one of the TFLA_TILE_ values), and with
/// `b_low_tiles` (may be NULL; packed as B) for B in two terms:
/// C <- alpha·A·(B + B_low) + beta·C with both terms summed in the same
/// float32 accumulators, k-step by k-step (Q·C for C in two bfloat16 terms).
void tfla_amx_tile_product_shaped(long m, long n, long k, const uint32_t *a_tiles, const uint32_t *b_tiles,
                                  const uint32_t *b_low_tiles, float alpha, float beta, float *c, long ldc,
                                  int shape);

/// The state update C <- decay·C + A·B (m x n, A with k columns, B with k
/// rows, packed as above) for C held only as its two packed terms
/// (`packed_c` and `packed_low`, as tfla_amx_tile_product leaves them):
/// each entry read as high + low (exact in float32), updated in float32,
/// then split back into both terms when `keep_packed` (the high term
/// truncated, the low term the rest rounded to nearest even: within 2^-16
/// of the float32 value, unbiased), and written in float32 to row-major
/// `c` (row stride `ldc`; may be NULL) when given.
void tfla_amx_packed_state_update(long m, long n, long k, const uint32_t *a_tiles, const uint32_t *b_tiles,
                                  float decay, uint32_t *packed_c, uint32_t *packed_low, bool keep_packed,
                                  float *c, long ldc);

/// y[i] = Σ_j x[i][j]·v[j] in float32 for bfloat16 rows x (widened, exact);
/// needs AVX512-BF16 (tfla_cpu_has_avx512_bf16()).
void tfla_bf16_rows_dot(long m, long k, const uint16_t *x, long ld, const float *v, float *y);

/// The end of a chunk's h: row t of `h` (`rows` x `width`, row stride
/// `ldh`) times scale[t], into row t of `out` (float32) or of `out16`
/// (rounded to bfloat16; exactly one of them non-NULL; row stride `ldo`).
/// Returns whether every value written is finite. Needs AVX512-BF16.
bool tfla_scale_rows(long rows, long width, const float *h, long ldh, const float *scale, float *out,
                     uint16_t *out16, long ldo);

/// `count` floats rounded to bfloat16 bits (nearest even); needs
/// AVX512-BF16.
void tfla_bf16_store_row(const float *x, long count, uint16_t *out);

#pragma GCC visibility pop

#endif
