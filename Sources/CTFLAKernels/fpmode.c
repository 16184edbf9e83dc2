#include "CTFLAKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

// MXCSR bit 15: flush-to-zero (subnormal results become 0);
// bit 6: denormals-are-zero (subnormal inputs read as 0).
#define TFLA_FTZ_DAZ 0x8040u

unsigned int tfla_enter_flush_to_zero(void) {
    unsigned int saved = _mm_getcsr();
    _mm_setcsr(saved | TFLA_FTZ_DAZ);
    return saved;
}

void tfla_leave_flush_to_zero(unsigned int saved) {
    _mm_setcsr(saved);
}

unsigned int tfla_floating_point_control(void) {
    return _mm_getcsr();
}
#else
unsigned int tfla_floating_point_control(void) { return 0; }
unsigned int tfla_enter_flush_to_zero(void) { return 0; }
void tfla_leave_flush_to_zero(unsigned int saved) { (void)saved; }
#endif
