#include "apus_sched.h"

#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

int apus_personality(unsigned long persona)
{
	return personality(persona) < 0 ? -1 : 0;
}

struct apus_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

int apus_sched_setattr(uint32_t policy, uint64_t flags, int32_t nice, uint32_t priority,
                       uint64_t runtime, uint64_t deadline, uint64_t period)
{
	struct apus_sched_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.sched_policy = policy;
	attr.sched_flags = flags;
	attr.sched_nice = nice;
	attr.sched_priority = priority;
	attr.sched_runtime = runtime;
	attr.sched_deadline = deadline;
	attr.sched_period = period;
	return (int)syscall(SYS_sched_setattr, 0, &attr, 0);
}
