// Times the fused bfloat16 step kernel (tfla_bf16_step_rows) alone, on one
// core, outside Swift: `heads` heads of the 7B shape (DQK 256, DHV 512),
// f′ = 0.95, i′ = 0.1, flush-to-zero as in the library's workers.
//
//   clang -O2 -march=x86-64-v4 -ISources/CTFLAKernels/include \
//       Scripts/probes/bf16-step-harness.c Sources/CTFLAKernels/bf16_step.c -o /tmp/bf16-step -lm
//   /tmp/bf16-step 4 1 400     # heads, vector path (1) or portable loop (0), repetitions
//
// Two copies at once (`/tmp/bf16-step 32 1 200 & /tmp/bf16-step 32 1 200`)
// stand for the two workers of a B = 8 step. Only run the vector path on a
// CPU with AVX512-BF16. Docs/log/generation-step.md ("The step in bf16") quotes it.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <xmmintrin.h>

#include "CTFLABF16Step.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int heads = argc > 1 ? atoi(argv[1]) : 4;
    int vector = argc > 2 ? atoi(argv[2]) : 1;
    int repetitions = argc > 3 ? atoi(argv[3]) : 400;
    long dqk = 256, dhv = 512;
    size_t n = (size_t)heads * dqk * dhv;
    uint16_t *c = aligned_alloc(64, n * 2);
    float *q = malloc(heads * dqk * 4), *k = malloc(heads * dqk * 4), *v = malloc(heads * dhv * 4);
    float *h = aligned_alloc(64, heads * dhv * 4);
    srand(1);
    for (size_t i = 0; i < n; i++) c[i] = 0x3f80 ^ (rand() & 0x80ff);
    for (long i = 0; i < heads * dqk; i++) {
        q[i] = rand() / (float)RAND_MAX - 0.5f;
        k[i] = rand() / (float)RAND_MAX - 0.5f;
    }
    for (long i = 0; i < heads * dhv; i++) v[i] = rand() / (float)RAND_MAX - 0.5f;
    _mm_setcsr(_mm_getcsr() | 0x8040);
    double *times = malloc(repetitions * sizeof(double));
    for (int r = 0; r < repetitions; r++) {
        double start = now();
        for (int head = 0; head < heads; head++)
            tfla_bf16_step_rows(vector, dqk, dhv, dhv, 0.95f, 0.1f, q + head * dqk, k + head * dqk,
                                v + head * dhv, c + head * dqk * dhv, h + head * dhv);
        times[r] = now() - start;
    }
    qsort(times, repetitions, sizeof(double), ascending);
    unsigned check = 0;
    for (size_t i = 0; i < n; i += 97) check ^= c[i];
    printf("%d heads, %s: median %.1f µs, min %.1f µs (%.2f cycles per 16 columns per row at 3.7 GHz, min); check %x\n",
           heads, vector ? "vector" : "portable", times[repetitions / 2] * 1e6, times[0] * 1e6,
           times[0] * 3.7e9 / (n / 16.0), check);
    return 0;
}
