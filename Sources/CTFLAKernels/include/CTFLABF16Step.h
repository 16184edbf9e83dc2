#ifndef TFLA_CSUPPORT_BF16_STEP_H
#define TFLA_CSUPPORT_BF16_STEP_H

#include <stdbool.h>
#include <stdint.h>

/* Internal to the library: hidden from the shared library's exports
 * (libtfla_c.so exports the functions of tfla.h only). */
#pragma GCC visibility push(hidden)

/// One generation step on a tile of a head's matrix memory C stored in
/// bfloat16: `rows` rows (the key dimension) of `columns` values, row `r`
/// at `c + r * row_stride`. For every row r and column j, in float32:
///
///     old    = C[r][j] widened (exact)
///     new    = fma(forget, old, (input * k[r]) * v[j])
///     h[j]   = fma(q[r], new, h[j])          (rows in order, h starts at 0)
///     C[r][j] = new narrowed to bfloat16
///
/// `input * k[r]` and `(input * k[r]) * v[j]` are rounded float32 products.
/// The narrowing rounds to nearest, ties to even; a NaN stays a quiet NaN
/// with its sign and upper payload; overflow gives ±infinity; subnormal
/// float32 values become signed zeros (what vcvtne2ps2bf16 does, and the
/// bits of `tfla_bf16_round`). Under flush-to-zero, where the arithmetic
/// above produces no subnormals, that is the memory storage's own rounding.
///
/// `h` (`columns` floats) receives the unscaled numerator sum_r q[r]·C'[r][j].
/// With `vector` (only where `tfla_cpu_has_avx512_bf16()` is true: the
/// caller checks once, as cpuid is slow) the rows are updated 32 columns at
/// a time in registers; otherwise a portable loop runs. Both give the same
/// bits: every value is computed by the same operations in the same order.
/// Tiles of other widths give the same bits too (columns are independent).
void tfla_bf16_step_rows(bool vector, long rows, long columns, long row_stride,
                         float forget, float input, const float *q, const float *k,
                         const float *v, uint16_t *c, float *h);

#pragma GCC visibility pop

#endif
