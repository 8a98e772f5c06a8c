// Kernel feature probes for `apus info` and `apus features`. Each probe calls
// the syscall with arguments the kernel rejects before it does anything, so
// nothing changes and the error tells whether the kernel has the call:
// ENOSYS (or a seccomp filter's error) means missing, EINVAL/EFAULT present.
#ifndef APUS_PROBE_H
#define APUS_PROBE_H
#include <stdint.h>

/* Each returns the errno of the rejected call (0 if it unexpectedly succeeded),
 * except close_range, which succeeds without closing anything: 0 there means
 * close_range(CLOSE_RANGE_CLOEXEC) works. */
int apus_probe_clone3(void);
int apus_probe_pidfd_open(void);
int apus_probe_openat2(void);
int apus_probe_close_range(void);
int apus_probe_open_tree(void);
int apus_probe_mount_setattr(void);

/* seccomp(SECCOMP_GET_ACTION_AVAIL) (Linux 4.14): 0 when the kernel knows the
 * SECCOMP_RET_* action, else errno. */
int apus_probe_seccomp_action(uint32_t action);
/* seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL): the kernel checks the flags,
 * then faults on the NULL program, so EFAULT means the flags are supported
 * (libseccomp probes the same way). Returns errno. */
int apus_probe_seccomp_flags(unsigned int flags);
/* unshare(flags) in a forked child that exits at once: 0 when this process
 * may create those namespaces, else the errno. */
int apus_probe_unshare(int flags);
#endif
