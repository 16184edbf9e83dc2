// Per-thread scratch of the bf16 products: their packed operands and the
// fallback's rounded copies, owned by the calling thread so that products
// on different workers never share a buffer.
#include "bf16_kernels.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct {
    void *data;
    size_t capacity;
} scratch_buffer;

static _Thread_local scratch_buffer scratch[TFLA_SCRATCH_SLOTS];
static _Thread_local bool scratch_registered;
static pthread_key_t scratch_key;
static pthread_once_t scratch_key_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *buffers) {
    scratch_buffer *list = buffers;
    for (int slot = 0; slot < TFLA_SCRATCH_SLOTS; slot++) {
        free(list[slot].data);
        list[slot].data = NULL;
        list[slot].capacity = 0;
    }
}

static void make_scratch_key(void) {
    if (pthread_key_create(&scratch_key, free_scratch) != 0) abort();
}

void *tfla_scratch_bytes(int slot, size_t bytes) {
    scratch_buffer *buffers = scratch;
    scratch_buffer *buffer = &buffers[slot];
    if (buffer->capacity < bytes) {
        if (!scratch_registered) {
            pthread_once(&scratch_key_once, make_scratch_key);
            pthread_setspecific(scratch_key, buffers);
            scratch_registered = true;
        }
        free(buffer->data);
        size_t rounded = (bytes + 63) & ~(size_t)63;
        buffer->data = aligned_alloc(64, rounded);
        if (!buffer->data) abort();
        buffer->capacity = rounded;
    }
    return buffer->data;
}
