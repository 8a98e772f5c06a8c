#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apus_syscalls.h"

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	int saved = errno;
	close(fd);
	if (n != (ssize_t)len) {
		errno = n < 0 ? saved : EIO;
		return -1;
	}
	return 0;
}

int apus_userns_with_maps(const char *uid_map, const char *gid_map)
{
	int gate[2];
	if (pipe2(gate, O_CLOEXEC) < 0)
		return -1;
	/* A fork-like clone into a new user namespace; the child only waits for the gate
	 * to close, so the namespace lives until its fd is open. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		char byte;
		close(gate[1]);
		while (read(gate[0], &byte, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	int saved = errno;
	close(gate[0]);
	if (pid < 0) {
		close(gate[1]);
		errno = saved;
		return -1;
	}
	int fd = -1;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
	if (write_file(path, uid_map) == 0) {
		snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
		if (write_file(path, gid_map) == 0) {
			snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
	}
	saved = errno;
	close(gate[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	errno = saved;
	return fd;
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
