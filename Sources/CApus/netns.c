// The network namespace of a new container, made by a helper while the runtime reads the
// config and makes cgroups: the kernel's copy_net_ns is the costliest step of a start
// (about 0.6 ms here, most of clone's time), and on a second core it overlaps with the
// runtime's own work, and so does bringing its lo up. Init then joins it as a configured
// path is joined. The helper is a clone with CLONE_VM | CLONE_FILES and no exit signal: no
// copy of the page tables, the descriptor it opens lands in our table, and it is reaped
// with __WCLONE.
#include "apus_netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The helper runs on the caller's thread-local storage (no CLONE_SETTLS), so it makes its
 * system calls without glibc's wrappers, which would set the caller's errno on failure. */
#if defined(__x86_64__)
static long helper_syscall(long n, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}
#define HELPER_SUPPORTED 1
#elif defined(__aarch64__)
static long helper_syscall(long n, long a, long b, long c)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
#define HELPER_SUPPORTED 1
#else
#define HELPER_SUPPORTED 0
#endif

#if HELPER_SUPPORTED
static char helper_stack[16384] __attribute__((aligned(64)));

/* lo up in the helper's namespace, as init's apus_loopback_up does; 1 on success. */
static int helper_loopback_up(void)
{
	struct ifreq ifr;
	long s = helper_syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 0;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	int up = helper_syscall(SYS_ioctl, s, SIOCGIFFLAGS, (long)&ifr) == 0;
	if (up) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		up = helper_syscall(SYS_ioctl, s, SIOCSIFFLAGS, (long)&ifr) == 0;
	}
	helper_syscall(SYS_close, s, 0, 0);
	return up;
}

static int helper_main(void *arg)
{
	struct apus_netns_helper *helper = arg;
	long r = helper_syscall(SYS_unshare, CLONE_NEWNET, 0, 0);
	if (r == 0) {
		helper->loopback_up = helper_loopback_up();
		r = helper_syscall(SYS_openat, AT_FDCWD, (long)"/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	}
	helper->fd = (int)r;
	return 0;
}
#endif

int apus_netns_helper_start(struct apus_netns_helper *helper)
{
	helper->pid = -1;
	helper->fd = -ENOSYS;
	helper->loopback_up = 0;
#if HELPER_SUPPORTED
	pid_t pid = clone(helper_main, helper_stack + sizeof helper_stack, CLONE_VM | CLONE_FILES, helper);
	if (pid < 0)
		return -1;
	helper->pid = pid;
	return 0;
#else
	errno = ENOSYS;
	return -1;
#endif
}

int apus_netns_helper_wait(struct apus_netns_helper *helper)
{
	if (helper->pid > 0) {
		int status;
		while (waitpid(helper->pid, &status, __WCLONE) < 0 && errno == EINTR)
			;
		helper->pid = -1;
	}
	return helper->fd;
}
