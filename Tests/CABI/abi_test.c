/* The C interface (tfla.h, libtfla_c.so) on small seeded problems: results
 * against the references, training calls against each other, the step and
 * summaries against the forward, bfloat16 storage against float32 (both
 * precisions), concurrent calls, and every error path
 * (abi_errors.c). Prints "abi-check: N passed, M failed"; exits non-zero on
 * any failure. */
#define _GNU_SOURCE /* syscall */
#include "abi_support.h"

#include <pthread.h>
#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

int passed, failed;

static const tfla_gate gates[3] = {TFLA_GATE_EXPONENTIAL, TFLA_GATE_SIGMOID, TFLA_GATE_SIGMOID_UNNORMALIZED};
static const char *gate_names[3] = {"exp", "sig", "sig-unnormalized"};

/* Options with a fixed plan, so that results do not depend on the cores. */
static tfla_options small_options(int64_t chunk) {
    tfla_options o;
    tfla_options_init(&o);
    o.chunk_size = chunk;
    o.parallelism = 2;
    o.threads = 2;
    return o;
}

typedef struct state_buffers { double *c, *n, *m; } state_buffers;

static state_buffers new_state(const problem_data *d) {
    return (state_buffers){allocate(d->nc * 8), allocate(d->nn * 8), allocate(d->nm * 8)};
}

static void free_state(state_buffers *s) { free(s->c); free(s->n); free(s->m); }

/* (a) chunkwise forward against the recurrent reference, float64, with and
 * without an initial state; float32 on the way (bfloat16: bfloat16_forward). */
static void forward_against_reference(void) {
    problem_data d = make_data(2, 3, 50, 16, 12);
    state_buffers start = {random_doubles(d.nc, -1, 1), random_doubles(d.nn, 0, 1), random_doubles(d.nm, -1, 1)};
    tfla_options options = small_options(16);
    for (int g = 0; g < 3; g++) {
        for (int with_start = 0; with_start < 2; with_start++) {
            char what[160];
            tfla_problem p = make_problem(&d, TFLA_FLOAT64, gates[g]);
            if (with_start) {
                p.c0 = start.c; p.n0 = start.n;
                p.m0 = gates[g] == TFLA_GATE_EXPONENTIAL ? start.m : NULL;
            }
            double *h = allocate(d.nv * 8), *h_ref = allocate(d.nv * 8);
            state_buffers s = new_state(&d), r = new_state(&d);
            tfla_outputs out = {h, s.c, s.n, s.m}, ref = {h_ref, r.c, r.n, r.m};
            snprintf(what, sizeof what, "forward %s%s: status", gate_names[g], with_start ? " from a state" : "");
            check(tfla_forward(&p, &options, &out) == TFLA_OK, what);
            check(tfla_last_error()[0] == '\0', "the message is empty after a success");
            check(tfla_reference_forward(TFLA_REFERENCE_RECURRENT, &p, NULL, &ref) == TFLA_OK, "recurrent reference: status");
            snprintf(what, sizeof what, "forward %s%s: h, c, n, m within 1e-9 of the recurrent reference",
                     gate_names[g], with_start ? " from a state" : "");
            check(relative_difference(h, h_ref, d.nv) < 1e-9 && relative_difference(s.c, r.c, d.nc) < 1e-9 &&
                  relative_difference(s.n, r.n, d.nn) < 1e-9 && relative_difference(s.m, r.m, d.nm) < 1e-9, what);
            /* The parallel form stabilizes each row by its own maximum, the
             * recurrent one from m0 = 0: the same h for the sigmoid gates
             * (m = 0) only, where the exponential gate's e^{-m} floor differs. */
            if (!with_start && gates[g] != TFLA_GATE_EXPONENTIAL) {
                tfla_outputs par = {h_ref, NULL, NULL, NULL};
                check(tfla_reference_forward(TFLA_REFERENCE_PARALLEL, &p, NULL, &par) == TFLA_OK &&
                      relative_difference(h, h_ref, d.nv) < 1e-9, "forward against the parallel reference");
            }
            free(h); free(h_ref); free_state(&s); free_state(&r);
        }
    }
    /* float32 near float64. */
    float *q = to_floats(d.q, d.nq), *k = to_floats(d.k, d.nq), *v = to_floats(d.v, d.nv);
    float *i = to_floats(d.i, d.ng), *f = to_floats(d.f, d.ng);
    tfla_problem p = make_problem(&d, TFLA_FLOAT32, TFLA_GATE_EXPONENTIAL);
    p.q = q; p.k = k; p.v = v; p.i = i; p.f = f;
    float *h32 = allocate(d.nv * 4);
    double *h64 = allocate(d.nv * 8), *h_wide = allocate(d.nv * 8);
    tfla_outputs out32 = {h32, NULL, NULL, NULL};
    check(tfla_forward(&p, &options, &out32) == TFLA_OK, "float32 forward: status");
    tfla_problem p64 = make_problem(&d, TFLA_FLOAT64, TFLA_GATE_EXPONENTIAL);
    tfla_outputs out64 = {h64, NULL, NULL, NULL};
    check(tfla_forward(&p64, &options, &out64) == TFLA_OK, "float64 forward: status");
    for (size_t j = 0; j < d.nv; j++) h_wide[j] = h32[j];
    check(relative_difference(h_wide, h64, d.nv) < 1e-4, "float32 forward within 1e-4 of float64");
    free(q); free(k); free(v); free(i); free(f); free(h32); free(h64); free(h_wide);
    free_state(&start);
    free_data(&d);
}

/* (b) gradients against the references, float64, and (c) forward_backward
 * against training_forward + backward, bit for bit. */
static void gradients(void) {
    problem_data d = make_data(1, 2, 37, 8, 8);
    state_buffers start = {random_doubles(d.nc, -1, 1), random_doubles(d.nn, 0, 1), random_doubles(d.nm, -1, 1)};
    state_buffers up = {random_doubles(d.nc, -1, 1), random_doubles(d.nn, -1, 1), random_doubles(d.nm, -1, 1)};
    double *dh = random_doubles(d.nv, -1, 1);
    tfla_options options = small_options(8);
    double *g[2][8];
    size_t sizes[8] = {d.nq, d.nq, d.nv, d.ng, d.ng, d.nc, d.nn, d.nm};
    for (int gate = 0; gate < 3; gate++) {
        tfla_problem p = make_problem(&d, TFLA_FLOAT64, gates[gate]);
        p.c0 = start.c; p.n0 = start.n; p.m0 = gates[gate] == TFLA_GATE_EXPONENTIAL ? start.m : NULL;
        for (int a = 0; a < 2; a++)
            for (int j = 0; j < 8; j++) g[a][j] = allocate(sizes[j] * 8);
        tfla_upstream upstream = {dh, up.c, up.n, gates[gate] == TFLA_GATE_EXPONENTIAL ? up.m : NULL};
        tfla_gradients mine = {g[0][0], g[0][1], g[0][2], g[0][3], g[0][4], g[0][5], g[0][6], g[0][7]};
        tfla_gradients ref = {g[1][0], g[1][1], g[1][2], g[1][3], g[1][4], g[1][5], g[1][6], g[1][7]};
        check(tfla_forward_backward(&p, &options, 2, &upstream, TFLA_GRADIENT_EXACT, NULL, &mine) == TFLA_OK,
              "forward_backward (exact): status");
        check(tfla_reference_backward(TFLA_REFERENCE_RECURRENT, &p, NULL, &upstream, TFLA_GRADIENT_EXACT, &ref) == TFLA_OK,
              "recurrent reference backward: status");
        double worst = 0;
        for (int j = 0; j < 8; j++) {
            double r = relative_difference(g[0][j], g[1][j], sizes[j]);
            if (!(r <= worst)) worst = r;
        }
        char what[120];
        snprintf(what, sizeof what, "gradients (%s, exact) within 1e-9 of the recurrent reference (%.2g)", gate_names[gate], worst);
        check(worst < 1e-9, what);

        /* Reference mode against the parallel form (no states there; the
         * sigmoid gates only, see forward_against_reference). */
        if (gates[gate] != TFLA_GATE_EXPONENTIAL) {
            tfla_problem q = p;
            q.c0 = q.n0 = q.m0 = NULL;
            tfla_upstream plain = {dh, NULL, NULL, NULL};
            tfla_gradients five[2] = {{g[0][0], g[0][1], g[0][2], g[0][3], g[0][4], NULL, NULL, NULL},
                                      {g[1][0], g[1][1], g[1][2], g[1][3], g[1][4], NULL, NULL, NULL}};
            check(tfla_forward_backward(&q, &options, 1, &plain, TFLA_GRADIENT_REFERENCE, NULL, &five[0]) == TFLA_OK &&
                  tfla_reference_backward(TFLA_REFERENCE_PARALLEL, &q, NULL, &plain, TFLA_GRADIENT_REFERENCE, &five[1]) == TFLA_OK,
                  "reference-mode gradients: status");
            worst = 0;
            for (int j = 0; j < 5; j++) {
                double r = relative_difference(g[0][j], g[1][j], sizes[j]);
                if (!(r <= worst)) worst = r;
            }
            snprintf(what, sizeof what, "gradients (%s, reference mode) within 1e-9 of the parallel reference (%.2g)", gate_names[gate], worst);
            check(worst < 1e-9, what);
        }

        /* (c) one call against two, bit for bit: h, state and gradients. */
        double *h[2] = {allocate(d.nv * 8), allocate(d.nv * 8)};
        state_buffers s[2] = {new_state(&d), new_state(&d)};
        tfla_outputs out[2] = {{h[0], s[0].c, s[0].n, s[0].m}, {h[1], s[1].c, s[1].n, s[1].m}};
        tfla_saved *saved = NULL;
        check(tfla_forward_backward(&p, &options, 2, &upstream, TFLA_GRADIENT_EXACT, &out[0], &mine) == TFLA_OK,
              "forward_backward with outputs: status");
        check(tfla_training_forward(&p, &options, 2, &out[1], &saved) == TFLA_OK && saved != NULL,
              "training_forward: status");
        check(tfla_saved_bytes(saved) >= d.nv * 8 + d.nc * 8, "saved_bytes counts h and the states");
        check(tfla_backward(&p, &options, saved, &upstream, TFLA_GRADIENT_EXACT, &ref) == TFLA_OK, "backward: status");
        int same = memcmp(h[0], h[1], d.nv * 8) == 0 && memcmp(s[0].c, s[1].c, d.nc * 8) == 0 &&
                   memcmp(s[0].n, s[1].n, d.nn * 8) == 0 && memcmp(s[0].m, s[1].m, d.nm * 8) == 0;
        for (int j = 0; j < 8; j++) same = same && memcmp(g[0][j], g[1][j], sizes[j] * 8) == 0;
        snprintf(what, sizeof what, "forward_backward equals training_forward + backward bit for bit (%s)", gate_names[gate]);
        check(same, what);
        tfla_saved_free(saved);
        for (int a = 0; a < 2; a++) {
            free(h[a]); free_state(&s[a]);
            for (int j = 0; j < 8; j++) free(g[a][j]);
        }
    }
    tfla_saved_free(NULL);
    free(dh); free_state(&start); free_state(&up); free_data(&d);
}

/* (d) the step against the last token of a forward; (e) summaries. */
static void step_and_summaries(void) {
    problem_data d = make_data(2, 2, 41, 8, 16);
    tfla_options options = small_options(8);
    for (int gate = 0; gate < 3; gate++) {
        tfla_problem whole = make_problem(&d, TFLA_FLOAT64, gates[gate]);
        double *h = allocate(d.nv * 8);
        state_buffers final = new_state(&d);
        tfla_outputs out = {h, final.c, final.n, final.m};
        check(tfla_forward(&whole, &options, &out) == TFLA_OK, "forward: status");

        problem_data head = slice(&d, 0, d.s - 1), last = slice(&d, d.s - 1, d.s);
        tfla_problem first = make_problem(&head, TFLA_FLOAT64, gates[gate]);
        double *h_head = allocate(head.nv * 8), *h_step = allocate(last.nv * 8);
        state_buffers s = new_state(&d);
        tfla_outputs head_out = {h_head, s.c, s.n, s.m};
        check(tfla_forward(&first, &options, &head_out) == TFLA_OK, "forward of S - 1 tokens: status");
        tfla_step_args step;
        tfla_step_args_init(&step);
        step.shape = whole.shape;
        step.gate = gates[gate];
        step.dtype = TFLA_FLOAT64;
        step.threads = 2;
        step.q = last.q; step.k = last.k; step.v = last.v; step.i = last.i; step.f = last.f;
        step.c = s.c; step.n = s.n; step.m = s.m; step.h = h_step;
        check(tfla_step(&step) == TFLA_OK, "step: status");
        double *h_last = tokens(h, d.b * d.nh, d.s, d.dhv, d.s - 1, d.s);
        check(relative_difference(h_step, h_last, last.nv) < 1e-9 && relative_difference(s.c, final.c, d.nc) < 1e-9 &&
              relative_difference(s.n, final.n, d.nn) < 1e-9 && relative_difference(s.m, final.m, d.nm) < 1e-9,
              "step: h and state within 1e-9 of the forward's last token");

        /* (e) summarize the first 17 tokens, compose onto the zero state, run the rest from there. */
        problem_data a = slice(&d, 0, 17), b = slice(&d, 17, d.s);
        tfla_problem pa = make_problem(&a, TFLA_FLOAT64, gates[gate]), pb = make_problem(&b, TFLA_FLOAT64, gates[gate]);
        double *log_decay = allocate(d.nm * 8), *dm = allocate(d.nm * 8);
        state_buffers part = new_state(&d), composed = new_state(&d), end = new_state(&d);
        tfla_summary summary = {log_decay, part.c, part.n, dm};
        check(tfla_summarize(&pa, &options, &summary) == TFLA_OK, "summarize: status");
        check(tfla_compose(whole.shape, TFLA_FLOAT64, gates[gate], &summary, composed.c, composed.n, composed.m) == TFLA_OK,
              "compose: status");
        pb.c0 = composed.c; pb.n0 = composed.n; pb.m0 = composed.m;
        double *h_b = allocate(b.nv * 8);
        tfla_outputs out_b = {h_b, end.c, end.n, end.m};
        check(tfla_forward(&pb, &options, &out_b) == TFLA_OK, "forward from a composed state: status");
        double *h_tail = tokens(h, d.b * d.nh, d.s, d.dhv, 17, d.s);
        check(relative_difference(h_b, h_tail, b.nv) < 1e-9 && relative_difference(end.c, final.c, d.nc) < 1e-9 &&
              relative_difference(end.n, final.n, d.nn) < 1e-9 && relative_difference(end.m, final.m, d.nm) < 1e-9,
              "summarize + compose + forward equals the whole forward within 1e-9");
        free(h); free(h_head); free(h_step); free(h_last); free(h_b); free(h_tail); free(log_decay); free(dm);
        free_state(&final); free_state(&s); free_state(&part); free_state(&composed); free_state(&end);
        free_data(&head); free_data(&last); free_data(&a); free_data(&b);
    }
    free_data(&d);
}

/* Whether the library's bf16 products run on AMX tiles here: the conditions
 * the library checks (AVX-512 with AVX512-BF16, AMX-TILE and AMX-BF16, the
 * tile state enabled in XCR0 and granted to this process by Linux). */
static int has_amx_bf16(void) {
#if defined(__x86_64__) && defined(__linux__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return 0; /* OSXSAVE */
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    unsigned long long xcr0 = ((unsigned long long)hi << 32) | lo;
    if ((xcr0 & 0xE6) != 0xE6 || (xcr0 & (3ull << 17)) != (3ull << 17)) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx512 = ((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1); /* F, BW, VL */
    int tiles = ((d >> 24) & 1) && ((d >> 22) & 1);                     /* AMX-TILE, AMX-BF16 */
    if (!avx512 || !tiles || a < 1) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    if (!((a >> 5) & 1)) return 0; /* AVX512-BF16 */
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
#else
    return 0;
#endif
}

static uint16_t bf16_rounded(float x) { /* to nearest, ties to even */
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static float bf16_widened(uint16_t bits) {
    uint32_t u = (uint32_t)bits << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* (f) bfloat16 storage (B, NH, S, DQK, DHV), exponential gate, optionally
 * from a float32 initial state, against the float32 forward of the same
 * values widened (h32):
 * - TFLA_PRECISION_INPUT: h32 rounded to bfloat16 and the float32 state,
 *   bit for bit;
 * - TFLA_PRECISION_BF16_PRODUCTS: h and the state within a bfloat16
 *   tolerance (1e-2 of their largest magnitude) of the float32 results. On
 *   a CPU with AMX the products round C, the decayed scores and the
 *   weighted keys to bfloat16, so h must differ from h32 rounded in many
 *   elements (float32 arithmetic in another order would flip at most the
 *   few that lie on a rounding boundary); without AMX the library computes
 *   in float32: the TFLA_PRECISION_INPUT bits. */
static void bfloat16_forward(int64_t b, int64_t nh, int64_t s, int64_t dqk, int64_t dhv, int64_t chunk, int with_state) {
    problem_data d = make_data(b, nh, s, dqk, dhv);
    char what[200], label[80];
    snprintf(label, sizeof label, "bfloat16 forward (%lld, %lld, %lld, %lld, %lld)%s", (long long)b, (long long)nh,
             (long long)s, (long long)dqk, (long long)dhv, with_state ? " from a state" : "");
    tfla_options options = small_options(chunk);
    const double *sources[5] = {d.q, d.k, d.v, d.i, d.f};
    size_t counts[5] = {d.nq, d.nq, d.nv, d.ng, d.ng};
    uint16_t *bits[5];
    float *wide[5];
    for (int a = 0; a < 5; a++) {
        bits[a] = allocate(counts[a] * 2);
        wide[a] = allocate(counts[a] * 4);
        for (size_t j = 0; j < counts[a]; j++) {
            bits[a][j] = bf16_rounded((float)sources[a][j]);
            wide[a][j] = bf16_widened(bits[a][j]);
        }
    }
    float *c0 = NULL, *n0 = NULL, *m0 = NULL;
    if (with_state) {
        double *c = random_doubles(d.nc, -1, 1), *n = random_doubles(d.nn, 0, 1), *m = random_doubles(d.nm, -1, 1);
        c0 = to_floats(c, d.nc); n0 = to_floats(n, d.nn); m0 = to_floats(m, d.nm);
        free(c); free(n); free(m);
    }
    tfla_problem pw = make_problem(&d, TFLA_FLOAT32, TFLA_GATE_EXPONENTIAL), pb;
    pw.q = wide[0]; pw.k = wide[1]; pw.v = wide[2]; pw.i = wide[3]; pw.f = wide[4];
    pw.c0 = c0; pw.n0 = n0; pw.m0 = m0;
    pb = pw;
    pb.dtype = TFLA_BFLOAT16;
    pb.q = bits[0]; pb.k = bits[1]; pb.v = bits[2]; pb.i = bits[3]; pb.f = bits[4];

    float *h32 = allocate(d.nv * 4), *c32 = allocate(d.nc * 4), *n32 = allocate(d.nn * 4), *m32 = allocate(d.nm * 4);
    check(tfla_forward(&pw, &options, &(tfla_outputs){h32, c32, n32, m32}) == TFLA_OK, "float32 forward of the widened inputs: status");

    /* TFLA_PRECISION_INPUT (the default): the float32 forward, h rounded. */
    uint16_t *h_input = allocate(d.nv * 2);
    float *c = allocate(d.nc * 4), *n = allocate(d.nn * 4), *m = allocate(d.nm * 4);
    snprintf(what, sizeof what, "%s, TFLA_PRECISION_INPUT: status", label);
    check(tfla_forward(&pb, &options, &(tfla_outputs){h_input, c, n, m}) == TFLA_OK, what);
    int same = memcmp(c, c32, d.nc * 4) == 0 && memcmp(n, n32, d.nn * 4) == 0 && memcmp(m, m32, d.nm * 4) == 0;
    for (size_t j = 0; j < d.nv; j++) same = same && h_input[j] == bf16_rounded(h32[j]);
    snprintf(what, sizeof what, "%s, TFLA_PRECISION_INPUT: the float32 forward of the widened inputs, h rounded", label);
    check(same, what);

    /* TFLA_PRECISION_BF16_PRODUCTS. */
    tfla_options products = options;
    products.precision = TFLA_PRECISION_BF16_PRODUCTS;
    uint16_t *h_products = allocate(d.nv * 2);
    snprintf(what, sizeof what, "%s, TFLA_PRECISION_BF16_PRODUCTS: status", label);
    check(tfla_forward(&pb, &products, &(tfla_outputs){h_products, c, n, m}) == TFLA_OK, what);
    double *x = allocate(d.nv * 8), *y = allocate(d.nv * 8);
    for (size_t j = 0; j < d.nv; j++) { x[j] = bf16_widened(h_products[j]); y[j] = h32[j]; }
    double scale = 0;
    for (size_t j = 0; j < d.nv; j++) if (fabs(y[j]) > scale) scale = fabs(y[j]);
    double worst = 0;
    for (size_t j = 0; j < d.nv; j++) {
        double e = fabs(x[j] - y[j]);
        if (!(e <= worst)) worst = e;
    }
    double *cx = allocate(d.nc * 8), *cy = allocate(d.nc * 8);
    for (size_t j = 0; j < d.nc; j++) { cx[j] = c[j]; cy[j] = c32[j]; }
    size_t differing = 0;
    for (size_t j = 0; j < d.nv; j++) differing += h_products[j] != h_input[j];
    int amx = has_amx_bf16();
    snprintf(what, sizeof what, "%s, TFLA_PRECISION_BF16_PRODUCTS: h within 1e-2 max|h| of the float32 forward (%.2g), "
             "C within 1e-2 (%.2g)", label, worst / scale, relative_difference(cx, cy, d.nc));
    check(scale > 0 && worst <= 1e-2 * scale && relative_difference(cx, cy, d.nc) <= 1e-2, what);
    if (amx) {
        snprintf(what, sizeof what, "%s, TFLA_PRECISION_BF16_PRODUCTS on AMX: h differs from the float32 forward rounded "
                 "in %zu of %zu elements (at least 1/20)", label, differing, d.nv);
        check(differing * 20 >= d.nv, what);
    } else {
        snprintf(what, sizeof what, "%s, TFLA_PRECISION_BF16_PRODUCTS without AMX: the TFLA_PRECISION_INPUT bits", label);
        check(differing == 0 && memcmp(c, c32, d.nc * 4) == 0, what);
    }
    printf("abi-check: %s: bf16 products (%s) within %.2g max|h| of float32, %zu of %zu h elements differ from float32 rounded\n",
           label, amx ? "AMX" : "no AMX: float32", worst / scale, differing, d.nv);

    for (int a = 0; a < 5; a++) { free(bits[a]); free(wide[a]); }
    free(c0); free(n0); free(m0); free(h32); free(c32); free(n32); free(m32); free(h_input); free(h_products);
    free(c); free(n); free(m); free(x); free(y); free(cx); free(cy);
    free_data(&d);
}

/* (g) eight threads calling the forward at once get the same bits. */
typedef struct thread_job { const tfla_problem *problem; float *h; tfla_status status; } thread_job;

static void *run_forward(void *argument) {
    thread_job *job = argument;
    tfla_options options = small_options(16);
    tfla_outputs out = {job->h, NULL, NULL, NULL};
    for (int repeat = 0; repeat < 3 && job->status == TFLA_OK; repeat++) job->status = tfla_forward(job->problem, &options, &out);
    return NULL;
}

static void concurrent_calls(void) {
    problem_data d = make_data(2, 2, 96, 16, 16);
    float *q = to_floats(d.q, d.nq), *k = to_floats(d.k, d.nq), *v = to_floats(d.v, d.nv);
    float *i = to_floats(d.i, d.ng), *f = to_floats(d.f, d.ng);
    tfla_problem p = make_problem(&d, TFLA_FLOAT32, TFLA_GATE_EXPONENTIAL);
    p.q = q; p.k = k; p.v = v; p.i = i; p.f = f;
    thread_job jobs[9];
    pthread_t threads[8];
    for (int t = 0; t < 9; t++) jobs[t] = (thread_job){&p, allocate(d.nv * 4), TFLA_OK};
    run_forward(&jobs[8]);
    for (int t = 0; t < 8; t++) pthread_create(&threads[t], NULL, run_forward, &jobs[t]);
    for (int t = 0; t < 8; t++) pthread_join(threads[t], NULL);
    int same = jobs[8].status == TFLA_OK;
    for (int t = 0; t < 8; t++) same = same && jobs[t].status == TFLA_OK && memcmp(jobs[t].h, jobs[8].h, d.nv * 4) == 0;
    check(same, "8 threads calling tfla_forward at once: the same bits as one call");
    for (int t = 0; t < 9; t++) free(jobs[t].h);
    free(q); free(k); free(v); free(i); free(f); free_data(&d);
}

/* One saved forward serving four backward calls at once. */
typedef struct backward_job {
    const tfla_problem *problem;
    const tfla_saved *saved;
    const tfla_upstream *upstream;
    tfla_gradients gradients;
    tfla_status status;
} backward_job;

static void *run_backward(void *argument) {
    backward_job *job = argument;
    tfla_options options = small_options(8);
    job->status = tfla_backward(job->problem, &options, job->saved, job->upstream, TFLA_GRADIENT_EXACT, &job->gradients);
    return NULL;
}

static void shared_saved_forward(void) {
    problem_data d = make_data(1, 3, 45, 8, 8);
    tfla_problem p = make_problem(&d, TFLA_FLOAT64, TFLA_GATE_EXPONENTIAL);
    double *dh = random_doubles(d.nv, -1, 1), *h = allocate(d.nv * 8);
    tfla_upstream upstream = {dh, NULL, NULL, NULL};
    tfla_options options = small_options(8);
    tfla_outputs out = {h, NULL, NULL, NULL};
    tfla_saved *saved = NULL;
    check(tfla_training_forward(&p, &options, 3, &out, &saved) == TFLA_OK, "training forward to share: status");
    free(h); /* the saved forward keeps its own h */
    size_t total = 2 * d.nq + d.nv + 2 * d.ng;
    backward_job jobs[5];
    pthread_t threads[4];
    for (int t = 0; t < 5; t++) {
        double *g = allocate(total * 8);
        jobs[t] = (backward_job){&p, saved, &upstream,
                                 {g, g + d.nq, g + 2 * d.nq, g + 2 * d.nq + d.nv, g + 2 * d.nq + d.nv + d.ng, NULL, NULL, NULL},
                                 TFLA_OK};
    }
    run_backward(&jobs[4]);
    for (int t = 0; t < 4; t++) pthread_create(&threads[t], NULL, run_backward, &jobs[t]);
    for (int t = 0; t < 4; t++) pthread_join(threads[t], NULL);
    int same = jobs[4].status == TFLA_OK;
    for (int t = 0; t < 4; t++)
        same = same && jobs[t].status == TFLA_OK && memcmp(jobs[t].gradients.dq, jobs[4].gradients.dq, total * 8) == 0;
    check(same, "4 threads sharing one saved forward (its h freed by the caller): the same gradients");
    for (int t = 0; t < 5; t++) free(jobs[t].gradients.dq);
    tfla_saved_free(saved);
    free(dh); free_data(&d);
}

int main(void) {
    check(tfla_abi_version() == TFLA_ABI_VERSION, "tfla_abi_version matches the header");
    check(strcmp(tfla_version(), "") != 0, "tfla_version is a string");
    forward_against_reference();
    gradients();
    step_and_summaries();
    bfloat16_forward(2, 3, 50, 16, 12, 16, 0);
    bfloat16_forward(1, 2, 200, 64, 96, 64, 1);
    concurrent_calls();
    shared_saved_forward();
    error_paths();
    printf("abi-check: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
