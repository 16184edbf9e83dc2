#include "CTFLAKernels.h"

void tfla_prefetch_rows(const void *base, long rows, long row_bytes, long stride_bytes) {
    const char *row = base;
    for (long r = 0; r < rows; r++, row += stride_bytes)
        for (long offset = 0; offset < row_bytes; offset += 64) __builtin_prefetch(row + offset, 0, 2);
}
