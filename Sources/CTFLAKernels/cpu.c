#include "CTFLAKernels.h"
#include "bf16_bits.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

tfla_cpu_features tfla_detect_cpu_features(void) {
    tfla_cpu_features f = {0};
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    f.sse42 = (c >> 20) & 1;
    bool osxsave = (c >> 27) & 1;
    bool avx_hw = (c >> 28) & 1;
    bool fma_hw = (c >> 12) & 1;
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    // The OS must save XMM|YMM state (bits 1,2) for AVX, and additionally
    // opmask|ZMM_Hi256|Hi16_ZMM (bits 5,6,7) for AVX-512.
    bool os_avx = (xcr0 & 0x6) == 0x6;
    bool os_avx512 = (xcr0 & 0xE6) == 0xE6;
    f.avx = avx_hw && os_avx;
    f.fma = fma_hw && os_avx;
    if (__get_cpuid_max(0, 0) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f.avx2 = os_avx && ((b >> 5) & 1);
        f.avx512f = os_avx512 && ((b >> 16) & 1);
        f.avx512dq = os_avx512 && ((b >> 17) & 1);
        f.avx512bw = os_avx512 && ((b >> 30) & 1);
        f.avx512vl = os_avx512 && ((b >> 31) & 1);
    }
    return f;
}
#else
tfla_cpu_features tfla_detect_cpu_features(void) {
    tfla_cpu_features f = {0};
    return f;
}
#endif

const char *tfla_build_isa(void) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    return "AVX-512";
#elif defined(__AVX2__) && defined(__FMA__)
    return "AVX2";
#elif defined(__AVX__)
    return "AVX";
#elif defined(__SSE4_2__)
    return "SSE4.2";
#elif defined(__x86_64__)
    return "baseline";
#else
    return "non-x86";
#endif
}

// The bf16 product instructions. AMX also needs the kernel's permission to
// use the tile state.
#if TFLA_X86_KERNELS
#include <cpuid.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

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

static bool amx_usable;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void probe_amx(void) {
    if (!tfla_cpu_has_avx512_bf16()) return;  // the packing uses vcvtneps2bf16
    unsigned int a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    bool tile = (d >> 24) & 1, bf16 = (d >> 22) & 1;
    if (!(tile && bf16)) return;
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    unsigned long long xcr0 = ((unsigned long long)hi << 32) | lo;
    if ((xcr0 & (3ull << 17)) != (3ull << 17)) return;  // XTILECFG, XTILEDATA
    // Linux hands out the 8 KB tile state only on request
    // (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); without it the first
    // tile instruction faults.
    if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return;
    amx_usable = true;
}

bool tfla_cpu_has_amx_bf16(void) {
    pthread_once(&amx_once, probe_amx);
    return amx_usable;
}
#else
bool tfla_cpu_has_avx512_bf16(void) { return false; }
bool tfla_cpu_has_amx_bf16(void) { return false; }
#endif
