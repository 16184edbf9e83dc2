// The bfloat16 rounding every bf16 product applies to its operands, and the
// rounded copies the float32 fallback multiplies (portable C).
#include "CTFLABF16.h"
#include "bf16_kernels.h"

float tfla_bf16_round(float x) {
    uint32_t u = (uint32_t)tfla_bf16_bits(x) << 16;
    float y;
    memcpy(&y, &u, sizeof y);
    return y;
}

const float *tfla_bf16_rounded_operand(int slot, bool transpose, long rows, long cols,
                                       const float *x, long ld) {
    float *out = tfla_scratch_bytes(3 + (slot & 1), (size_t)(rows * cols > 0 ? rows * cols : 1) * sizeof(float));
    for (long r = 0; r < rows; r++) {
        for (long col = 0; col < cols; col++) {
            float value = transpose ? x[col * ld + r] : x[r * ld + col];
            out[r * cols + col] = tfla_bf16_round(value);
        }
    }
    return out;
}
