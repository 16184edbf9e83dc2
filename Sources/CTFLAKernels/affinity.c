#define _GNU_SOURCE
#include "CTFLAKernels.h"

#if defined(__linux__)
#include <sched.h>

int tfla_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
}
#else
int tfla_available_cpus(void) { return 0; }
#endif
