/* Every error path of the C interface: each call returns its status with a
 * message, writes nothing it should not, and the process goes on. */
#include "abi_support.h"

#include <stddef.h>

typedef struct padded_options { tfla_options options; int64_t newer_field; } padded_options;

/* A value in [low, high]. */
static int64_t pick(int64_t low, int64_t high) { return low + (int64_t)uniform(0, (double)(high - low + 1) - 1e-9); }

/* Mostly in [low, high], one time in ten `bad`. */
static int64_t mostly(int64_t low, int64_t high, int64_t bad) { return pick(0, 9) == 0 ? bad : pick(low, high); }

/* Random arguments (sizes and options from -1 up, enums one past their
 * range, NULLs, NaNs) over buffers large enough for any of them: every call
 * returns a status, with a message when it fails, and the process goes on. */
static void random_calls(void) {
    enum { capacity = 8 * 8 * 8 * 8 * 4 };
    double *buffer[9];
    for (int j = 0; j < 9; j++) buffer[j] = random_doubles(capacity, -1, 1);
    int survived = 0, messages = 1, successes = 0;
    for (int round = 0; round < 300; round++) {
        tfla_problem p;
        tfla_problem_init(&p);
        p.shape = (tfla_shape){mostly(1, 4, 0), mostly(1, 4, -1), mostly(1, 8, 0), pick(1, 8), mostly(1, 8, -5)};
        p.dtype = (tfla_dtype)mostly(0, 2, 3);
        p.gate = (tfla_gate)mostly(0, 2, 3);
        p.eps = pick(0, 9) == 0 ? -1 : 1e-6;
        const void **inputs[5] = {&p.q, &p.k, &p.v, &p.i, &p.f};
        for (int j = 0; j < 5; j++) *inputs[j] = pick(0, 30) == 0 ? NULL : buffer[j];
        if (pick(0, 9) == 0) { p.c0 = buffer[5]; p.n0 = buffer[6]; p.m0 = pick(0, 1) ? buffer[7] : NULL; }
        double nan_at = (double)pick(0, 40);
        if (nan_at < 8) buffer[0][(int)nan_at] = NAN;
        tfla_options o;
        tfla_options_init(&o);
        o.chunk_size = pick(-1, 70); o.query_tile = pick(0, 70); o.key_tile = pick(0, 70);
        o.threads = pick(0, 3); o.segments = pick(0, 4); o.checks_values = (int32_t)mostly(0, 1, 2);
        o.precision = (int32_t)mostly(0, 0, pick(1, 2));
        tfla_outputs out = {buffer[5], pick(0, 1) ? buffer[6] : NULL, NULL, pick(0, 1) ? buffer[8] : NULL};
        if (p.c0) out = (tfla_outputs){buffer[8], NULL, NULL, NULL};
        tfla_status status;
        switch (pick(0, 3)) {
        case 0: status = tfla_forward(&p, &o, &out); break;
        case 1: status = tfla_reference_forward((tfla_reference)pick(0, 2), &p, NULL, &out); break;
        case 2: {
            tfla_summary summary = {buffer[5], buffer[6], buffer[7], buffer[8]};
            status = tfla_summarize(&p, &o, &summary);
            break;
        }
        default: {
            tfla_step_args a;
            tfla_step_args_init(&a);
            a.shape = p.shape; a.dtype = p.dtype; a.gate = p.gate; a.threads = pick(0, 2);
            a.q = p.q; a.k = p.k; a.v = p.v; a.i = p.i; a.f = p.f;
            memset(buffer[7], 0, capacity * 8);
            a.c = buffer[5]; a.n = buffer[6]; a.m = buffer[7]; a.h = pick(0, 20) ? buffer[8] : NULL;
            status = tfla_step(&a);
        }
        }
        if (nan_at < 8) buffer[0][(int)nan_at] = 0.5;
        survived++;
        successes += status == TFLA_OK;
        if (status != TFLA_OK && tfla_last_error()[0] == '\0') messages = 0;
        if ((unsigned)status > TFLA_ERROR_INTERNAL || status == TFLA_ERROR_INTERNAL) messages = 0;
    }
    check(survived == 300 && messages, "300 calls with random arguments: a status each, a message with each failure");
    char what[80];
    snprintf(what, sizeof what, "random arguments: valid ones among them succeed (%d of 300)", successes);
    check(successes >= 30, what);
    for (int j = 0; j < 9; j++) free(buffer[j]);
}

void error_paths(void) {
    random_calls();
    problem_data d = make_data(1, 2, 20, 8, 8);
    double *h = allocate(d.nv * 8), *c = allocate(d.nc * 8), *n = allocate(d.nn * 8), *m = allocate(d.nm * 8);
    tfla_outputs out = {h, c, n, m};
    tfla_problem p = make_problem(&d, TFLA_FLOAT64, TFLA_GATE_EXPONENTIAL), bad;
    tfla_options o;
    tfla_options_init(&o);

    /* Null pointers. */
    check_error(tfla_forward(NULL, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "problem NULL");
    check_error(tfla_forward(&p, NULL, NULL), TFLA_ERROR_INVALID_ARGUMENT, "outputs NULL");
    bad = p; bad.k = NULL;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "k NULL");
    tfla_outputs no_h = {NULL, c, n, m};
    check_error(tfla_forward(&p, NULL, &no_h), TFLA_ERROR_INVALID_ARGUMENT, "h NULL");
    check_error(tfla_training_forward(&p, NULL, 4, &out, NULL), TFLA_ERROR_INVALID_ARGUMENT, "saved NULL");
    tfla_upstream up = {h, NULL, NULL, NULL};
    double *g = allocate((2 * d.nq + d.nv + 2 * d.ng) * 8);
    tfla_gradients grads = {g, g + d.nq, g + 2 * d.nq, g + 2 * d.nq + d.nv, g + 2 * d.nq + d.nv + d.ng, NULL, NULL, NULL};
    double *dh = random_doubles(d.nv, -1, 1);
    up.dh = dh;
    check_error(tfla_backward(&p, NULL, NULL, &up, TFLA_GRADIENT_EXACT, &grads), TFLA_ERROR_INVALID_ARGUMENT, "saved NULL in backward");
    tfla_gradients no_dv = grads;
    no_dv.dv = NULL;
    check_error(tfla_forward_backward(&p, NULL, 4, &up, TFLA_GRADIENT_EXACT, NULL, &no_dv), TFLA_ERROR_INVALID_ARGUMENT, "dv NULL");
    check_error(tfla_step(NULL), TFLA_ERROR_INVALID_ARGUMENT, "step arguments NULL");

    /* struct_size: too small, garbage, newer with zeros (accepted), newer with a field set, older. */
    bad = p; bad.struct_size = 3;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "problem.struct_size 3");
    bad = p; bad.struct_size = (size_t)1 << 40;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "problem.struct_size 2^40");
    padded_options padded = {o, 0};
    padded.options.struct_size = sizeof padded;
    check(tfla_forward(&p, &padded.options, &out) == TFLA_OK, "a newer tfla_options with its new fields zero is accepted");
    padded.newer_field = 7;
    check_error(tfla_forward(&p, &padded.options, &out), TFLA_ERROR_UNSUPPORTED, "a newer tfla_options with a new field set");
    tfla_options older = o;
    older.struct_size = offsetof(tfla_options, checks_values);
    older.precision = 99; /* beyond the older size: never read */
    check(tfla_forward(&p, &older, &out) == TFLA_OK, "an older tfla_options (without checks_values, precision) is accepted");
    older.struct_size = offsetof(tfla_options, checks_values) + 1;
    check_error(tfla_forward(&p, &older, &out), TFLA_ERROR_INVALID_ARGUMENT, "tfla_options.struct_size inside a field");

    /* Sizes: zero, negative, beyond memory, overflowing. */
    bad = p; bad.shape.batch = 0;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "batch 0");
    bad = p; bad.shape.key_dim = -4;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "key_dim -4");
    bad = p; bad.shape.sequence = (int64_t)1 << 36;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_OUT_OF_MEMORY, "sequence 2^36 (beyond memory)");
    check_error(tfla_reference_forward(TFLA_REFERENCE_PARALLEL, &bad, NULL, &(tfla_outputs){h, NULL, NULL, NULL}),
                TFLA_ERROR_OUT_OF_MEMORY, "reference forward, sequence 2^36");
    bad = p; bad.shape.batch = (int64_t)1 << 40; bad.shape.sequence = (int64_t)1 << 40;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_OUT_OF_MEMORY, "B·S overflows 64 bits");
    bad = p; bad.shape.value_dim = INT64_MAX;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_OUT_OF_MEMORY, "value_dim INT64_MAX");
    tfla_options negative = o;
    negative.chunk_size = -1;
    check_error(tfla_forward(&p, &negative, &out), TFLA_ERROR_INVALID_ARGUMENT, "chunk_size -1");
    check_error(tfla_training_forward(&p, NULL, 0, &out, &(tfla_saved *){NULL}), TFLA_ERROR_INVALID_ARGUMENT, "state_stride 0");

    /* Sizes in the options far beyond the problem: clipped to it (threads
     * to the library's maximum), never a crash. */
    tfla_options extreme = o;
    extreme.chunk_size = extreme.query_tile = extreme.key_tile = INT64_MAX;
    extreme.key_dim_tile = extreme.value_dim_tile = extreme.segments = INT64_MAX;
    extreme.threads = extreme.parallelism = INT64_MAX;
    check(tfla_forward(&p, &extreme, &out) == TFLA_OK, "options at INT64_MAX: forward");
    check(tfla_forward_backward(&p, &extreme, INT64_MAX, &up, TFLA_GRADIENT_EXACT, &out, &grads) == TFLA_OK,
          "options and state_stride at INT64_MAX: forward_backward");

    /* Aliasing and alignment. */
    tfla_outputs alias = {(void *)d.q, c, n, m};
    check_error(tfla_forward(&p, NULL, &alias), TFLA_ERROR_INVALID_ARGUMENT, "h is q");
    alias = (tfla_outputs){h, c, c + 1, m};
    check_error(tfla_forward(&p, NULL, &alias), TFLA_ERROR_INVALID_ARGUMENT, "n overlaps c");
    alias = (tfla_outputs){h, c, n, h + d.nv - 1};
    check_error(tfla_forward(&p, NULL, &alias), TFLA_ERROR_INVALID_ARGUMENT, "m overlaps the end of h");
    tfla_gradients alias_g = grads;
    alias_g.dk = dh;
    check_error(tfla_forward_backward(&p, NULL, 4, &up, TFLA_GRADIENT_EXACT, NULL, &alias_g), TFLA_ERROR_INVALID_ARGUMENT, "dk is dh");
    alias_g = grads;
    alias_g.df = grads.di;
    check_error(tfla_forward_backward(&p, NULL, 4, &up, TFLA_GRADIENT_EXACT, NULL, &alias_g), TFLA_ERROR_INVALID_ARGUMENT, "df is di");
    bad = p; bad.v = (const char *)d.v + 1;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "v misaligned");

    /* Non-finite inputs. */
    double saved_q = d.q[5], saved_i = d.i[3];
    d.q[5] = NAN;
    check_error(tfla_forward(&p, NULL, &out), TFLA_ERROR_NON_FINITE, "NaN in q");
    check_error(tfla_forward_backward(&p, NULL, 4, &up, TFLA_GRADIENT_EXACT, NULL, &grads), TFLA_ERROR_NON_FINITE, "NaN in q (training)");
    d.q[5] = saved_q;
    d.i[3] = NAN;
    check_error(tfla_forward(&p, NULL, &out), TFLA_ERROR_NON_FINITE, "NaN in i");
    check_error(tfla_reference_forward(TFLA_REFERENCE_RECURRENT, &p, NULL, &out), TFLA_ERROR_NON_FINITE, "NaN in i (reference)");
    d.i[3] = saved_i;
    dh[2] = INFINITY;
    check_error(tfla_forward_backward(&p, NULL, 4, &up, TFLA_GRADIENT_EXACT, NULL, &grads), TFLA_ERROR_NON_FINITE, "infinity in dh");
    dh[2] = 0.5;

    /* Enums and values out of range. */
    bad = p; bad.dtype = (tfla_dtype)7;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "dtype 7");
    bad = p; bad.gate = (tfla_gate)9;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "gate 9");
    tfla_options bad_options = o;
    bad_options.precision = 5;
    check_error(tfla_forward(&p, &bad_options, &out), TFLA_ERROR_INVALID_ARGUMENT, "precision 5");
    bad_options = o;
    bad_options.checks_values = 2;
    check_error(tfla_forward(&p, &bad_options, &out), TFLA_ERROR_INVALID_ARGUMENT, "checks_values 2");
    check_error(tfla_forward_backward(&p, NULL, 4, &up, (tfla_gradient_mode)3, NULL, &grads), TFLA_ERROR_INVALID_ARGUMENT, "mode 3");
    check_error(tfla_reference_forward((tfla_reference)4, &p, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "reference kind 4");
    bad = p; bad.eps = -1;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "eps -1");
    bad = p; bad.eps = NAN;
    check_error(tfla_forward(&bad, NULL, &out), TFLA_ERROR_INVALID_ARGUMENT, "eps NaN");
    bad = p; bad.c0 = c; /* exponential gate: n0 and m0 missing */
    tfla_outputs h_only = {h, NULL, NULL, NULL};
    check_error(tfla_forward(&bad, NULL, &h_only), TFLA_ERROR_INVALID_ARGUMENT, "c0 without n0, m0");

    /* Unsupported combinations. */
    bad = p; bad.dtype = TFLA_BFLOAT16;
    check_error(tfla_training_forward(&bad, NULL, 4, &out, &(tfla_saved *){NULL}), TFLA_ERROR_UNSUPPORTED, "bfloat16 training");
    bad_options = o;
    bad_options.precision = TFLA_PRECISION_BF16_PRODUCTS;
    check_error(tfla_forward(&p, &bad_options, &out), TFLA_ERROR_UNSUPPORTED, "bf16 products for float64");
    check_error(tfla_reference_forward(TFLA_REFERENCE_PARALLEL, &p, NULL, &out), TFLA_ERROR_UNSUPPORTED, "parallel reference with a final state");
    check_error(tfla_reference_backward(TFLA_REFERENCE_RECURRENT, &p, NULL, &up, TFLA_GRADIENT_REFERENCE, &grads),
                TFLA_ERROR_UNSUPPORTED, "recurrent reference in reference mode");

    /* A saved forward used for another problem. */
    tfla_saved *saved = NULL;
    check(tfla_training_forward(&p, NULL, 4, &out, &saved) == TFLA_OK, "training forward for the mismatch checks");
    problem_data e = make_data(1, 2, 20, 8, 4);
    tfla_problem other = make_problem(&e, TFLA_FLOAT64, TFLA_GATE_EXPONENTIAL);
    check_error(tfla_backward(&other, NULL, saved, &up, TFLA_GRADIENT_EXACT, &grads), TFLA_ERROR_SHAPE, "saved forward of another shape");
    bad = p; bad.gate = TFLA_GATE_SIGMOID;
    check_error(tfla_backward(&bad, NULL, saved, &up, TFLA_GRADIENT_EXACT, &grads), TFLA_ERROR_INVALID_ARGUMENT, "saved forward of another gate");
    float *f32 = allocate(d.nq * 4);
    bad = p; bad.dtype = TFLA_FLOAT32; bad.q = bad.k = bad.v = bad.i = bad.f = f32;
    float *gf = allocate((2 * d.nq + d.nv + 2 * d.ng) * 4), *dhf = allocate(d.nv * 4);
    tfla_gradients grads32 = {gf, gf + d.nq, gf + 2 * d.nq, gf + 2 * d.nq + d.nv, gf + 2 * d.nq + d.nv + d.ng, NULL, NULL, NULL};
    tfla_upstream up32 = {dhf, NULL, NULL, NULL};
    check_error(tfla_backward(&bad, NULL, saved, &up32, TFLA_GRADIENT_EXACT, &grads32), TFLA_ERROR_INVALID_ARGUMENT, "saved forward of another dtype");
    tfla_saved_free(saved);

    /* The step. */
    tfla_step_args s;
    tfla_step_args_init(&s);
    s.shape = p.shape;
    s.dtype = TFLA_FLOAT64;
    s.q = d.q; s.k = d.k; s.v = d.v; s.i = d.i; s.f = d.f;
    memset(c, 0, d.nc * 8); memset(n, 0, d.nn * 8); memset(m, 0, d.nm * 8);
    s.c = c; s.n = n; s.m = m; s.h = h;
    check(tfla_step(&s) == TFLA_OK, "step: status");
    tfla_step_args t = s;
    t.h = NULL;
    check_error(tfla_step(&t), TFLA_ERROR_INVALID_ARGUMENT, "step: h NULL");
    t = s; t.h = c;
    check_error(tfla_step(&t), TFLA_ERROR_INVALID_ARGUMENT, "step: h is c");
    t = s; t.shape.heads = -1;
    check_error(tfla_step(&t), TFLA_ERROR_INVALID_ARGUMENT, "step: heads -1");
    t = s; t.gate = TFLA_GATE_SIGMOID;
    m[1] = 1;
    check_error(tfla_step(&t), TFLA_ERROR_INVALID_ARGUMENT, "step: nonzero m for the sigmoid gate");
    m[1] = 0;
    t = s; t.dtype = TFLA_BFLOAT16;
    check_error(tfla_step(&t), TFLA_ERROR_UNSUPPORTED, "step: bfloat16");
    d.k[0] = NAN;
    check_error(tfla_step(&s), TFLA_ERROR_NON_FINITE, "step: NaN in k");
    d.k[0] = 0.25;
    t = s; t.struct_size = 0;
    check_error(tfla_step(&t), TFLA_ERROR_INVALID_ARGUMENT, "step: struct_size 0");

    /* Summaries. */
    double *ld = allocate(d.nm * 8), *sc = allocate(d.nc * 8), *sn = allocate(d.nn * 8), *sm = allocate(d.nm * 8);
    tfla_summary summary = {ld, sc, sn, sm};
    bad = p; bad.c0 = c; bad.n0 = n; bad.m0 = m;
    check_error(tfla_summarize(&bad, NULL, &summary), TFLA_ERROR_INVALID_ARGUMENT, "summarize with an initial state");
    check(tfla_summarize(&p, NULL, &summary) == TFLA_OK, "summarize: status");
    check_error(tfla_compose(p.shape, TFLA_BFLOAT16, TFLA_GATE_EXPONENTIAL, &summary, c, n, m), TFLA_ERROR_INVALID_ARGUMENT,
                "compose: bfloat16 state");
    check_error(tfla_compose(p.shape, TFLA_FLOAT64, TFLA_GATE_EXPONENTIAL, &summary, c, n, NULL), TFLA_ERROR_INVALID_ARGUMENT,
                "compose: m NULL for the exponential gate");
    check_error(tfla_compose(p.shape, TFLA_FLOAT64, TFLA_GATE_EXPONENTIAL, &summary, sc, n, m), TFLA_ERROR_INVALID_ARGUMENT,
                "compose: c is the summary's c");
    check_error(tfla_compose(p.shape, TFLA_FLOAT64, TFLA_GATE_EXPONENTIAL, NULL, c, n, m), TFLA_ERROR_INVALID_ARGUMENT,
                "compose: summary NULL");

    bad = p; bad.gate = TFLA_GATE_SIGMOID;
    memset(c, 0, d.nc * 8); memset(n, 0, d.nn * 8);
    check(tfla_summarize(&bad, NULL, &summary) == TFLA_OK &&
          tfla_compose(p.shape, TFLA_FLOAT64, TFLA_GATE_SIGMOID, &summary, c, n, NULL) == TFLA_OK,
          "compose: the sigmoid gate's state without m");

    /* bf16 products: the inference forward of float32 (or bfloat16) inputs only. */
    float *q32 = to_floats(d.q, d.nq), *k32 = to_floats(d.k, d.nq), *v32 = to_floats(d.v, d.nv);
    float *i32 = to_floats(d.i, d.ng), *f32b = to_floats(d.f, d.ng), *h32 = allocate(d.nv * 4);
    tfla_problem p32 = p;
    p32.dtype = TFLA_FLOAT32;
    p32.q = q32; p32.k = k32; p32.v = v32; p32.i = i32; p32.f = f32b;
    tfla_options products = o;
    products.precision = TFLA_PRECISION_BF16_PRODUCTS;
    check(tfla_forward(&p32, &products, &(tfla_outputs){h32, NULL, NULL, NULL}) == TFLA_OK, "bf16 products: float32 forward");
    check_error(tfla_training_forward(&p32, &products, 4, &(tfla_outputs){h32, NULL, NULL, NULL}, &(tfla_saved *){NULL}),
                TFLA_ERROR_UNSUPPORTED, "bf16 products: training forward");
    free(q32); free(k32); free(v32); free(i32); free(f32b); free(h32);

    check(tfla_forward(&p, NULL, &out) == TFLA_OK && tfla_last_error()[0] == '\0', "a success clears the message");
    free(ld); free(sc); free(sn); free(sm); free(f32); free(gf); free(dhf); free(g); free(dh);
    free(h); free(c); free(n); free(m);
    free_data(&e); free_data(&d);
}
