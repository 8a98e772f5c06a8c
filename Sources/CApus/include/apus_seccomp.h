// libseccomp is reached directly from Swift (seccomp_rule_add_array etc.);
// this header only makes it visible through the CApus module.
#ifndef APUS_SECCOMP_H
#define APUS_SECCOMP_H
#include <seccomp.h>
#endif
