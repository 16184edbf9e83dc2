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

#pragma GCC visibility pop

#endif
