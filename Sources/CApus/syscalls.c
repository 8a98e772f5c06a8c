#include "apus_syscalls.h"
#include "apus_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <malloc.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/mount.h>
#include <sched.h>
#include <grp.h>

int apus_mount(const char *source, const char *target, const char *fstype,
	       unsigned long flags, const char *data)
{
	return mount(source, target, fstype, flags, data);
}

int apus_umount2(const char *target, int flags) { return umount2(target, flags); }

int apus_setns(int fd, int nstype) { return setns(fd, nstype); }
int apus_unshare(int flags) { return unshare(flags); }
int apus_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int apus_prctl(int option, unsigned long a2, unsigned long a3,
	       unsigned long a4, unsigned long a5)
{
	return prctl(option, a2, a3, a4, a5);
}

int apus_ioctl_int(int fd, unsigned long request, int value)
{
	return ioctl(fd, request, value);
}

int apus_ioctl_ptr(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

int apus_setrlimit(int resource, uint64_t soft, uint64_t hard)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };
	return setrlimit(resource, &rl);
}

uint64_t apus_makedev(unsigned int maj, unsigned int min) { return makedev(maj, min); }
unsigned int apus_major(uint64_t dev) { return major(dev); }
unsigned int apus_minor(uint64_t dev) { return minor(dev); }

int apus_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = flags;
	how.mode = mode;
	how.resolve = resolve;
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int apus_capset(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)perm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) },
	};
	return (int)syscall(SYS_capset, &h, d);
}

int apus_loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	close(s);
	return 0;
fail:;
	int e = errno;
	close(s);
	errno = e;
	return -1;
}

int apus_send_fd(int sock, int fd, const char *name)
{
	char buf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
	struct msghdr msg;
	struct cmsghdr *cmsg;

	/* An empty payload would not be delivered on a stream socket. */
	if (iov.iov_len == 0) {
		iov.iov_base = (void *)"\0";
		iov.iov_len = 1;
	}
	memset(buf, 0, sizeof buf);
	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = buf;
	msg.msg_controllen = sizeof buf;
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

static void unblock_all_signals(void)
{
	/* The raw syscall: also called once libc's state may be gone
	 * (apus_wait_for_start_and_exec). */
	uint64_t none = 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
}

void apus_reset_signals(uint64_t which)
{
	/* The raw syscall: glibc's signal() refuses its own 32 and 33, which a caller may
	   have ignored as well. */
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} dfl = { 0 };
	for (int sig = 1; sig <= 64; sig++)
		if ((which >> (sig - 1)) & 1 && sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
	unblock_all_signals();
}

int apus_signalfd_all(void)
{
	sigset_t set;
	sigfillset(&set);
	sigdelset(&set, SIGKILL);
	sigdelset(&set, SIGSTOP);
	/* Faults must stay deliverable to the runtime itself. */
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGTRAP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

int apus_signalfd_read(int fd, int *sig, int *code, int *status)
{
	struct signalfd_siginfo si;
	ssize_t n;
	do
		n = read(fd, &si, sizeof si);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof si)
		return -1;
	*sig = (int)si.ssi_signo;
	*code = si.ssi_code;
	*status = si.ssi_status;
	return (int)si.ssi_pid;
}

void apus_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

ssize_t apus_recv_msg(int sock, void *buf, size_t len, int *fd_out)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg;
	struct cmsghdr *cmsg;
	ssize_t n;

	*fd_out = -1;
	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control;
	msg.msg_controllen = sizeof control;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg))
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
			memcpy(fd_out, CMSG_DATA(cmsg), sizeof(int));
	return n;
}

int apus_dup3(int oldfd, int newfd, int flags) { return dup3(oldfd, newfd, flags); }
int apus_setresuid(uid_t r, uid_t e, uid_t s) { return setresuid(r, e, s); }
int apus_setresgid(gid_t r, gid_t e, gid_t s) { return setresgid(r, e, s); }
int apus_setgroups(size_t n, const gid_t *groups) { return setgroups(n, groups); }

int apus_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
		       uint64_t attr_clr, uint64_t propagation, int userns_fd)
{
#ifdef SYS_mount_setattr
	struct mount_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.attr_set = attr_set;
	attr.attr_clr = attr_clr;
	attr.propagation = propagation;
	if (userns_fd >= 0) {
		attr.attr_set |= MOUNT_ATTR_IDMAP;
		attr.userns_fd = (uint64_t)userns_fd;
	}
	return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
#else
	(void)dirfd; (void)path; (void)flags; (void)attr_set; (void)attr_clr;
	(void)propagation; (void)userns_fd;
	errno = ENOSYS;
	return -1;
#endif
}

long apus_syscall(long nr, long a, long b, long c, long d, long e)
{
	return syscall(nr, a, b, c, d, e);
}

/* Gives back `ranges`, free heap pages and the stack below `frame` (the page of the
 * caller's frame): dead pages that an earlier deep call left resident. One page is kept
 * below the frame (the red zone and the calls still to come); the window stays inside the
 * 1 MiB guard gap the kernel keeps below a stack, so it can only meet the stack or nothing.
 *
 * What this assumes, and APUS_NO_GIVE_BACK=1 (read here, before anything is dropped)
 * turns it all off when one of these stops holding:
 * - glibc: one thread, so malloc_trim takes no lock another thread holds; the static
 *   build's TLS (errno) and the plan live in the brk heap, which malloc_trim only trims
 *   at its free top; __libc_stack_end is the top of the initial stack, which grows down.
 * - ELF: apus is one static executable whose PT_LOAD segments are all its image; text
 *   and read-only data are clean file pages; writable segments past PT_GNU_RELRO hold
 *   nothing read after the drop (they revert to the file, .bss to zero), while the RELRO
 *   part (the relocated GOT through which libc's IFUNCs are called) is never in `ranges`
 *   (ProcessMemory.wholeImageRanges). */
static int give_back(const struct apus_page_range *ranges, size_t count, uintptr_t frame, uintptr_t page)
{
	const char *off = getenv("APUS_NO_GIVE_BACK");
	if (off && off[0] == '1')
		return 0;
	malloc_trim(0);
	size_t window = 256 * 1024;
	madvise((void *)(frame - 2 * page - window), window, MADV_DONTNEED);
	for (size_t i = 0; i < count; i++)
		madvise((void *)ranges[i].start, ranges[i].length, MADV_DONTNEED);
	return 1;
}

long apus_release_then_syscall(const struct apus_page_range *ranges, size_t count,
			       long nr, long a, long b, long c, long d)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	give_back(ranges, count, (uintptr_t)__builtin_frame_address(0) & ~(page - 1), page);
	return syscall(nr, a, b, c, d);
}

const Elf64_Phdr *apus_program_headers(size_t *count)
{
	*count = getauxval(AT_PHNUM);
	return (const Elf64_Phdr *)getauxval(AT_PHDR);
}

extern void *__libc_stack_end;

/* strerror's text for what execve and open fail with, without libc's locale state. */
static const char *start_error_text(long err)
{
	switch (err) {
	case ENOENT: return "No such file or directory";
	case EACCES: return "Permission denied";
	case EPERM: return "Operation not permitted";
	case ENOEXEC: return "Exec format error";
	case ETXTBSY: return "Text file busy";
	case E2BIG: return "Argument list too long";
	case ENOMEM: return "Cannot allocate memory";
	case ENOTDIR: return "Not a directory";
	case EISDIR: return "Is a directory";
	case ELOOP: return "Too many levels of symbolic links";
	case ENAMETOOLONG: return "File name too long";
	case EINVAL: return "Invalid argument";
	default: return NULL;
	}
}

__attribute__((no_builtin))
static void start_failed(const char *step, const char *object, long err)
{
	char line[512];
	size_t n = 0;
	const char *text = start_error_text(err);
	const char *parts[] = { "apus: ", step, " ", object, ": ", text ? text : "errno " };
	for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++)
		for (const char *c = parts[p]; *c && n < sizeof line - 24; c++)
			line[n++] = *c;
	char digits[20];
	int d = 0;
	do
		digits[d++] = (char)('0' + err % 10);
	while ((err /= 10) > 0 && d < 20);
	while (!text && d > 0)
		line[n++] = digits[--d];
	line[n++] = '\n';
	syscall(SYS_write, 2, line, n);
	syscall(SYS_exit_group, 127);
	__builtin_unreachable();
}

__attribute__((noreturn, no_stack_protector, no_builtin))
void apus_wait_for_start_and_exec(const struct apus_start_plan *shared)
{
	/* The caller's frame goes with the rest of the stack: keep a copy here. */
	struct apus_start_plan plan = *shared;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0) & ~(page - 1);
	uintptr_t top = (uintptr_t)__libc_stack_end & ~(page - 1);
	/* Frames above this one are never returned to; keep two pages of this frame's own. */
	if (give_back(plan.image, plan.image_count, frame, page) && top > frame + 2 * page)
		madvise((void *)(frame + 2 * page), top - frame - 2 * page, MADV_DONTNEED);

	long fd;
	do
		fd = syscall(SYS_openat, plan.fifo_dir, plan.fifo, O_WRONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		start_failed("open exec fifo", plan.fifo, errno);
	/* Kept open until execve: `start` reads "0", then waits for EOF. */
	syscall(SYS_write, fd, "0", 1);
	apus_reset_signals(plan.reset_signals);
	if (plan.filter && apus_seccomp_load(plan.filter, plan.filter_len, plan.filter_flags) < 0)
		start_failed("load seccomp filter", "(config.json .linux.seccomp)", errno);
	syscall(SYS_execve, plan.path, plan.argv, plan.envp);
	start_failed("exec", plan.path, errno);
}
