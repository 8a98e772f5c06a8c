// Name → number tables for the string enumerations of config.json. They live here, not in
// ApusLinux, so that validation can name a bad value with its JSON path before any syscall.

/// Linux capability names (as written in config.json) → capability number
/// (include/uapi/linux/capability.h). CAP_CHECKPOINT_RESTORE (40) arrived in Linux 5.9.
public let knownCapabilities: [String: Int] = [
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
]

/// The highest capability number in `knownCapabilities`.
public let lastKnownCapability = 40

/// RLIMIT_* names → resource number for setrlimit/prlimit (asm-generic/resource.h, which
/// x86_64, arm64, riscv64, s390x and ppc64 share).
public let knownRlimits: [String: Int32] = [
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
]

/// Seccomp actions accepted in `defaultAction` and `syscalls[].action` (libseccomp v2.5 names).
public let knownSeccompActions: Set<String> = [
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
]

/// Seccomp argument comparison operators.
public let knownSeccompOperators: Set<String> = [
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
]

/// Seccomp architectures (libseccomp's SCMP_ARCH_* names).
public let knownSeccompArchitectures: Set<String> = [
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
]

/// seccomp(2) filter flags → SECCOMP_FILTER_FLAG_* value.
public let knownSeccompFlags: [String: UInt32] = [
    "SECCOMP_FILTER_FLAG_TSYNC": 1 << 0,
    "SECCOMP_FILTER_FLAG_LOG": 1 << 1,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 1 << 5,
]

/// rootfsPropagation values → MS_* flags for mount(2), as runc maps them.
public let rootfsPropagationFlags: [String: UInt] = [
    "private": MountFlag.MS_PRIVATE,
    "rprivate": MountFlag.MS_PRIVATE | MountFlag.MS_REC,
    "slave": MountFlag.MS_SLAVE,
    "rslave": MountFlag.MS_SLAVE | MountFlag.MS_REC,
    "shared": MountFlag.MS_SHARED,
    "rshared": MountFlag.MS_SHARED | MountFlag.MS_REC,
    "unbindable": MountFlag.MS_UNBINDABLE,
    "runbindable": MountFlag.MS_UNBINDABLE | MountFlag.MS_REC,
]

/// process.ioPriority.class → IOPRIO_CLASS_* value (linux/ioprio.h).
public let knownIOPriorityClasses: [String: Int32] = [
    "IOPRIO_CLASS_RT": 1,
    "IOPRIO_CLASS_BE": 2,
    "IOPRIO_CLASS_IDLE": 3,
]

/// process.scheduler.policy → SCHED_* value. SCHED_ISO is in the spec but was never merged
/// into mainline Linux (its number is reserved); the runtime reports it when applying.
public let knownSchedulerPolicies: [String: UInt32] = [
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
]

/// process.scheduler.flags → SCHED_FLAG_* value (linux/sched.h).
public let knownSchedulerFlags: [String: UInt64] = [
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
]

/// linux.memoryPolicy.mode → MPOL_* value (linux/mempolicy.h).
public let knownMemoryPolicyModes: [String: UInt32] = [
    "MPOL_DEFAULT": 0,
    "MPOL_PREFERRED": 1,
    "MPOL_BIND": 2,
    "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4,
    "MPOL_PREFERRED_MANY": 5,
    "MPOL_WEIGHTED_INTERLEAVE": 6,
]

/// linux.memoryPolicy.flags → MPOL_F_* mode flag.
public let knownMemoryPolicyFlags: [String: UInt32] = [
    "MPOL_F_STATIC_NODES": 1 << 15,
    "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_NUMA_BALANCING": 1 << 13,
]

/// linux.personality.domain → personality(2) persona.
public let knownPersonalityDomains: [String: UInt] = [
    "LINUX": 0x0000,
    "LINUX32": 0x0008,
]
