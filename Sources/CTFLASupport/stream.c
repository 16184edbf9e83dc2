// Row copies with non-temporal stores: a kernel's finished output rows go to
// memory without first reading the destination lines into the cache.
#include "CTFLASupport.h"
#include "bf16_bits.h"

#include <stdint.h>
#include <string.h>

#if TFLA_X86_KERNELS
#include <emmintrin.h>

void tfla_stream_rows(const void *source, long source_stride, void *target, long target_stride,
                      long rows, long row_bytes) {
    for (long r = 0; r < rows; r++) {
        const char *from = (const char *)source + r * source_stride;
        char *to = (char *)target + r * target_stride;
        // Regular stores up to the first 16-byte boundary and after the last.
        long head = (long)((16 - ((uintptr_t)to & 15)) & 15);
        if (head > row_bytes) head = row_bytes;
        memcpy(to, from, (size_t)head);
        long body = (row_bytes - head) & ~15L;
        for (long b = head; b < head + body; b += 16)
            _mm_stream_si128((__m128i *)(to + b), _mm_loadu_si128((const __m128i *)(from + b)));
        memcpy(to + head + body, from + head + body, (size_t)(row_bytes - head - body));
    }
    // Orders the streamed stores before anything the caller does next
    // (another thread reads h only after the parallel loop's barrier).
    _mm_sfence();
}
#else
void tfla_stream_rows(const void *source, long source_stride, void *target, long target_stride,
                      long rows, long row_bytes) {
    for (long r = 0; r < rows; r++)
        memcpy((char *)target + r * target_stride, (const char *)source + r * source_stride, (size_t)row_bytes);
}
#endif
