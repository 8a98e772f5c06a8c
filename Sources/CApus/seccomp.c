#include "apus_seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int apus_seccomp_export(scmp_filter_ctx ctx, uint8_t **out, size_t *len)
{
	/* A memfd, not a pipe: a filter larger than the pipe buffer would block. */
	int fd = memfd_create("apus-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -EIO;
	}
	uint8_t *buf = malloc((size_t)size);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	size_t done = 0;
	while (done < (size_t)size) {
		ssize_t n = read(fd, buf + done, (size_t)size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			close(fd);
			return -EIO;
		}
		done += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = done;
	return 0;
}

int apus_seccomp_load(const uint8_t *insns, size_t len, unsigned int flags)
{
	size_t count = len / sizeof(struct sock_filter);
	if (count == 0 || count > BPF_MAXINSNS || len % sizeof(struct sock_filter) != 0) {
		errno = EINVAL;
		return -1;
	}
	struct sock_fprog prog = { .len = (unsigned short)count, .filter = (struct sock_filter *)insns };
	long rc;
	do
		rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	while (rc < 0 && errno == EINTR);
	return (int)rc;
}
