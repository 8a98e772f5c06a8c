import CApus
import Glibc

/// Kernel feature probes for `apus info` and `apus features` (HostFacts). Each probe calls
/// the syscall with arguments the kernel rejects before it does anything, so nothing
/// changes and the error tells whether the kernel has the call: ENOSYS (or a seccomp
/// filter's error) means missing, EINVAL/EFAULT present.
///
/// Each returns the errno of the rejected call (0 if it unexpectedly succeeded), except
/// `closeRange`, which succeeds without closing anything: 0 there means
/// close_range(CLOSE_RANGE_CLOEXEC) works.
enum KernelProbe {
    /// ~0U: as flags every bit set, most of them unknown to any kernel; as an fd, none open.
    private static let allFlags = Int(UInt32.max)

    /// The errno of syscall(nr, a, b, c, d, e), 0 if it succeeded. nr is -1 when the C
    /// headers apus was built with lack the call (APUS_NR_*): ENOSYS, as from the kernel.
    private static func rejection(
        _ nr: Int, _ a: Int = 0, _ b: Int = 0, _ c: Int = 0, _ d: Int = 0, _ e: Int = 0
    ) -> Int32 {
        RawSyscall.call(nr, a, b, c, d, e) < 0 ? Glibc.errno : 0
    }

    /// clone3(NULL, 0): a size below CLONE_ARGS_SIZE_VER0 is refused before any copy.
    static func clone3() -> Int32 {
        rejection(Int(APUS_NR_CLONE3))
    }

    /// pidfd_open(getpid(), ~0U): unknown flags: EINVAL, no fd is made.
    static func pidfdOpen() -> Int32 {
        rejection(Int(APUS_NR_PIDFD_OPEN), Int(getpid()), allFlags)
    }

    /// openat2(AT_FDCWD, "/", NULL, 0): a struct open_how smaller than version 0: EINVAL.
    static func openat2() -> Int32 {
        "/".withCString { rejection(Int(APUS_NR_OPENAT2), Int(AT_FDCWD), Int(bitPattern: $0)) }
    }

    /// close_range(~0U, ~0U, CLOSE_RANGE_CLOEXEC): the range holds no fd, so nothing
    /// changes; kernels with close_range but without CLOSE_RANGE_CLOEXEC (5.9, 5.10)
    /// answer EINVAL.
    static func closeRange() -> Int32 {
        rejection(Int(APUS_NR_CLOSE_RANGE), allFlags, allFlags, 4 /* CLOSE_RANGE_CLOEXEC */)
    }

    /// open_tree(-1, "", ~0U): unknown flags, EINVAL.
    static func openTree() -> Int32 {
        "".withCString { rejection(Int(APUS_NR_OPEN_TREE), -1, Int(bitPattern: $0), allFlags) }
    }

    /// mount_setattr(-1, "", ~0U, NULL, 0): unknown flags, EINVAL.
    static func mountSetattr() -> Int32 {
        "".withCString { rejection(Int(APUS_NR_MOUNT_SETATTR), -1, Int(bitPattern: $0), allFlags, 0, 0) }
    }

    /// seccomp(SECCOMP_GET_ACTION_AVAIL) (Linux 4.14): 0 when the kernel knows the
    /// SECCOMP_RET_* action, else errno.
    static func seccompAction(_ action: UInt32) -> Int32 {
        withUnsafePointer(to: action) {
            rejection(Int(APUS_NR_SECCOMP), 2 /* SECCOMP_GET_ACTION_AVAIL */, 0, Int(bitPattern: $0))
        }
    }

    /// seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL): the kernel checks the flags, then
    /// faults on the NULL program, so EFAULT means the flags are supported (libseccomp
    /// probes the same way). Returns errno.
    static func seccompFlags(_ flags: UInt32) -> Int32 {
        rejection(Int(APUS_NR_SECCOMP), 1 /* SECCOMP_SET_MODE_FILTER */, Int(flags), 0)
    }

    /// unshare(flags) in a forked child that exits at once: 0 when this process may create
    /// those namespaces, else the errno (EINVAL if the child did not exit normally).
    static func unshare(_ flags: Int32) -> Int32 {
        let pid = apus_clone(0)
        if pid < 0 { return Glibc.errno }
        if pid == 0 { _exit(apus_unshare(flags) == 0 ? 0 : Glibc.errno & 0xff) }
        var status: Int32 = 0
        if retryingEINTR({ waitpid(pid, &status, 0) }) < 0 { return Glibc.errno }
        // WIFEXITED and WEXITSTATUS, which Swift does not import.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : EINVAL
    }
}
