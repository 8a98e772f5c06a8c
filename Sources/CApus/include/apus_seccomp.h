// libseccomp is reached directly from Swift (seccomp_rule_add_array etc.);
// this header makes it visible through the CApus module and adds the two
// calls libseccomp 2.5 lacks: exporting the BPF to memory and loading it with
// flags of our choosing (WAIT_KILLABLE_RECV is unknown to libseccomp < 2.6).
#ifndef APUS_SECCOMP_H
#define APUS_SECCOMP_H
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

/* seccomp_export_bpf into a malloc'd buffer (*out, *len bytes); 0 or -errno. */
int apus_seccomp_export(scmp_filter_ctx ctx, uint8_t **out, size_t *len);
/* seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) of `len` bytes of sock_filter.
 * Returns the listener fd with SECCOMP_FILTER_FLAG_NEW_LISTENER, else 0;
 * -1 and errno on failure. */
int apus_seccomp_load(const uint8_t *insns, size_t len, unsigned int flags);
#endif
