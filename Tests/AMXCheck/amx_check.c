// Checks the AMX bf16 products (tfla_amx_bf16_gemm, Sources/CTFLAKernels/amx.c)
// against float64 sums of the rounded operands over odd sizes, both
// transpositions and several alpha/beta, and the AVX512-BF16 path too.
//
// Built with -DEMULATE (what `make amx-check` does), the tile instructions run
// as software on the same packed memory, so the packing and blocking are
// checked on CPUs without AMX. Built without it on an AMX machine, it checks
// the real instructions; with the argument `rates` it also times both paths
// at the forward's product shapes (one thread).
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <stdint.h>
#ifdef EMULATE
static const int tiles_emulated = 1;
static uint8_t tiles[8][16][64];
static float bfw(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }
static void emu_load(int t, const void *base, long stride) { for (int r = 0; r < 16; r++) memcpy(tiles[t][r], (const char *)base + r * stride, 64); }
static void emu_store(int t, void *base, long stride) { for (int r = 0; r < 16; r++) memcpy((char *)base + r * stride, tiles[t][r], 64); }
static void emu_dp(int c, int a, int b) {
  for (int m = 0; m < 16; m++) for (int n = 0; n < 16; n++) {
    float *cv = (float *)tiles[c][m] + n; float acc = *cv;
    for (int kk = 0; kk < 16; kk++) {
      uint16_t *ar = (uint16_t *)tiles[a][m]; uint16_t *br = (uint16_t *)tiles[b][kk];
      acc += bfw(ar[2*kk]) * bfw(br[2*n]) + bfw(ar[2*kk+1]) * bfw(br[2*n+1]);
    }
    *cv = acc; }
}
#undef _tile_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbf16ps
#define _tile_loadd(t, b, s) emu_load(t, b, s)
#define _tile_stored(t, b, s) emu_store(t, b, s)
#define _tile_zero(t) memset(tiles[t], 0, sizeof tiles[t])
#define _tile_dpbf16ps(c, a, b) emu_dp(c, a, b)
#define _tile_loadconfig(x) (void)(x)
#define _tile_release() (void)0
#define tfla_cpu_has_amx_bf16 real_has_amx
#endif
#ifndef EMULATE
static const int tiles_emulated = 0;
#endif
// The C target's sources by job, as one translation unit (their private
// header is included once).
#include "../../Sources/CTFLAKernels/scratch.c"
#include "../../Sources/CTFLAKernels/bf16_round.c"
#include "../../Sources/CTFLAKernels/avx512_bf16.c"
#include "../../Sources/CTFLAKernels/amx.c"
#include "../../Sources/CTFLAKernels/amx_chunk.c"
#include "../../Sources/CTFLAKernels/cpu.c"
#ifdef EMULATE
#undef tfla_cpu_has_amx_bf16
bool tfla_cpu_has_amx_bf16(void) { return true; }
#endif

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static float rnd(void) { return (float)rand() / (float)RAND_MAX * 2 - 1; }

static int check(bool ta, bool tb, long m, long n, long k, float alpha, float beta, int amx) {
  long ra = ta ? k : m, ca = ta ? m : k, rb = tb ? n : k, cb = tb ? k : n;
  long lda = ca + 3, ldb = cb + 5, ldc = n + 7;
  float *a = malloc(sizeof(float) * ra * lda), *b = malloc(sizeof(float) * rb * ldb);
  float *c = malloc(sizeof(float) * m * ldc), *c0 = malloc(sizeof(float) * m * ldc);
  for (long i = 0; i < ra * lda; i++) a[i] = rnd();
  for (long i = 0; i < rb * ldb; i++) b[i] = rnd();
  for (long i = 0; i < m * ldc; i++) c0[i] = c[i] = rnd();
  if (amx) tfla_amx_bf16_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else tfla_bf16_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  double worst = 0;
  for (long i = 0; i < m; i++) for (long j = 0; j < n; j++) {
    double s = 0, mag = 0;
    for (long p = 0; p < k; p++) {
      double x = tfla_bf16_round(ta ? a[p * lda + i] : a[i * lda + p]);
      double y = tfla_bf16_round(tb ? b[j * ldb + p] : b[p * ldb + j]);
      s += x * y; mag += fabs(x * y);
    }
    double want = alpha * s + (beta != 0 ? beta * c0[i * ldc + j] : 0);
    double err = fabs(c[i * ldc + j] - want) / (fabs(alpha) * mag + fabs(beta * c0[i * ldc + j]) + 1e-30);
    if (!(err <= worst)) worst = err;
  }
  // padding columns untouched
  for (long i = 0; i < m; i++) for (long j = n; j < ldc; j++) if (c[i * ldc + j] != c0[i * ldc + j]) { worst = 1; }
  free(a); free(b); free(c); free(c0);
  int bad = !(worst < 2e-6);
  if (bad) printf("FAIL %s ta=%d tb=%d m=%ld n=%ld k=%ld alpha=%g beta=%g err=%g\n", amx ? "amx" : "avx512", ta, tb, m, n, k, alpha, beta, worst);
  return bad;
}

// The state update's fused packing: C from tfla_amx_bf16_gemm_packing_result
// has the bits of tfla_amx_bf16_gemm, and a later product reading the packed C
// (tfla_amx_bf16_gemm_packed_b) the bits of one that packs C itself.
static int check_fused(long m, long n, long k, long m2, float beta) {
  long ldc = n + 3;
  float *a = malloc(sizeof(float) * k * m), *b = malloc(sizeof(float) * k * n);
  float *c1 = malloc(sizeof(float) * m * ldc), *c2 = malloc(sizeof(float) * m * ldc);
  float *q = malloc(sizeof(float) * m2 * m), *h1 = malloc(sizeof(float) * m2 * n), *h2 = malloc(sizeof(float) * m2 * n);
  uint32_t *packed = malloc(sizeof(uint32_t) * tfla_amx_packed_words(m, n));
  for (long i = 0; i < k * m; i++) a[i] = rnd();
  for (long i = 0; i < k * n; i++) b[i] = rnd();
  for (long i = 0; i < m * ldc; i++) c1[i] = c2[i] = rnd();
  for (long i = 0; i < m2 * m; i++) q[i] = rnd();
  // State update: C <- beta C + (Kw)^T V (A transposed, as the forward issues it).
  tfla_amx_bf16_gemm(true, false, m, n, k, 1, a, m, b, n, beta, c1, ldc);
  tfla_amx_bf16_gemm_packing_result(true, false, m, n, k, 1, a, m, b, n, beta, c2, ldc, packed);
  int bad = memcmp(c1, c2, sizeof(float) * m * ldc) != 0;
  // Next chunk's Q C.
  tfla_amx_bf16_gemm(false, false, m2, n, m, 1, q, m, c1, ldc, 0, h1, n);
  tfla_amx_bf16_gemm_packed_b(false, m2, n, m, 1, q, m, packed, 0, h2, n);
  bad |= (memcmp(h1, h2, sizeof(float) * m2 * n) != 0) << 1;
  if (bad) printf("FAIL fused m=%ld n=%ld k=%ld m2=%ld beta=%g (%s)\n", m, n, k, m2, beta, bad & 1 ? "C differs" : "packed C differs");
  free(a); free(b); free(c1); free(c2); free(q); free(h1); free(h2); free(packed);
  return bad != 0;
}


// The chunk packers (amx_chunk.c): a product of packed operands has the bits
// of tfla_amx_bf16_gemm on the same values, for float32 and bfloat16
// storage of the operands (bfloat16 values widened for the reference), and
// the weighted keys' n update adds w_t x_t in token order.
static uint16_t bits_of(float x) { uint32_t u; memcpy(&u, &x, 4); return (uint16_t)(u >> 16); }

static int check_chunk_packing(long m, long n, long k, int source) {
  long lda = k + 3, ldb = n + 5, ldt = k + 1, ldc = n + 2;
  float *a = malloc(sizeof(float) * m * lda), *b = malloc(sizeof(float) * k * ldb), *bt = malloc(sizeof(float) * n * ldt);
  float *w = malloc(sizeof(float) * (k + m + n)), *kw = malloc(sizeof(float) * k * m);
  uint16_t *a16 = malloc(2 * m * lda), *b16 = malloc(2 * k * ldb), *bt16 = malloc(2 * n * ldt);
  float *c1 = malloc(sizeof(float) * m * ldc), *c2 = malloc(sizeof(float) * m * ldc);
  float *n1 = malloc(sizeof(float) * m), *n2 = malloc(sizeof(float) * m);
  uint32_t *ta = malloc(4 * tfla_amx_packed_words(k, m)), *tb = malloc(4 * tfla_amx_packed_words(k, n));
  // bfloat16 storage holds values that are bfloat16 already.
  for (long i = 0; i < m * lda; i++) { a[i] = rnd(); if (source) a[i] = tfla_bf16_round(a[i]); a16[i] = bits_of(a[i]); }
  for (long i = 0; i < k * ldb; i++) { b[i] = rnd(); if (source) b[i] = tfla_bf16_round(b[i]); b16[i] = bits_of(b[i]); }
  for (long i = 0; i < n * ldt; i++) { bt[i] = rnd(); if (source) bt[i] = tfla_bf16_round(bt[i]); bt16[i] = bits_of(bt[i]); }
  for (long i = 0; i < k + m + n; i++) w[i] = rnd() * 3;
  int bad = 0;
  const void *pa = source ? (const void *)a16 : a, *pb = source ? (const void *)b16 : b, *pt = source ? (const void *)bt16 : bt;
  // A·B
  for (long i = 0; i < m * ldc; i++) c1[i] = c2[i] = rnd();
  tfla_amx_bf16_gemm(false, false, m, n, k, 0.5f, a, lda, b, ldb, 1, c1, ldc);
  tfla_amx_pack_a(source, pa, lda, m, k, ta);
  tfla_amx_pack_b(source, pb, ldb, k, n, tb);
  tfla_amx_tile_product(m, n, k, ta, tb, 0.5f, 1, c2, ldc, NULL, NULL);
  bad |= memcmp(c1, c2, sizeof(float) * m * ldc) != 0;
  // A·Bᵀ (the scores)
  tfla_amx_bf16_gemm(false, true, m, n, k, 1, a, lda, bt, ldt, 0, c1, ldc);
  tfla_amx_pack_b_transposed(source, pt, ldt, n, k, tb);
  tfla_amx_tile_product(m, n, k, ta, tb, 1, 0, c2, ldc, NULL, NULL);
  bad |= (memcmp(c1, c2, sizeof(float) * m * ldc) != 0) << 1;
  // (diag(w)X)ᵀ·B with X = a read as k... : X has k rows of m (row stride lda >= m when k >= m; use kw's own).
  float *x = malloc(sizeof(float) * k * (m + 1));
  uint16_t *x16 = malloc(2 * k * (m + 1));
  for (long i = 0; i < k * (m + 1); i++) { x[i] = rnd(); if (source) x[i] = tfla_bf16_round(x[i]); x16[i] = bits_of(x[i]); }
  for (long t = 0; t < k; t++) for (long d = 0; d < m; d++) kw[t * m + d] = w[t] * x[t * (m + 1) + d];
  for (long d = 0; d < m; d++) n1[d] = n2[d] = rnd();
  for (long d = 0; d < m; d++) { n1[d] *= 0.75f; for (long t = 0; t < k; t++) n1[d] += kw[t * m + d]; }
  for (long i = 0; i < m * ldc; i++) c1[i] = c2[i] = rnd();
  tfla_amx_bf16_gemm(true, false, m, n, k, 1, kw, m, b, ldb, 0.75f, c1, ldc);
  tfla_amx_pack_weighted_transposed(source, source ? (const void *)x16 : x, m + 1, k, m, w, 0.75f, n2, ta);
  tfla_amx_pack_b(source, pb, ldb, k, n, tb);
  tfla_amx_tile_product(m, n, k, ta, tb, 1, 0.75f, c2, ldc, NULL, NULL);
  bad |= (memcmp(c1, c2, sizeof(float) * m * ldc) != 0) << 2;
  bad |= (memcmp(n1, n2, sizeof(float) * m) != 0) << 3;
  if (source) {
    // rows·v in float32 against float64.
    float *y = malloc(sizeof(float) * m);
    tfla_bf16_rows_dot(m, k, a16, lda, w, y);
    for (long i = 0; i < m; i++) {
      double s = 0, mag = 0;
      for (long p = 0; p < k; p++) { s += (double)a[i * lda + p] * w[p]; mag += fabs((double)a[i * lda + p] * w[p]); }
      if (!(fabs(y[i] - s) <= 2e-6 * mag + 1e-30)) bad |= 16;
    }
    free(y);
  }
  if (bad) printf("FAIL chunk packing %s m=%ld n=%ld k=%ld (mask %d: 1 A·B, 2 A·Bt, 4 weighted, 8 n, 16 dot)\n",
                  source ? "bf16" : "float32", m, n, k, bad);
  free(a); free(b); free(bt); free(w); free(kw); free(a16); free(b16); free(bt16); free(c1); free(c2);
  free(n1); free(n2); free(ta); free(tb); free(x); free(x16);
  return bad != 0;
}


// C in two terms (tfla_amx_tile_product's packed_low and the residual
// packer): Q·(bf16(C) + bf16(C − bf16(C))) must be within ~2^-16 of Q·C
// computed in float64 from the float32 C, where one term is only 2^-9 close.
static int check_two_terms(long m, long n, long k, long rows_q, float beta) {
  long ldc = n + 1;
  float *a = malloc(sizeof(float) * k * m), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * ldc);
  float *q = malloc(sizeof(float) * rows_q * m), *h = malloc(sizeof(float) * rows_q * n);
  uint32_t *high = malloc(4 * tfla_amx_packed_words(m, n)), *low = malloc(4 * tfla_amx_packed_words(m, n));
  uint32_t *high2 = malloc(4 * tfla_amx_packed_words(m, n)), *low2 = malloc(4 * tfla_amx_packed_words(m, n));
  uint32_t *ta = malloc(4 * tfla_amx_packed_words(k, m)), *tb = malloc(4 * tfla_amx_packed_words(k, n));
  uint32_t *tq = malloc(4 * tfla_amx_packed_words(m, rows_q));
  for (long i = 0; i < k * m; i++) a[i] = rnd();
  for (long i = 0; i < k * n; i++) b[i] = rnd();
  for (long i = 0; i < m * ldc; i++) c[i] = rnd();
  for (long i = 0; i < rows_q * m; i++) q[i] = tfla_bf16_round(rnd());
  // The state update leaves both terms; a fresh C is packed by the packers.
  float *ones = malloc(sizeof(float) * k);
  for (long t = 0; t < k; t++) ones[t] = 1;
  tfla_amx_pack_weighted_transposed(TFLA_SOURCE_FLOAT32, a, m, k, m, ones, 1, NULL, ta);
  free(ones);
  tfla_amx_pack_b(TFLA_SOURCE_FLOAT32, b, n, k, n, tb);
  tfla_amx_tile_product(m, n, k, ta, tb, 1, beta, c, ldc, high, low);
  tfla_amx_pack_b(TFLA_SOURCE_FLOAT32, c, ldc, m, n, high2);
  tfla_amx_pack_b(TFLA_SOURCE_FLOAT32_RESIDUAL, c, ldc, m, n, low2);
  int bad = memcmp(high, high2, 4 * tfla_amx_packed_words(m, n)) != 0;
  bad |= (memcmp(low, low2, 4 * tfla_amx_packed_words(m, n)) != 0) << 1;
  tfla_amx_pack_a(TFLA_SOURCE_FLOAT32, q, m, rows_q, m, tq);
  // Q·C as two products, and in one pass over both terms (the walk's).
  float *h2 = malloc(sizeof(float) * rows_q * n);
  tfla_amx_tile_product(rows_q, n, m, tq, high, 1, 0, h, n, NULL, NULL);
  tfla_amx_tile_product(rows_q, n, m, tq, low, 1, 1, h, n, NULL, NULL);
  tfla_amx_tile_product_shaped(rows_q, n, m, tq, high, low, 1, 0, h2, n, TFLA_TILE_FULL);
  double worst = 0;
  for (long i = 0; i < rows_q; i++) for (long j = 0; j < n; j++) {
    double s = 0, mag = 0;
    for (long p = 0; p < m; p++) { s += (double)q[i * m + p] * c[p * ldc + j]; mag += fabs((double)q[i * m + p] * c[p * ldc + j]); }
    double err = fabs(h[i * n + j] - s) / (mag + 1e-30), err2 = fabs(h2[i * n + j] - s) / (mag + 1e-30);
    if (!(err <= worst)) worst = err;
    if (!(err2 <= worst)) worst = err2;
  }
  free(h2);
  bad |= !(worst < 4e-5) << 2;
  if (bad) printf("FAIL two terms m=%ld n=%ld k=%ld beta=%g (mask %d: 1 high, 2 low, 4 error %g)\n", m, n, k, beta, bad, worst);
  free(a); free(b); free(c); free(q); free(h); free(high); free(low); free(high2); free(low2); free(ta); free(tb); free(tq);
  return bad != 0;
}

// Entry (r, j) of a packed B operand with `steps` k-steps per strip, as a
// float (the bfloat16 half of its pair's word, widened exactly).
static double packed_entry(const uint32_t *packed, long steps, long r, long j) {
  uint32_t word = packed[((j / 16) * steps + r / 32) * 256 + ((r % 32) / 2) * 16 + j % 16];
  uint32_t bits = r % 2 ? word & 0xffff0000u : word << 16;
  float x; memcpy(&x, &bits, 4);
  return x;
}

// The walk's state update on C held only in its two packed terms
// (tfla_amx_packed_state_update): the float32 rows against
// decay·(high + low) + A·B in float64, the new terms within 2^-15 of those
// rows, the padding of the terms still zero, nothing written past n in C's
// rows, and the terms left as they were without keep_packed.
static int check_packed_state(long m, long n, long k, float decay, int keep) {
  long ldc = n + 3, steps = (m + 31) / 32, words = tfla_amx_packed_words(m, n);
  float *a = malloc(sizeof(float) * (k ? k : 1) * m), *b = malloc(sizeof(float) * (k ? k : 1) * n);
  float *c = malloc(sizeof(float) * m * ldc), *out = malloc(sizeof(float) * m * ldc);
  uint32_t *high = malloc(4 * words), *low = malloc(4 * words), *high0 = malloc(4 * words), *low0 = malloc(4 * words);
  uint32_t *ta = malloc(4 * tfla_amx_packed_words(k ? k : 1, m)), *tb = malloc(4 * tfla_amx_packed_words(k ? k : 1, n));
  for (long i = 0; i < k * m; i++) a[i] = rnd();
  for (long i = 0; i < k * n; i++) b[i] = rnd();
  for (long i = 0; i < m * ldc; i++) { c[i] = rnd() * 4; out[i] = -7; }
  tfla_amx_pack_b(TFLA_SOURCE_FLOAT32, c, ldc, m, n, high);
  tfla_amx_pack_b(TFLA_SOURCE_FLOAT32_RESIDUAL, c, ldc, m, n, low);
  memcpy(high0, high, 4 * words);
  memcpy(low0, low, 4 * words);
  if (k) {
    float *ones = malloc(sizeof(float) * k);
    for (long t = 0; t < k; t++) ones[t] = 1;
    tfla_amx_pack_weighted_transposed(TFLA_SOURCE_FLOAT32, a, m, k, m, ones, 1, NULL, ta);
    tfla_amx_pack_b(TFLA_SOURCE_FLOAT32, b, n, k, n, tb);
    free(ones);
  }
  tfla_amx_packed_state_update(m, n, k, ta, tb, decay, high, low, keep, out, ldc);
  double worst = 0, worst_terms = 0, drift = 0;
  long entries = 0;
  int bad = 0;
  for (long i = 0; i < m; i++) for (long j = 0; j < ldc; j++) {
    if (j >= n) { bad |= (out[i * ldc + j] != -7) << 1; continue; }
    double prior = packed_entry(high0, steps, i, j) + packed_entry(low0, steps, i, j);
    double s = decay * prior, mag = fabs(decay * prior);
    for (long p = 0; p < k; p++) {
      double x = (double)tfla_bf16_round(a[p * m + i]) * tfla_bf16_round(b[p * n + j]);
      s += x; mag += fabs(x);
    }
    double err = fabs(out[i * ldc + j] - s) / (mag + 1e-30);
    if (!(err <= worst)) worst = err;
    if (keep) {
      double terms = packed_entry(high, steps, i, j) + packed_entry(low, steps, i, j);
      double e = fabs(terms - out[i * ldc + j]) / (fabs(out[i * ldc + j]) + 1e-30);
      if (!(e <= worst_terms)) worst_terms = e;
      // Signed toward |C|: a truncated low term would shrink C every chunk.
      if (out[i * ldc + j] != 0) drift += (terms - out[i * ldc + j]) / out[i * ldc + j];
      entries++;
    }
  }
  bad |= !(worst < 2e-6);
  bad |= !(worst_terms <= 1.0 / 32768) << 2;
  // Rounded to nearest, the mean relative error is ~2^-17/sqrt(entries);
  // truncated, about -2^-16.
  if (entries >= 1000) bad |= !(fabs(drift / entries) < 1.0 / (1 << 19)) << 5;
  if (keep) {
    for (long r = 0; r < steps * 32; r++) for (long j = 0; j < ((n + 15) / 16) * 16; j++)
      if ((r >= m || j >= n) && (packed_entry(high, steps, r, j) != 0 || packed_entry(low, steps, r, j) != 0)) bad |= 8;
  } else {
    bad |= (memcmp(high, high0, 4 * words) != 0 || memcmp(low, low0, 4 * words) != 0) << 4;
  }
  if (bad)
    printf("FAIL packed state m=%ld n=%ld k=%ld decay=%g keep=%d (mask %d: 1 error %g, 2 past n, 4 terms %g, "
           "8 padding, 16 terms changed, 32 drift %g)\n", m, n, k, decay, keep, bad, worst, worst_terms,
           entries ? drift / entries : 0.0);
  free(a); free(b); free(c); free(out); free(high); free(low); free(high0); free(low0); free(ta); free(tb);
  return bad != 0;
}

// The lower-triangular shapes of tfla_amx_tile_product_shaped against the
// full product: the scores' lower triangle (blocks above it left as they
// were), and S·V with S zero above its diagonal, bit for bit.
static int check_lower(long m, long n, long k) {
  long ldc = n + 3;
  float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
  float *c1 = malloc(sizeof(float) * m * ldc), *c2 = malloc(sizeof(float) * m * ldc);
  uint32_t *ta = malloc(4 * tfla_amx_packed_words(k, m)), *tb = malloc(4 * tfla_amx_packed_words(k, n));
  for (long i = 0; i < m * k; i++) a[i] = rnd();
  for (long i = 0; i < k * n; i++) b[i] = rnd();
  tfla_amx_pack_a(TFLA_SOURCE_FLOAT32, a, k, m, k, ta);
  tfla_amx_pack_b(TFLA_SOURCE_FLOAT32, b, n, k, n, tb);
  int bad = 0;
  // Lower result: every entry on or below the diagonal, and nothing
  // written in a block wholly above it.
  for (long i = 0; i < m * ldc; i++) c1[i] = c2[i] = rnd();
  tfla_amx_tile_product(m, n, k, ta, tb, 0.5f, 1, c1, ldc, NULL, NULL);
  float *before = malloc(sizeof(float) * m * ldc);
  memcpy(before, c2, sizeof(float) * m * ldc);
  tfla_amx_tile_product_shaped(m, n, k, ta, tb, NULL, 0.5f, 1, c2, ldc, TFLA_TILE_LOWER_RESULT);
  for (long i = 0; i < m; i++) for (long j = 0; j < n; j++) {
    if (j <= i && c1[i * ldc + j] != c2[i * ldc + j]) bad |= 1;
    if (j >= (i / 32 + 1) * 32 && c2[i * ldc + j] != before[i * ldc + j]) bad |= 2;
  }
  // Lower A (k = m's triangle: A[i][p] = 0 for p > i).
  for (long i = 0; i < m; i++) for (long p = 0; p < k; p++) if (p > i) a[i * k + p] = 0;
  tfla_amx_pack_a(TFLA_SOURCE_FLOAT32, a, k, m, k, ta);
  for (long i = 0; i < m * ldc; i++) c1[i] = c2[i] = rnd();
  tfla_amx_tile_product(m, n, k, ta, tb, 1, 1, c1, ldc, NULL, NULL);
  tfla_amx_tile_product_shaped(m, n, k, ta, tb, NULL, 1, 1, c2, ldc, TFLA_TILE_LOWER_A);
  if (memcmp(c1, c2, sizeof(float) * m * ldc) != 0) bad |= 4;
  if (bad) printf("FAIL lower m=%ld n=%ld k=%ld (mask %d: 1 lower result, 2 above it written, 4 lower A)\n", m, n, k, bad);
  free(a); free(b); free(c1); free(c2); free(ta); free(tb); free(before);
  return bad != 0;
}

static double rate(bool ta, bool tb, long m, long n, long k, float beta, int path) {
  long ra = ta ? k : m, ca = ta ? m : k, rb = tb ? n : k, cb = tb ? k : n;
  float *a = malloc(sizeof(float) * ra * ca), *b = malloc(sizeof(float) * rb * cb), *c = calloc(m * n, sizeof(float));
  for (long i = 0; i < ra * ca; i++) a[i] = rnd();
  for (long i = 0; i < rb * cb; i++) b[i] = rnd();
  double best = 0;
  for (int rep = 0; rep < 5; rep++) {
    long calls = 0; double t0 = now();
    do {
      if (path == 2) tfla_amx_bf16_gemm(ta, tb, m, n, k, 1, a, ca, b, cb, beta, c, n);
      else tfla_bf16_gemm(ta, tb, m, n, k, 1, a, ca, b, cb, beta, c, n);
      calls++;
    } while (now() - t0 < 0.1);
    double g = 2.0 * m * n * k * calls / (now() - t0) / 1e9;
    if (g > best) best = g;
  }
  free(a); free(b); free(c);
  return best;
}

int main(int argc, char **argv) {
  if (!tfla_cpu_has_avx512_bf16()) {
    printf("amx-check: this CPU has no AVX512-BF16 (the packing needs it); skipped\n");
    return 0;
  }
  int amx = tfla_cpu_has_amx_bf16();
  printf("amx-check: %s tiles\n", amx ? (tiles_emulated ? "emulated" : "real") : "no");
  long sizes[] = {1, 2, 15, 16, 17, 31, 32, 33, 48, 64, 65, 100, 128, 130};
  int ns = sizeof sizes / sizeof *sizes, fails = 0, count = 0;
  float ab[][2] = {{1, 0}, {1, 1}, {0.5f, 0}, {1, 0.9f}, {-2, 1}};
  srand(1);
  for (int tt = 0; tt < 4; tt++)
    for (int x = 0; x < ns; x++) for (int y = 0; y < ns; y += 2) for (int z = 0; z < ns; z += 3) {
      float *s = ab[(x + y + z + tt) % 5];
      if (amx) fails += check(tt & 1, tt >> 1, sizes[x], sizes[y], sizes[z], s[0], s[1], 1);
      fails += check(tt & 1, tt >> 1, sizes[x], sizes[y], sizes[z], s[0], s[1], 0);
      count++;
    }
  // forward and backward shapes
  long shapes[][5] = {{0,0,64,512,256},{0,1,64,64,256},{0,0,64,512,64},{1,0,256,512,64},{0,1,64,256,512},{1,0,256,512,256},{0,0,512,512,512}};
  for (int s = 0; s < 7; s++) if (amx) fails += check(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4], 1, s % 2 ? 1 : 0.9f, 1);
  int fused = 0;
  if (amx) {
    long ms[] = {1, 16, 17, 32, 33, 64, 100, 256}, ns[] = {1, 15, 16, 17, 33, 64, 512}, ks[] = {1, 7, 64, 65};
    for (int x = 0; x < 8; x++) for (int y = 0; y < 7; y++) for (int z = 0; z < 4; z++) {
      fails += check_fused(ms[x], ns[y], ks[z], 1 + (x * 7 + y) % 70, (x + y + z) % 3 == 0 ? 1.0f : 0.875f);
      fused++;
    }
  }
  int packings = 0;
  if (amx) {
    long ms[] = {1, 16, 17, 33, 64, 256}, ns[] = {1, 15, 16, 31, 64, 130}, ks[] = {1, 2, 7, 31, 32, 64, 65, 256};
    for (int x = 0; x < 6; x++) for (int y = 0; y < 6; y++) for (int z = 0; z < 8; z++) for (int src = 0; src < 2; src++) {
      fails += check_chunk_packing(ms[x], ns[y], ks[z], src);
      packings++;
    }
  }
  int terms = 0;
  if (amx) {
    long ms[] = {16, 33, 64, 256}, ns[] = {1, 17, 64, 130}, ks[] = {1, 31, 64};
    // beta 1 stores whole blocks straight into C and packs them from there.
    for (int x = 0; x < 4; x++) for (int y = 0; y < 4; y++) for (int z = 0; z < 3; z++) for (int b = 0; b < 2; b++) {
      fails += check_two_terms(ms[x], ns[y], ks[z], 1 + (x * 4 + y + z) % 40, b ? 1.0f : 0.5f);
      terms++;
    }
  }
  int states = 0;
  if (amx) {
    long ms[] = {16, 17, 33, 64, 256}, ns[] = {1, 15, 17, 64, 130}, ks[] = {0, 1, 31, 64};
    for (int x = 0; x < 5; x++) for (int y = 0; y < 5; y++) for (int z = 0; z < 4; z++) for (int keep = 0; keep < 2; keep++) {
      fails += check_packed_state(ms[x], ns[y], ks[z], (x + y + z) % 2 ? 0.93f : 1.0f, keep);
      states++;
    }
  }
  int lowers = 0;
  if (amx) {
    long ms[] = {1, 16, 17, 32, 33, 64, 100, 128}, ns[] = {1, 16, 33, 64, 128, 130};
    for (int x = 0; x < 8; x++) for (int y = 0; y < 6; y++) for (int z = 0; z < 2; z++) {
      fails += check_lower(ms[x], ns[y], ms[x] + (z ? 31 : 0));
      lowers++;
    }
  }
  printf("amx-check: %d products, %d fused state updates, %d chunk packings, %d two-term states, %d packed state "
         "updates, %d triangular products, %d failures\n", count * 2 + 7, fused, packings, terms, states, lowers, fails);
  if (argc > 1 && strcmp(argv[1], "rates") == 0 && amx) {
    for (int s = 0; s < 7; s++) {
      long *x = shapes[s];
      float beta = s == 2 ? 1 : s == 3 ? 0.9f : 0;
      double r1 = rate(x[0], x[1], x[2], x[3], x[4], beta, 1), r2 = rate(x[0], x[1], x[2], x[3], x[4], beta, 2);
      printf("ta=%ld tb=%ld %ldx%ldx%ld beta=%g: avx512-bf16 %.0f GFLOP/s, amx %.0f GFLOP/s (%.2fx)\n", x[0], x[1], x[2], x[3], x[4], beta, r1, r2, r2 / r1);
    }
  }
  return fails != 0;
}
