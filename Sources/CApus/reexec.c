#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "apus_syscalls.h"

int apus_reexec_sealed(char *const argv[], char *const envp[])
{
	int saved;
	int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return -1;
	struct stat st;
	if (fstat(src, &st) < 0) {
		saved = errno;
		close(src);
		errno = saved;
		return -1;
	}
	int copy = memfd_create("apus", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (copy < 0) {
		saved = errno;
		close(src);
		errno = saved;
		return -1;
	}
	off_t left = st.st_size;
	while (left > 0) {
		ssize_t n = sendfile(copy, src, NULL, (size_t)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		left -= n;
	}
	if (fcntl(copy, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		goto fail;
	close(src);
	src = -1;
	/* An ELF image needs no open fd after exec: close-on-exec is fine here. */
	syscall(SYS_execveat, copy, "", argv, envp, AT_EMPTY_PATH);
fail:
	saved = errno;
	if (src >= 0)
		close(src);
	close(copy);
	errno = saved;
	return -1;
}
