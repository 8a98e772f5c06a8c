// A network namespace made beside the runtime's own work (see netns.c).
#ifndef APUS_NETNS_H
#define APUS_NETNS_H

#include <sys/types.h>

struct apus_netns_helper {
	pid_t pid;
	/* The namespace's descriptor once the helper has exited, or -errno. */
	volatile int fd;
	/* 1 when the helper also brought its loopback device up. */
	volatile int loopback_up;
};

/* Starts a helper process that shares this process's memory and descriptor table and
 * makes a new network namespace with lo up (as init would); returns 0, or -1 with errno when none could be started
 * (then nothing is left to wait for). One helper at a time. */
int apus_netns_helper_start(struct apus_netns_helper *helper);

/* Reaps the helper: the namespace's descriptor (close-on-exec, in this process's table),
 * or -errno of the step that failed. */
int apus_netns_helper_wait(struct apus_netns_helper *helper);

#endif
