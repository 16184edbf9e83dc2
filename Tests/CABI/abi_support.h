/* Support code of the C interface's test program (abi_test.c): counters, seeded
 * random buffers, comparisons and a problem with its buffers. */
#ifndef TFLA_ABI_SUPPORT_H
#define TFLA_ABI_SUPPORT_H

#include "tfla.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int passed, failed;
void error_paths(void);

static inline void check(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: %s (last error: %s)\n", what, tfla_last_error());
    }
}

/* A call that must fail with `expected` and leave a message. */
static inline void check_error(tfla_status status, tfla_status expected, const char *what) {
    const char *message = tfla_last_error();
    if (status == expected && message && message[0] != '\0') {
        passed++;
    } else {
        failed++;
        printf("FAIL: %s: status %d (expected %d), message \"%s\"\n", what, (int)status, (int)expected,
               message ? message : "(null)");
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static inline double uniform(double low, double high) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return low + (high - low) * (double)(z >> 11) / 9007199254740992.0;
}

static inline void *allocate(size_t bytes) {
    void *p = calloc(bytes ? bytes : 1, 1);
    if (!p) { printf("out of memory\n"); exit(2); }
    return p;
}

static inline double *random_doubles(size_t count, double low, double high) {
    double *p = allocate(count * sizeof(double));
    for (size_t j = 0; j < count; j++) p[j] = uniform(low, high);
    return p;
}

static inline float *to_floats(const double *x, size_t count) {
    float *p = allocate(count * sizeof(float));
    for (size_t j = 0; j < count; j++) p[j] = (float)x[j];
    return p;
}

/* max |a - b| / max(1, max |b|). */
static inline double relative_difference(const double *a, const double *b, size_t count) {
    double worst = 0, scale = 1;
    for (size_t j = 0; j < count; j++) {
        double d = fabs(a[j] - b[j]);
        if (!(d <= worst)) worst = d; /* NaN propagates */
        if (fabs(b[j]) > scale) scale = fabs(b[j]);
    }
    return worst / scale;
}

/* A float64 problem (B, NH, S, DQK, DHV) with seeded inputs. */
typedef struct problem_data {
    int64_t b, nh, s, dqk, dhv;
    double *q, *k, *v, *i, *f;
    size_t nq, nv, ng, nc, nn, nm; /* element counts */
} problem_data;

static inline problem_data make_data(int64_t b, int64_t nh, int64_t s, int64_t dqk, int64_t dhv) {
    problem_data d = {b, nh, s, dqk, dhv, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    d.nq = (size_t)(b * nh * s * dqk);
    d.nv = (size_t)(b * nh * s * dhv);
    d.ng = (size_t)(b * nh * s);
    d.nc = (size_t)(b * nh * dqk * dhv);
    d.nn = (size_t)(b * nh * dqk);
    d.nm = (size_t)(b * nh);
    d.q = random_doubles(d.nq, -1, 1);
    d.k = random_doubles(d.nq, -1, 1);
    d.v = random_doubles(d.nv, -1, 1);
    d.i = random_doubles(d.ng, -3, 3);
    d.f = random_doubles(d.ng, 0, 5);
    return d;
}

static inline void free_data(problem_data *d) {
    free(d->q); free(d->k); free(d->v); free(d->i); free(d->f);
}

static inline tfla_problem make_problem(const problem_data *d, tfla_dtype dtype, tfla_gate gate) {
    tfla_problem p;
    tfla_problem_init(&p);
    p.shape = (tfla_shape){d->b, d->nh, d->s, d->dqk, d->dhv};
    p.dtype = dtype;
    p.gate = gate;
    p.q = d->q; p.k = d->k; p.v = d->v; p.i = d->i; p.f = d->f;
    return p;
}

/* Tokens [t0, t1) of a (rows, S, width) array, as a new (rows, t1 - t0, width) array. */
static inline double *tokens(const double *x, int64_t rows, int64_t s, int64_t width, int64_t t0, int64_t t1) {
    double *p = allocate((size_t)(rows * (t1 - t0) * width) * sizeof(double));
    for (int64_t r = 0; r < rows; r++)
        memcpy(p + r * (t1 - t0) * width, x + (r * s + t0) * width, (size_t)((t1 - t0) * width) * sizeof(double));
    return p;
}

/* The same problem restricted to tokens [t0, t1). */
static inline problem_data slice(const problem_data *d, int64_t t0, int64_t t1) {
    problem_data e = *d;
    int64_t rows = d->b * d->nh;
    e.s = t1 - t0;
    e.nq = (size_t)(rows * e.s * d->dqk);
    e.nv = (size_t)(rows * e.s * d->dhv);
    e.ng = (size_t)(rows * e.s);
    e.q = tokens(d->q, rows, d->s, d->dqk, t0, t1);
    e.k = tokens(d->k, rows, d->s, d->dqk, t0, t1);
    e.v = tokens(d->v, rows, d->s, d->dhv, t0, t1);
    e.i = tokens(d->i, rows, d->s, 1, t0, t1);
    e.f = tokens(d->f, rows, d->s, 1, t0, t1);
    return e;
}

#endif
