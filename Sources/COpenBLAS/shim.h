#ifndef TFLA_COPENBLAS_SHIM_H
#define TFLA_COPENBLAS_SHIM_H

#include <cblas.h>

// Exported by OpenBLAS builds with DYNAMIC_ARCH but not declared in cblas.h.
// Together they re-run the kernel selection in-process, which then honours
// OPENBLAS_CORETYPE as set at that moment.
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);

#endif
