/*
 * tfla.h: the C interface of TFLA, mLSTM kernels for the CPU.
 *
 * One header, one shared library (libtfla_c.so). Every entry point works on
 * caller-owned, contiguous, row-major (C order) buffers, aligned to their
 * element size, and copies nothing it does not have to: float32 and float64
 * inputs are read in place. bfloat16 inputs (tfla_forward only) are read in
 * place with TFLA_PRECISION_BF16_PRODUCTS on a CPU with AMX, and otherwise
 * widened to float32 inside the call (see tfla_dtype). What is copied
 * (Docs/c-abi.md has the table): tfla_forward writes h in place (every dtype)
 * and copies the final state (small) out; tfla_step copies
 * nothing; the training entries, the references and the summaries compute
 * into library memory and copy the results out (the saved forward keeps its
 * own h, so the caller's h may change or go before tfla_backward).
 *
 * Conventions (Sources/TFLA/Documentation.docc/Math.md has the formulas;
 * they follow the authors' package mlstm_kernels):
 *   q, k          (B, NH, S, DQK)
 *   v, h          (B, NH, S, DHV)
 *   i, f          (B, NH, S)          gate pre-activations
 *   c             (B, NH, DQK, DHV)   matrix memory
 *   n             (B, NH, DQK)        normalizer
 *   m             (B, NH)             stabilizer (all zeros for the sigmoid gate)
 * The state (c, n, m) and its gradients have the state dtype: float64 for
 * float64 inputs, float32 otherwise.
 *
 * Errors: every entry point returns a tfla_status. On anything but TFLA_OK
 * nothing was written to the outputs that the caller can rely on, and
 * tfla_last_error() gives a message for the calling thread. No input, valid
 * or not (null pointers, zero or huge sizes, overflowing products, outputs
 * that alias inputs, NaN), aborts the process. Sizes are checked before any
 * buffer is read: element counts whose bytes overflow 64 bits, and problems
 * whose outputs (h and the state) cannot fit in the memory available, are
 * refused with TFLA_ERROR_OUT_OF_MEMORY.
 *
 * Threads: every entry point may be called from many threads at once. Each
 * call runs its own workers (options.threads of them).
 *
 * Versioning: TFLA_ABI_VERSION changes only when an existing declaration
 * changes incompatibly. Structs that may grow carry their own size in their
 * first field (struct_size); set it with the matching *_init function, and
 * a library older than your header refuses fields it does not know only if
 * they are not at their defaults (TFLA_ERROR_UNSUPPORTED). A smaller
 * struct_size (an older header) must end at a field boundary; the fields it
 * lacks take their defaults. Sizes below 8 or above 4096 bytes are refused.
 */
#ifndef TFLA_H
#define TFLA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TFLA_ABI_VERSION 1

/* ---------------------------------------------------------------- basics */

/* The ABI version the library implements (compare with TFLA_ABI_VERSION). */
uint32_t tfla_abi_version(void);

/* The library's version, e.g. "0.6.0"; a static string. */
const char *tfla_version(void);

typedef enum tfla_status {
    TFLA_OK = 0,
    TFLA_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a bad option, a bad size, aliasing */
    TFLA_ERROR_SHAPE = 2,            /* shapes that do not fit together */
    TFLA_ERROR_NON_FINITE = 3,       /* a NaN or refused infinity in the inputs, or an overflowed result */
    TFLA_ERROR_UNSUPPORTED = 4,      /* a valid combination this entry point does not support */
    TFLA_ERROR_OUT_OF_MEMORY = 5,    /* refused before any work: the call would not fit in memory,
                                        or its sizes overflow 64 bits */
    TFLA_ERROR_INTERNAL = 6          /* a defect in the library; please report it */
} tfla_status;

/* The message of the last failed call on this thread ("" if none). Valid
 * until the next call into the library on this thread. */
const char *tfla_last_error(void);

typedef enum tfla_dtype {
    TFLA_FLOAT32 = 0,
    TFLA_FLOAT64 = 1,
    TFLA_BFLOAT16 = 2 /* storage (tfla_forward only): state in float32; arithmetic in float32,
                         or bf16 products with TFLA_PRECISION_BF16_PRODUCTS */
} tfla_dtype;

typedef enum tfla_gate {
    TFLA_GATE_EXPONENTIAL = 0,          /* mLSTMexp */
    TFLA_GATE_SIGMOID = 1,              /* mLSTMsig, normalized */
    TFLA_GATE_SIGMOID_UNNORMALIZED = 2  /* mLSTMsig without the denominator */
} tfla_gate;

typedef enum tfla_gradient_mode {
    TFLA_GRADIENT_EXACT = 0,     /* the true gradient of the forward */
    TFLA_GRADIENT_REFERENCE = 1  /* mlstm_kernels' custom backward: denominator and m held constant */
} tfla_gradient_mode;

typedef enum tfla_precision {
    TFLA_PRECISION_INPUT = 0,         /* products in the arithmetic type of the inputs (float32 for bfloat16) */
    TFLA_PRECISION_BF16_PRODUCTS = 1  /* inference forward, float32 or bfloat16 inputs: bf16 operands,
                                         float32 sums; bfloat16 inputs are read in place on AMX and
                                         computed as with TFLA_PRECISION_INPUT where AMX is missing */
} tfla_precision;

typedef struct tfla_shape {
    int64_t batch, heads, sequence, key_dim, value_dim; /* B, NH, S, DQK, DHV */
} tfla_shape;

/* How a call is tiled and threaded; 0 means "chosen by the library" for the
 * sizes and counts. Results are bit-identical for any thread count given
 * the same other options (parallelism decides the work decomposition). */
typedef struct tfla_options {
    size_t struct_size;         /* sizeof(tfla_options), set by tfla_options_init */
    int64_t chunk_size;         /* tokens per chunk (default 64; 128 for training entries) */
    int64_t query_tile;         /* query rows per output tile (default 64) */
    int64_t key_tile;           /* key/value rows per intra-chunk tile (default 64) */
    int64_t key_dim_tile;       /* rows of C per state tile (0: all of DQK) */
    int64_t value_dim_tile;     /* columns of C and h per work item (0: from the shape) */
    int64_t threads;            /* worker threads (0: the cores this process may use; at most 65536) */
    int64_t parallelism;        /* the worker count the plan is made for (0: the cores) */
    int64_t segments;           /* sequence segments scanned in parallel (0: from the plan) */
    int32_t checks_values;      /* 1 (default): refuse NaN / infinities per the policy */
    int32_t precision;          /* a tfla_precision */
} tfla_options;

/* Sets *options to the defaults of the inference forward (chunk_size 64).
 * Training entry points use chunk_size 128 when options is NULL. */
void tfla_options_init(tfla_options *options);

/* ------------------------------------------------------- the chunkwise call */

/* The arguments every chunkwise entry point shares. c0, n0, m0 are all NULL
 * (zero initial state) or, for the exponential gate, all given; for the
 * sigmoid gates m0 may be NULL and must be zeros if given. */
typedef struct tfla_problem {
    size_t struct_size;         /* sizeof(tfla_problem), set by tfla_problem_init */
    tfla_shape shape;
    tfla_dtype dtype;           /* of q, k, v, i, f and h */
    tfla_gate gate;
    double eps;                 /* added to the denominator; finite, >= 0 (default 1e-6) */
    const void *q, *k, *v, *i, *f;
    const void *c0, *n0, *m0;   /* state dtype; NULL: zeros */
} tfla_problem;

void tfla_problem_init(tfla_problem *problem);

/* Where results go. h is required; any of c, n, m may be NULL when the final
 * state is not wanted (all three NULL skips it). Outputs must not overlap the
 * inputs or each other. */
typedef struct tfla_outputs {
    void *h;                    /* (B, NH, S, DHV), problem dtype */
    void *c, *n, *m;            /* final state, state dtype */
} tfla_outputs;

/* The inference forward: h (written in place, in the problem dtype) and the
 * final state (copied). For bfloat16 inputs, options->precision decides the
 * arithmetic: TFLA_PRECISION_INPUT (the default) is the float32 forward of
 * the widened inputs with h rounded to bfloat16 (to nearest, ties to even);
 * TFLA_PRECISION_BF16_PRODUCTS on a CPU with AMX reads q, k, v in place and
 * packs them into tiles once per chunk (the fast path; h within about 1e-2
 * of max |h| of the float32 result), and where AMX is missing gives the
 * TFLA_PRECISION_INPUT result. */
tfla_status tfla_forward(const tfla_problem *problem, const tfla_options *options,
                         const tfla_outputs *outputs);

/* What a training forward keeps for its backward: the chunk states (every
 * state_stride-th), the denominators, h and the final state (its own copies).
 * Owned by the library; immutable, so one saved forward may serve several
 * tfla_backward calls, from any threads. */
typedef struct tfla_saved tfla_saved;

/* The training forward: h, the final state, and *saved for tfla_backward.
 * state_stride >= 1 (4 is a good default): the backward recomputes the
 * states in between. Float32 and float64 only (bfloat16:
 * TFLA_ERROR_UNSUPPORTED; convert to float32). h is computed into the saved
 * forward and copied to outputs->h. *saved is set to NULL first and holds
 * the new saved forward only on TFLA_OK. Free it with tfla_saved_free. */
tfla_status tfla_training_forward(const tfla_problem *problem, const tfla_options *options,
                                  int64_t state_stride, const tfla_outputs *outputs,
                                  tfla_saved **saved);

/* Bytes held by a saved forward (for memory accounting). */
size_t tfla_saved_bytes(const tfla_saved *saved);

/* Frees a saved forward; NULL is allowed. */
void tfla_saved_free(tfla_saved *saved);

/* Upstream gradients. dh is required; dc, dn, dm (state dtype) may be NULL
 * (zeros). Reference mode reads only dc. */
typedef struct tfla_upstream {
    const void *dh;             /* (B, NH, S, DHV) */
    const void *dc, *dn, *dm;   /* of the final state */
} tfla_upstream;

/* Gradients. dq, dk, dv, di, df are required (problem dtype); dc0, dn0, dm0
 * (state dtype) may be NULL when not wanted. */
typedef struct tfla_gradients {
    void *dq, *dk, *dv, *di, *df;
    void *dc0, *dn0, *dm0;
} tfla_gradients;

/* The backward of a training forward over the same problem (the same
 * inputs, gate, eps and initial state; a saved forward of another shape
 * (TFLA_ERROR_SHAPE), dtype, gate or eps (TFLA_ERROR_INVALID_ARGUMENT) is
 * refused). The chunk size and stride are the saved forward's; options only
 * tile and thread the call (NULL: the training defaults). Gradients are
 * computed into library memory and copied out. */
tfla_status tfla_backward(const tfla_problem *problem, const tfla_options *options,
                          const tfla_saved *saved, const tfla_upstream *upstream,
                          tfla_gradient_mode mode, const tfla_gradients *gradients);

/* Training forward and backward in one call: outputs (may be NULL when h and
 * the final state are not wanted; outputs->h may be NULL too) and gradients.
 * The same bits as tfla_training_forward then tfla_backward with the same
 * options. */
tfla_status tfla_forward_backward(const tfla_problem *problem, const tfla_options *options,
                                  int64_t state_stride, const tfla_upstream *upstream,
                                  tfla_gradient_mode mode, const tfla_outputs *outputs,
                                  const tfla_gradients *gradients);

/* --------------------------------------------------------------- references */

typedef enum tfla_reference {
    TFLA_REFERENCE_RECURRENT = 0, /* token by token, float64 recommended */
    TFLA_REFERENCE_PARALLEL = 1   /* the quadratic form over the whole sequence */
} tfla_reference;

/* The reference forms (for oracle suites): same problem and outputs as
 * tfla_forward, results copied out. options may be NULL and are only
 * checked: the references run on the calling thread and always refuse
 * non-finite inputs. The parallel form has no state: an initial state, a
 * final state wanted, or final-state gradients give TFLA_ERROR_UNSUPPORTED
 * (its initial-state gradients, if wanted, are zeros). Float32 and float64. */
tfla_status tfla_reference_forward(tfla_reference kind, const tfla_problem *problem,
                                   const tfla_options *options, const tfla_outputs *outputs);

/* Gradients of a reference form. The recurrent form has the exact gradient
 * only (TFLA_GRADIENT_REFERENCE: TFLA_ERROR_UNSUPPORTED). */
tfla_status tfla_reference_backward(tfla_reference kind, const tfla_problem *problem,
                                    const tfla_options *options, const tfla_upstream *upstream,
                                    tfla_gradient_mode mode, const tfla_gradients *gradients);

/* --------------------------------------------------------------------- step */

/* One token for every batch entry and head, state updated in place:
 *   q, k (B, NH, DQK), v (B, NH, DHV), i, f (B, NH), problem dtype;
 *   c, n, m in/out, state dtype; h (B, NH, DHV) out, problem dtype.
 * shape.sequence is ignored (one token). The inputs and h must not overlap
 * the state. Nothing is copied: the fused kernel of the library's
 * InferenceState runs on these buffers. The token's inputs and the state's n
 * and m are checked for non-finite values (TFLA_ERROR_NON_FINITE), m for
 * zeros with the sigmoid gates; C is not scanned (a non-finite C gives a
 * non-finite h). threads above 1024 count as 1024. Float32 and float64. */
typedef struct tfla_step_args {
    size_t struct_size;         /* sizeof(tfla_step_args), set by tfla_step_args_init */
    tfla_shape shape;
    tfla_dtype dtype;
    tfla_gate gate;
    double eps;
    int64_t threads;            /* 0: the cores this process may use */
    const void *q, *k, *v, *i, *f;
    void *c, *n, *m;
    void *h;
} tfla_step_args;

void tfla_step_args_init(tfla_step_args *args);

tfla_status tfla_step(const tfla_step_args *args);

/* ---------------------------------------------------------------- summaries */

/* What one segment of a sequence does to any incoming state: F (log decay,
 * float64 (B, NH)), dc (B, NH, DQK, DHV) and dn (B, NH, DQK) in the state
 * dtype, scaled by exp(-dm), and dm (float64 (B, NH); zeros for the sigmoid
 * gates). */
typedef struct tfla_summary {
    void *log_decay;            /* float64 (B, NH) */
    void *c;                    /* state dtype (B, NH, DQK, DHV) */
    void *n;                    /* state dtype (B, NH, DQK) */
    void *m;                    /* float64 (B, NH) */
} tfla_summary;

/* The summary of the problem's sequence as one segment (the initial state of
 * the problem must be NULL: a summary starts from the empty state). All four
 * summary buffers are required; results are copied out. Float32 and float64. */
tfla_status tfla_summarize(const tfla_problem *problem, const tfla_options *options,
                           const tfla_summary *summary);

/* The state after a summarized segment, from the state before it, in place:
 * c, n, m (state dtype, shapes from `shape`; sequence ignored) hold the
 * incoming state on entry and the outgoing one on return (m may be NULL for
 * the sigmoid gates). state_dtype is TFLA_FLOAT32 or TFLA_FLOAT64. */
tfla_status tfla_compose(tfla_shape shape, tfla_dtype state_dtype, tfla_gate gate,
                         const tfla_summary *summary, void *c, void *n, void *m);

#ifdef __cplusplus
}
#endif

#endif /* TFLA_H */
