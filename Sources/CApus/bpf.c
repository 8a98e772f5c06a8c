#include "apus_bpf.h"

#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

static int apus_bpf(int cmd, union bpf_attr *attr, unsigned int size)
{
	return (int)syscall(SYS_bpf, cmd, attr, size);
}

int apus_bpf_prog_load(uint32_t prog_type, const void *insns, uint32_t insn_cnt,
		       const char *license, char *log_buf, uint32_t log_size)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof attr);
	attr.prog_type = prog_type;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = insn_cnt;
	attr.license = (uint64_t)(uintptr_t)license;
	if (log_buf != NULL && log_size > 0) {
		attr.log_buf = (uint64_t)(uintptr_t)log_buf;
		attr.log_size = log_size;
		attr.log_level = 1;
	}
	return apus_bpf(BPF_PROG_LOAD, &attr, sizeof attr);
}

int apus_bpf_prog_attach(int target_fd, int prog_fd, uint32_t attach_type, uint32_t flags)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof attr);
	attr.target_fd = (uint32_t)target_fd;
	attr.attach_bpf_fd = (uint32_t)prog_fd;
	attr.attach_type = attach_type;
	attr.attach_flags = flags;
	return apus_bpf(BPF_PROG_ATTACH, &attr, sizeof attr);
}

int apus_bpf_prog_detach(int target_fd, int prog_fd, uint32_t attach_type)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof attr);
	attr.target_fd = (uint32_t)target_fd;
	attr.attach_bpf_fd = (uint32_t)prog_fd;
	attr.attach_type = attach_type;
	return apus_bpf(BPF_PROG_DETACH, &attr, sizeof attr);
}

int apus_bpf_prog_query(int target_fd, uint32_t attach_type, uint32_t *prog_ids, uint32_t *prog_cnt)
{
	union bpf_attr attr;
	int ret;

	memset(&attr, 0, sizeof attr);
	attr.query.target_fd = (uint32_t)target_fd;
	attr.query.attach_type = attach_type;
	attr.query.prog_ids = (uint64_t)(uintptr_t)prog_ids;
	attr.query.prog_cnt = *prog_cnt;
	ret = apus_bpf(BPF_PROG_QUERY, &attr, sizeof attr);
	/* The kernel reports the real count even when it fails with ENOSPC. */
	*prog_cnt = attr.query.prog_cnt;
	return ret;
}

int apus_bpf_prog_get_fd_by_id(uint32_t id)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof attr);
	attr.prog_id = id;
	return apus_bpf(BPF_PROG_GET_FD_BY_ID, &attr, sizeof attr);
}
