// Per-process attributes set by raw syscalls glibc does not wrap (or Swift
// cannot see): personality, sched_setattr.
#ifndef APUS_SCHED_H
#define APUS_SCHED_H
#include <stdint.h>

int apus_personality(unsigned long persona);
/* sched_setattr(0, attr, 0) with struct sched_attr (Linux 3.14+). */
int apus_sched_setattr(uint32_t policy, uint64_t flags, int32_t nice, uint32_t priority,
                       uint64_t runtime, uint64_t deadline, uint64_t period);
#endif
