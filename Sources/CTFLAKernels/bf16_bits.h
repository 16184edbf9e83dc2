// Private to CTFLAKernels: the one bfloat16 rounding every path shares, and
// which code is compiled.
#ifndef TFLA_CSUPPORT_BF16_BITS_H
#define TFLA_CSUPPORT_BF16_BITS_H

#include <stdint.h>
#include <string.h>

// x86-64 vector kernels, unless a build asks for the portable code alone
// (-DTFLA_PORTABLE_ONLY, how `make amx-check` checks that it compiles).
#if defined(__x86_64__) && !defined(TFLA_PORTABLE_ONLY)
#define TFLA_X86_KERNELS 1
#else
#define TFLA_X86_KERNELS 0
#endif

// `x` rounded to bfloat16 bits: round to nearest even, NaN quiet,
// subnormals to signed zero (as vcvtneps2bf16 and vcvtne2ps2bf16 do).
static inline uint16_t tfla_bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x40u;
    uint32_t zero = (u >> 16) & 0x8000u;
    rounded = (u & 0x7fffffffu) > 0x7f800000u ? nan : rounded;
    return (uint16_t)((u & 0x7f800000u) == 0 ? zero : rounded);
}

#endif
