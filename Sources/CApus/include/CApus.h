#ifndef CAPUS_H
#define CAPUS_H
#include "apus_clone.h"
#include "apus_netns.h"
#include "apus_syscalls.h"
#include "apus_seccomp.h"
#include "apus_bpf.h"
#include "apus_sched.h"
#include "apus_constants.h"
#endif
