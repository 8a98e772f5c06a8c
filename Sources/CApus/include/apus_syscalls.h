// Raw syscalls and variadic/macro-only libc calls that Swift cannot reach
// through the Glibc module. Every function returns -1 and leaves errno set on
// failure, like the syscall it wraps.
#ifndef APUS_SYSCALLS_H
#define APUS_SYSCALLS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <elf.h>

int apus_mount(const char *source, const char *target, const char *fstype,
               unsigned long flags, const char *data);
int apus_umount2(const char *target, int flags);
int apus_setns(int fd, int nstype);
int apus_unshare(int flags);
int apus_pipe2(int fds[2], int flags);
int apus_prctl(int option, unsigned long a2, unsigned long a3,
               unsigned long a4, unsigned long a5);
int apus_ioctl_int(int fd, unsigned long request, int value);
int apus_ioctl_ptr(int fd, unsigned long request, void *arg);
int apus_setrlimit(int resource, uint64_t soft, uint64_t hard);
uint64_t apus_makedev(unsigned int major, unsigned int minor);
unsigned int apus_major(uint64_t dev);
unsigned int apus_minor(uint64_t dev);

/* openat2 with the given resolve flags (RESOLVE_IN_ROOT etc.). */
int apus_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/* capset on the calling thread, version 3 (64-bit sets). */
int apus_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);

/* Bring up the loopback interface of the current network namespace. */
int apus_loopback_up(void);

/* SCM_RIGHTS: send one fd with a short text payload. */
int apus_send_fd(int sock, int fd, const char *name);
/* recvmsg of one datagram; *fd_out receives an SCM_RIGHTS fd or -1. */
ssize_t apus_recv_msg(int sock, void *buf, size_t len, int *fd_out);

/* The signals set in `which` (bit sig-1; UINT64_MAX for all) back to SIG_DFL, then
 * every signal unblocked, so a process about to execve inherits no ignored or blocked
 * signal. Async-signal-safe: used in forked children. With SigIgn of /proc/PID/status as
 * `which` it is all a container process needs: execve resets caught signals itself. */
void apus_reset_signals(uint64_t which);

/* Block every catchable signal and return a signalfd for them (used by the
 * foreground `run`/`exec` process to forward signals). old_mask receives
 * the previous mask so it can be restored in children. */
int apus_signalfd_all(void);
/* Read one signal number from a signalfd, -1 on error. Fills sender pid. */
int apus_signalfd_read(int fd, int *sig, int *code, int *status);

/* Ignore SIGPIPE in the runtime so cleanup always runs. */
void apus_ignore_sigpipe(void);

int apus_dup3(int oldfd, int newfd, int flags);
int apus_setresuid(uid_t r, uid_t e, uid_t s);
int apus_setresgid(gid_t r, gid_t e, gid_t s);
int apus_setgroups(size_t n, const gid_t *groups);

/* mount_setattr(2) (Linux 5.12) on the mount at dirfd/path; userns_fd >= 0 adds
 * MOUNT_ATTR_IDMAP with that user namespace. */
int apus_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                       uint64_t attr_clr, uint64_t propagation, int userns_fd);

/* Re-executes this program from a sealed memfd copy of itself with the same argv and
 * envp (CVE-2019-5736: a process with CAP_SYS_PTRACE in the container can open
 * /proc/PID/exe of apus while apus runs there). Returns -1 with errno only on failure. */
int apus_reexec_sealed(char *const argv[], char *const envp[]);

/* A child in a new user namespace that exits once the pipe read end gate_read sees EOF
 * (it closes its copy of gate_write): its uid_map/gid_map are written by the caller.
 * Returns its pid, or -1 with errno. */
int apus_clone_userns_waiter(int gate_read, int gate_write);

/* open_tree(2) (Linux 5.2); flags as the kernel's (APUS_OPEN_TREE_CLONE, APUS_AT_*). */
int apus_open_tree(int dirfd, const char *path, unsigned int flags);

/* The new mount API (Linux 5.2): fsopen with FSOPEN_CLOEXEC; fsconfig of one parameter,
 * FSCONFIG_SET_STRING key=value or FSCONFIG_SET_FLAG key when value is NULL; fsmount
 * with FSMOUNT_CLOEXEC and MOUNT_ATTR_* attrs, which returns a detached mount.
 * FSCONFIG_CMD_CREATE goes through apus_syscall (RawSyscall.fsconfigCreate). */
int apus_fsopen(const char *fstype);
int apus_fsconfig_set(int fsfd, const char *key, const char *value);
int apus_fsmount(int fsfd, unsigned int attrs);

/* Device, inode and mount id of what fd names, from one statx; *mount_id is 0 where
 * statx has no STATX_MNT_ID (before Linux 5.8). */
int apus_file_identity(int fd, uint64_t *dev, uint64_t *ino, uint64_t *mount_id);

/* A detached clone of the mount tree at source (open_tree, Linux 5.2) with the id
 * mapping of userns_fd applied (mount_setattr MOUNT_ATTR_IDMAP, Linux 5.12). */
int apus_open_idmapped_tree(const char *source, int recursive_bind, int recursive_idmap, int userns_fd);

/* move_mount(2) of a detached tree onto the directory or file open as target_fd. */
int apus_move_mount_onto(int tree, int target_fd);

/* f_type of fstatfs(2) on fd (PROC_SUPER_MAGIC, ...), or -1 with errno. */
long apus_fs_type(int fd);

/* syscall(2) for the calls Swift cannot make through the variadic libc function. */
long apus_syscall(long nr, long a, long b, long c, long d, long e);

/* madvise(MADV_DONTNEED) of each range, then one raw syscall (a blocking poll or open):
 * nothing runs between the two, so the wait starts with only this function's own pages
 * faulted back in. The ranges must hold no page the process still needs the contents of
 * (clean file pages, see ProcessMemory). Returns the syscall's result. */
struct apus_page_range {
	uintptr_t start;
	size_t length;
};
long apus_release_then_syscall(const struct apus_page_range *ranges, size_t count,
                               long nr, long a, long b, long c, long d);
/* What a created container's init needs once `start` opens the exec fifo; every pointer
 * into the C heap, which apus_wait_for_start_and_exec keeps. */
struct apus_start_plan {
	int fifo_dir;                 /* fifo is relative to it: AT_FDCWD, or the host procfs */
	const char *fifo;             /* path of the exec fifo, opened O_WRONLY: blocks until start */
	const char *path;             /* the resolved executable */
	char *const *argv;
	char *const *envp;
	const uint8_t *filter;        /* seccomp BPF program loaded after the wait, or NULL */
	size_t filter_len;
	unsigned int filter_flags;
	uint64_t reset_signals;       /* SigIgn: back to SIG_DFL before execve */
	const struct apus_page_range *image; /* the executable's segments to give back whole */
	size_t image_count;
};

/* The wait of a created container's init, then its execve, with its memory given back
 * first: free heap, the clean text and read-only data pages, the written .data and .bss
 * (reverted to the file and to zero), the dead stack above and below this frame. Only
 * the C heap (plan, TLS) and this frame stay; from then on nothing but raw syscalls runs,
 * so no Swift or libc state is relied on. Writes "0" to the fifo as `start` expects. On
 * failure: a line on stderr and exit 127. Never returns. APUS_NO_GIVE_BACK=1 in the
 * runtime's environment turns every give-back off (see give_back in syscalls.c). */
void apus_wait_for_start_and_exec(const struct apus_start_plan *plan) __attribute__((noreturn));

/* This executable's program headers, as the kernel passed them (AT_PHDR, AT_PHNUM). */
const Elf64_Phdr *apus_program_headers(size_t *count);
/* Syscall numbers for apus_syscall and apus_release_then_syscall: the Glibc module exports
 * no SYS_*. -1 where the headers predate the call, which Swift treats as ENOSYS. */
enum {
	APUS_NR_PPOLL = SYS_ppoll,
	APUS_NR_PIVOT_ROOT = SYS_pivot_root,
	APUS_NR_IOPRIO_SET = SYS_ioprio_set,
	APUS_NR_EVENTFD2 = SYS_eventfd2,
	APUS_NR_OPENAT = SYS_openat,
	APUS_NR_SECCOMP = SYS_seccomp,
	APUS_NR_SET_MEMPOLICY = SYS_set_mempolicy,
	APUS_NR_SCHED_SETAFFINITY = SYS_sched_setaffinity,
#ifdef SYS_clone3
	APUS_NR_CLONE3 = SYS_clone3,
#else
	APUS_NR_CLONE3 = -1,
#endif
#ifdef SYS_pidfd_open
	APUS_NR_PIDFD_OPEN = SYS_pidfd_open,
	APUS_NR_PIDFD_SEND_SIGNAL = SYS_pidfd_send_signal,
#else
	APUS_NR_PIDFD_OPEN = -1,
	APUS_NR_PIDFD_SEND_SIGNAL = -1,
#endif
#ifdef SYS_openat2
	APUS_NR_OPENAT2 = SYS_openat2,
#else
	APUS_NR_OPENAT2 = -1,
#endif
#ifdef SYS_close_range
	APUS_NR_CLOSE_RANGE = SYS_close_range,
#else
	APUS_NR_CLOSE_RANGE = -1,
#endif
#ifdef SYS_open_tree
	APUS_NR_OPEN_TREE = SYS_open_tree,
#else
	APUS_NR_OPEN_TREE = -1,
#endif
#ifdef SYS_fsconfig
	APUS_NR_FSCONFIG = SYS_fsconfig,
#else
	APUS_NR_FSCONFIG = -1,
#endif
#ifdef SYS_mount_setattr
	APUS_NR_MOUNT_SETATTR = SYS_mount_setattr,
#else
	APUS_NR_MOUNT_SETATTR = -1,
#endif
};

#endif
