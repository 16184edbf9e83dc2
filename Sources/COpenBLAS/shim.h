#ifndef TFLA_COPENBLAS_SHIM_H
#define TFLA_COPENBLAS_SHIM_H

// cblas.h of OpenBLAS also declares openblas_get_corename,
// openblas_get_config and openblas_set_num_threads, which the library uses
// to report and fix its BLAS configuration (Sources/TFLA/BLAS).
#include <cblas.h>

#endif
