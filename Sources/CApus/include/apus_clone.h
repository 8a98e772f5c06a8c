// The fork half of the runtime: clone the container init with fork semantics
// (no new stack, no exec) so setup continues in Swift in the child.
#ifndef APUS_CLONE_H
#define APUS_CLONE_H

#include <sys/types.h>

/* clone(2) with fork semantics plus namespace flags. Returns the child pid in
 * the parent, 0 in the child, -1 with errno on failure. */
pid_t apus_clone(unsigned long flags);

/* clone3(2) with fork semantics; cgroup_fd >= 0 adds CLONE_INTO_CGROUP (cgroup v2)
 * so the child is born in its cgroup and no cgroup.procs write is needed.
 * pidfd_out (if not NULL) receives a pidfd for the child (CLONE_PIDFD).
 * Returns -1/ENOSYS on kernels without clone3. */
pid_t apus_clone3(unsigned long long flags, int cgroup_fd, int *pidfd_out);

#endif
