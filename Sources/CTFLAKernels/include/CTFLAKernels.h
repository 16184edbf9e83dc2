#ifndef TFLA_KERNELS_H
#define TFLA_KERNELS_H

#include <stdbool.h>

#include "CTFLABF16.h"
#include "CTFLABF16Step.h"

/* Internal to the library: hidden from the shared library's exports
 * (libtfla_c.so exports the functions of tfla.h only). */
#pragma GCC visibility push(hidden)

/// Instruction-set features of the running CPU, as far as the operating
/// system has enabled them (xgetbv checks the saved register state).
typedef struct {
    bool sse42;
    bool avx;
    bool avx2;
    bool fma;
    bool avx512f;
    bool avx512bw;
    bool avx512dq;
    bool avx512vl;
} tfla_cpu_features;

tfla_cpu_features tfla_detect_cpu_features(void);

/// The widest x86 vector extension this code was compiled for, from the
/// compiler's predefined macros: "AVX-512", "AVX2", "AVX", "SSE4.2",
/// "baseline", or "non-x86". The Makefile passes the same `-Xcc -march=...`
/// to C and Swift targets, so this also describes the Swift code generation.
const char *tfla_build_isa(void);



/// The number of CPUs this process may run on (its affinity mask), or 0
/// when unknown.
int tfla_available_cpus(void);

/// Sets flush-to-zero and denormals-are-zero for SSE/AVX arithmetic on the
/// calling thread and returns the previous control word (0 elsewhere).
unsigned int tfla_enter_flush_to_zero(void);

/// Restores the control word returned by tfla_enter_flush_to_zero.
void tfla_leave_flush_to_zero(unsigned int saved);

/// The calling thread's SSE/AVX control word (MXCSR), 0 elsewhere.
unsigned int tfla_floating_point_control(void);

#pragma GCC visibility pop

#endif
