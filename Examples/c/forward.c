/* The smallest use of the C interface: a float32 forward over caller
 * buffers. Build (Docs/c-abi.md):
 *   cc -ISources/CTFLAABI/include Examples/c/forward.c -L"$BIN" -ltfla_c -Wl,-rpath,"$BIN"
 * where BIN is `swift build -c release --show-bin-path`. */
#include "tfla.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
    if (tfla_abi_version() != TFLA_ABI_VERSION) {
        fprintf(stderr, "libtfla_c implements ABI %u, this program expects %d\n", tfla_abi_version(), TFLA_ABI_VERSION);
        return 1;
    }
    enum { B = 1, NH = 2, S = 64, DQK = 16, DHV = 16 };
    static float q[B * NH * S * DQK], k[B * NH * S * DQK], v[B * NH * S * DHV], i[B * NH * S], f[B * NH * S];
    static float h[B * NH * S * DHV], c[B * NH * DQK * DHV], n[B * NH * DQK], m[B * NH];
    for (int j = 0; j < B * NH * S * DQK; j++) q[j] = k[j] = (float)((j % 7) - 3) / 8;
    for (int j = 0; j < B * NH * S * DHV; j++) v[j] = (float)((j % 5) - 2) / 4;
    for (int j = 0; j < B * NH * S; j++) { i[j] = 0.5f; f[j] = 3.0f; }

    tfla_problem problem;
    tfla_problem_init(&problem); /* dtype float32, exponential gate, eps 1e-6 */
    problem.shape = (tfla_shape){B, NH, S, DQK, DHV};
    problem.q = q; problem.k = k; problem.v = v; problem.i = i; problem.f = f;
    tfla_outputs outputs = {h, c, n, m};

    tfla_status status = tfla_forward(&problem, NULL /* default options */, &outputs);
    if (status != TFLA_OK) {
        fprintf(stderr, "tfla_forward: %s\n", tfla_last_error());
        return 1;
    }
    printf("tfla %s: h[0][0][S-1][0] = %g, m[0][0] = %g\n", tfla_version(), h[(S - 1) * DHV], m[0]);
    return 0;
}
