// oneDNN's bf16 matmul against the library's bf16 products, one thread, at
// the chunkwise forward's tile shapes (Docs/log/bf16-avx512.md, "bf16
// products (AVX512-BF16)"). Not part of the build; needs Debian's libdnnl-dev:
//
//   apt-get install -y libdnnl-dev
//   clang -O2 -march=native -ISources/CTFLAKernels/include Scripts/probes/onednn-bf16-probe.c \
//       Sources/CTFLAKernels/[a-z]*.c -o /tmp/onednn-probe -ldnnl
//   OMP_NUM_THREADS=1 /tmp/onednn-probe
//
// oneDNN gets its operands already in bfloat16 (its best case, primitive
// created once per shape); the library's product converts float32 operands
// on every call, as the kernel does.
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "CTFLABF16.h"

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHECK(call)                                                        \
    do {                                                                   \
        dnnl_status_t status = (call);                                     \
        if (status != dnnl_success) {                                      \
            fprintf(stderr, "%s failed: status %d\n", #call, (int)status); \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

int main(void) {
    if (!tfla_cpu_has_avx512_bf16()) {
        fprintf(stderr, "this CPU has no AVX512-BF16\n");
        return 1;
    }
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    const long shapes[][3] = {{64, 512, 256}, {256, 512, 64}, {64, 64, 256}, {64, 512, 64}, {512, 512, 512}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        long m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        dnnl_memory_desc_t a_desc, b_desc, c_desc;
        dnnl_dims_t a_dims = {m, k}, b_dims = {k, n}, c_dims = {m, n};
        CHECK(dnnl_memory_desc_init_by_tag(&a_desc, 2, a_dims, dnnl_bf16, dnnl_ab));
        CHECK(dnnl_memory_desc_init_by_tag(&b_desc, 2, b_dims, dnnl_bf16, dnnl_ab));
        CHECK(dnnl_memory_desc_init_by_tag(&c_desc, 2, c_dims, dnnl_f32, dnnl_ab));
        dnnl_matmul_desc_t matmul;
        CHECK(dnnl_matmul_desc_init(&matmul, &a_desc, &b_desc, NULL, &c_desc));
        dnnl_primitive_desc_t descriptor;
        CHECK(dnnl_primitive_desc_create(&descriptor, &matmul, NULL, engine, NULL));
        const char *implementation = "?";
        dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &implementation);
        dnnl_primitive_t primitive;
        CHECK(dnnl_primitive_create(&primitive, descriptor));

        uint16_t *a16 = malloc(sizeof(uint16_t) * m * k), *b16 = malloc(sizeof(uint16_t) * k * n);
        float *a32 = malloc(sizeof(float) * m * k), *b32 = malloc(sizeof(float) * k * n);
        float *c = malloc(sizeof(float) * m * n);
        for (long i = 0; i < m * k; i++) a32[i] = 0.01f * (float)(i % 7), a16[i] = 0x3c23;
        for (long i = 0; i < k * n; i++) b32[i] = 0.02f * (float)(i % 5), b16[i] = 0x3ca3;
        dnnl_memory_t a_memory, b_memory, c_memory;
        CHECK(dnnl_memory_create(&a_memory, &a_desc, engine, a16));
        CHECK(dnnl_memory_create(&b_memory, &b_desc, engine, b16));
        CHECK(dnnl_memory_create(&c_memory, &c_desc, engine, c));
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, a_memory}, {DNNL_ARG_WEIGHTS, b_memory}, {DNNL_ARG_DST, c_memory}};

        int calls = (int)(3e8 / (2.0 * m * n * k)) + 3;
        double best_onednn = 1e30, best_own = 1e30;
        for (int round = 0; round < 10; round++) {  // alternating, best of ten
            double t0 = seconds();
            for (int r = 0; r < calls; r++) {
                CHECK(dnnl_primitive_execute(primitive, stream, 3, args));
                CHECK(dnnl_stream_wait(stream));
            }
            double t1 = seconds();
            for (int r = 0; r < calls; r++) tfla_bf16_gemm(false, false, m, n, k, 1, a32, k, b32, n, 0, c, n);
            double t2 = seconds();
            if (t1 - t0 < best_onednn) best_onednn = t1 - t0;
            if (t2 - t1 < best_own) best_own = t2 - t1;
        }
        double flops = 2.0 * m * n * k * calls;
        printf("m=%-4ld n=%-4ld k=%-4ld oneDNN %6.1f GFLOP/s (%7.1f us/call, %s)  tfla %6.1f GFLOP/s (%7.1f us/call)\n",
               m, n, k, flops / best_onednn / 1e9, best_onednn / calls * 1e6, implementation,
               flops / best_own / 1e9, best_own / calls * 1e6);
        dnnl_memory_destroy(a_memory);
        dnnl_memory_destroy(b_memory);
        dnnl_memory_destroy(c_memory);
        dnnl_primitive_destroy(primitive);
        dnnl_primitive_desc_destroy(descriptor);
        free(a16), free(b16), free(a32), free(b32), free(c);
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
