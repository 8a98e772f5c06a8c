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

int apus_open_tree(int dirfd, const char *path, unsigned int flags)
{
#ifdef SYS_open_tree
	return (int)syscall(SYS_open_tree, dirfd, path, flags);
#else
	(void)dirfd; (void)path; (void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

int apus_open_idmapped_tree(const char *source, int recursive_bind, int recursive_idmap, int userns_fd)
{
#if defined(SYS_open_tree) && defined(SYS_mount_setattr)
	unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive_bind ? AT_RECURSIVE : 0);
	int tree = apus_open_tree(AT_FDCWD, source, flags);
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

int apus_fsopen(const char *fstype)
{
#ifdef SYS_fsopen
	return (int)syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC);
#else
	(void)fstype;
	errno = ENOSYS;
	return -1;
#endif
}

int apus_fsconfig_set(int fsfd, const char *key, const char *value)
{
#ifdef SYS_fsconfig
	if (value == NULL)
		return (int)syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_FLAG, key, NULL, 0);
	return (int)syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, key, value, 0);
#else
	(void)fsfd; (void)key; (void)value;
	errno = ENOSYS;
	return -1;
#endif
}

int apus_fsmount(int fsfd, unsigned int attrs)
{
#ifdef SYS_fsmount
	return (int)syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, attrs);
#else
	(void)fsfd; (void)attrs;
	errno = ENOSYS;
	return -1;
#endif
}

#include <sys/stat.h>
#include <sys/sysmacros.h>

int apus_file_identity(int fd, uint64_t *dev, uint64_t *ino, uint64_t *mount_id)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_MNT_ID, &stx) < 0)
		return -1;
	*dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	*ino = stx.stx_ino;
	*mount_id = (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
	return 0;
}

#include <sys/vfs.h>

long apus_fs_type(int fd)
{
	struct statfs fs;
	if (fstatfs(fd, &fs) < 0)
		return -1;
	return (long)fs.f_type;
}
