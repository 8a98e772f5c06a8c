#include "apus_clone.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/sched.h>

pid_t apus_clone(unsigned long flags)
{
	/* A NULL stack gives fork semantics: the child resumes here on a copy of
	 * the parent's stack. glibc's fork() cannot take namespace flags. */
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

pid_t apus_clone3(unsigned long long flags, int cgroup_fd, int *pidfd_out)
{
#ifdef SYS_clone3
	struct clone_args args;
	int pidfd = -1;

	memset(&args, 0, sizeof args);
	args.flags = flags;
	args.exit_signal = SIGCHLD;
	if (cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_fd;
	}
	if (pidfd_out) {
		args.flags |= CLONE_PIDFD;
		args.pidfd = (uint64_t)(uintptr_t)&pidfd;
	}
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
	if (pid > 0 && pidfd_out)
		*pidfd_out = pidfd;
	return pid;
#else
	(void)flags; (void)cgroup_fd; (void)pidfd_out;
	errno = ENOSYS;
	return -1;
#endif
}
