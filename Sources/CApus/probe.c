#include "apus_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int rejected_errno(long rc)
{
	return rc < 0 ? errno : 0;
}

int apus_probe_clone3(void)
{
#ifdef SYS_clone3
	/* A size below CLONE_ARGS_SIZE_VER0 is refused before any copy. */
	return rejected_errno(syscall(SYS_clone3, NULL, 0));
#else
	return ENOSYS;
#endif
}

int apus_probe_pidfd_open(void)
{
#ifdef SYS_pidfd_open
	/* Unknown flags: EINVAL, no fd is made. */
	return rejected_errno(syscall(SYS_pidfd_open, getpid(), ~0U));
#else
	return ENOSYS;
#endif
}

int apus_probe_openat2(void)
{
#ifdef SYS_openat2
	/* A struct open_how smaller than version 0: EINVAL. */
	return rejected_errno(syscall(SYS_openat2, AT_FDCWD, "/", NULL, 0));
#else
	return ENOSYS;
#endif
}

int apus_probe_close_range(void)
{
#ifdef SYS_close_range
	/* The range holds no fd, so nothing changes; kernels with close_range but
	 * without CLOSE_RANGE_CLOEXEC (5.9, 5.10) answer EINVAL. */
	return rejected_errno(syscall(SYS_close_range, ~0U, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */));
#else
	return ENOSYS;
#endif
}

int apus_probe_open_tree(void)
{
#ifdef SYS_open_tree
	return rejected_errno(syscall(SYS_open_tree, -1, "", ~0U));
#else
	return ENOSYS;
#endif
}

int apus_probe_mount_setattr(void)
{
#ifdef SYS_mount_setattr
	return rejected_errno(syscall(SYS_mount_setattr, -1, "", ~0U, NULL, 0));
#else
	return ENOSYS;
#endif
}

int apus_probe_seccomp_action(uint32_t action)
{
	return rejected_errno(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action));
}

int apus_probe_seccomp_flags(unsigned int flags)
{
	return rejected_errno(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, NULL));
}

int apus_probe_unshare(int flags)
{
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(unshare(flags) == 0 ? 0 : (errno & 0xff));
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL;
}
