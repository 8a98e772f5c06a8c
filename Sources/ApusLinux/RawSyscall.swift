import CApus
import Glibc

/// The calls that are one raw syscall with plain arguments, made through the C target's
/// generic `apus_syscall` rather than a C wrapper each. Like the syscall, each returns -1
/// with errno on failure; ENOSYS where the headers apus was built with lack the call
/// (its APUS_NR_* is -1).
public enum RawSyscall {
    static func call(_ nr: Int, _ a: Int = 0, _ b: Int = 0, _ c: Int = 0, _ d: Int = 0, _ e: Int = 0) -> Int32 {
        guard nr >= 0 else {
            Glibc.errno = ENOSYS
            return -1
        }
        return Int32(truncatingIfNeeded: apus_syscall(nr, a, b, c, d, e))
    }

    /// pidfd_open(2), Linux 5.3.
    public static func pidfdOpen(_ pid: pid_t) -> Int32 {
        call(Int(APUS_NR_PIDFD_OPEN), Int(pid))
    }

    /// pidfd_send_signal(2) with no siginfo, Linux 5.1.
    public static func pidfdSendSignal(_ pidfd: Int32, _ signal: Int32) -> Int32 {
        call(Int(APUS_NR_PIDFD_SEND_SIGNAL), Int(pidfd), Int(signal))
    }

    /// close_range(2) of [first, last], Linux 5.9; `cloexec` marks them close-on-exec
    /// instead (CLOSE_RANGE_CLOEXEC, Linux 5.11).
    public static func closeRange(_ first: UInt32, _ last: UInt32, cloexec: Bool = false) -> Int32 {
        call(Int(APUS_NR_CLOSE_RANGE), Int(first), Int(last), cloexec ? 4 /* CLOSE_RANGE_CLOEXEC */ : 0)
    }

    /// pivot_root(2): swaps the root mount for new_root, the old one stacked on put_old.
    public static func pivotRoot(_ newRoot: String, _ putOld: String) -> Int32 {
        newRoot.withCString { new in
            putOld.withCString { old in
                call(Int(APUS_NR_PIVOT_ROOT), Int(bitPattern: new), Int(bitPattern: old))
            }
        }
    }

    /// ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level).
    public static func ioprioSet(class ioclass: Int32, level: Int32) -> Int32 {
        call(Int(APUS_NR_IOPRIO_SET), 1 /* IOPRIO_WHO_PROCESS */, 0, Int((ioclass << 13) | level))
    }

    /// eventfd(2) with EFD_CLOEXEC: the v1 memory cgroup's OOM notification
    /// (cgroup.event_control) needs one; sys/eventfd.h is not in the Glibc module.
    public static func eventfdCloexec(_ initval: UInt32) -> Int32 {
        call(Int(APUS_NR_EVENTFD2), Int(initval), Int(O_CLOEXEC))
    }

    /// fsconfig(fsfd, FSCONFIG_CMD_CREATE), Linux 5.2.
    public static func fsconfigCreate(_ fsfd: Int32) -> Int32 {
        call(Int(APUS_NR_FSCONFIG), Int(fsfd), 6 /* FSCONFIG_CMD_CREATE */)
    }
}
