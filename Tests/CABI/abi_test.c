/* The C interface (tfla.h, libtfla_c.so) on small seeded problems: results
 * against the references, training calls against each other, the step and
 * summaries against the forward, concurrent calls, and every error path
 * (abi_errors.c). Prints "abi-check: N passed, M failed"; exits non-zero on
 * any failure. */
#include "abi_support.h"

#include <pthread.h>

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
 * without an initial state; float32 and bfloat16 storage on the way. */
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
    /* float32 near float64; bfloat16 storage equals float32 on the widened inputs, h rounded. */
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

    uint16_t *bits[5];
    float *wide[5];
    const float *sources[5] = {q, k, v, i, f};
    size_t counts[5] = {d.nq, d.nq, d.nv, d.ng, d.ng};
    for (int a = 0; a < 5; a++) {
        bits[a] = allocate(counts[a] * 2);
        wide[a] = allocate(counts[a] * 4);
        for (size_t j = 0; j < counts[a]; j++) {
            uint32_t u;
            memcpy(&u, &sources[a][j], 4);
            bits[a][j] = (uint16_t)(u >> 16); /* truncated: any bfloat16 will do */
            u = (uint32_t)bits[a][j] << 16;
            memcpy(&wide[a][j], &u, 4);
        }
    }
    tfla_problem pb = p, pw = p;
    pb.dtype = TFLA_BFLOAT16;
    pb.q = bits[0]; pb.k = bits[1]; pb.v = bits[2]; pb.i = bits[3]; pb.f = bits[4];
    pw.q = wide[0]; pw.k = wide[1]; pw.v = wide[2]; pw.i = wide[3]; pw.f = wide[4];
    uint16_t *hb = allocate(d.nv * 2);
    float *cb = allocate(d.nc * 4), *cw = allocate(d.nc * 4);
    tfla_outputs outb = {hb, cb, NULL, NULL}, outw = {h32, cw, NULL, NULL};
    check(tfla_forward(&pb, &options, &outb) == TFLA_OK && tfla_forward(&pw, &options, &outw) == TFLA_OK,
          "bfloat16 forward: status");
    int same = memcmp(cb, cw, d.nc * 4) == 0;
    for (size_t j = 0; j < d.nv; j++) {
        uint32_t u;
        memcpy(&u, &h32[j], 4);
        uint16_t rounded = (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16); /* to nearest, ties to even */
        if (hb[j] != rounded) same = 0;
    }
    check(same, "bfloat16 forward: the float32 forward of the widened inputs, h rounded to bfloat16");
    for (int a = 0; a < 5; a++) { free(bits[a]); free(wide[a]); }
    free(hb); free(cb); free(cw); free(q); free(k); free(v); free(i); free(f); free(h32); free(h64); free(h_wide);
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
    concurrent_calls();
    shared_saved_forward();
    error_paths();
    printf("abi-check: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
