/* Calls each syscall number given on the command line with zero arguments and prints
 * "NR ok" or "NR <strerror>": the seccomp tests use it to see what a filter answers for
 * syscalls busybox cannot make. Built static by the tests (gcc -static). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		long r = syscall(atol(argv[i]), 0, 0, 0, 0, 0);
		printf("%s %s\n", argv[i], r < 0 ? strerror(errno) : "ok");
	}
	return 0;
}
