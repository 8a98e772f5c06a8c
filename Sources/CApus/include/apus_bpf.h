// Raw bpf(2) calls for the cgroup v2 device controller (BPF_PROG_TYPE_CGROUP_DEVICE).
// The program itself is built in Swift; these only fill `union bpf_attr`.
// Every function returns -1 and leaves errno set on failure, like the syscall.
#ifndef APUS_BPF_H
#define APUS_BPF_H

#include <stdint.h>

/* BPF_PROG_LOAD. insns points to insn_cnt 8-byte struct bpf_insn. log_buf may be
 * NULL (log_size 0); otherwise the verifier log (level 1) is written to it.
 * Returns the program fd (O_CLOEXEC). */
int apus_bpf_prog_load(uint32_t prog_type, const void *insns, uint32_t insn_cnt,
                       const char *license, char *log_buf, uint32_t log_size);

/* BPF_PROG_ATTACH of prog_fd to target_fd (a cgroup directory fd). */
int apus_bpf_prog_attach(int target_fd, int prog_fd, uint32_t attach_type, uint32_t flags);

/* BPF_PROG_DETACH of prog_fd from target_fd. */
int apus_bpf_prog_detach(int target_fd, int prog_fd, uint32_t attach_type);

/* BPF_PROG_QUERY: ids of the programs attached to target_fd itself. *prog_cnt is
 * the capacity of prog_ids on entry and the number attached on return. */
int apus_bpf_prog_query(int target_fd, uint32_t attach_type, uint32_t *prog_ids, uint32_t *prog_cnt);

/* BPF_PROG_GET_FD_BY_ID. */
int apus_bpf_prog_get_fd_by_id(uint32_t id);

#endif
