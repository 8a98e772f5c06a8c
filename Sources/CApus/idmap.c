#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "apus_syscalls.h"

int apus_clone_userns_waiter(int gate_read, int gate_write)
{
	/* A fork-like clone into a new user namespace; the child only waits for the gate
	 * to close, so the namespace lives until the parent holds its fd. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		char byte;
		close(gate_write);
		while (read(gate_read, &byte, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	return pid;
}

int apus_open_idmapped_tree(const char *source, int recursive_bind, int recursive_idmap, int userns_fd)
{
#if defined(SYS_open_tree) && defined(SYS_mount_setattr)
	unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive_bind ? AT_RECURSIVE : 0);
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, flags);
	if (tree < 0)
		return -1;
	if (apus_mount_setattr(tree, "", AT_EMPTY_PATH | (recursive_idmap ? AT_RECURSIVE : 0), 0, 0, 0,
			       userns_fd) < 0) {
		int saved = errno;
		close(tree);
		errno = saved;
		return -1;
	}
	return tree;
#else
	(void)source; (void)recursive_bind; (void)recursive_idmap; (void)userns_fd;
	errno = ENOSYS;
	return -1;
#endif
}

int apus_move_mount_onto(int tree, int target_fd)
{
#ifdef SYS_move_mount
	return (int)syscall(SYS_move_mount, tree, "", target_fd, "",
			    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
#else
	(void)tree; (void)target_fd;
	errno = ENOSYS;
	return -1;
#endif
}

#include <sys/vfs.h>

long apus_fs_type(int fd)
{
	struct statfs fs;
	if (fstatfs(fd, &fs) < 0)
		return -1;
	return (long)fs.f_type;
}
