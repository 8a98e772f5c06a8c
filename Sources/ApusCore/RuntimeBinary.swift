import ApusLinux
import CApus
import Glibc

/// CVE-2019-5736 for containers whose processes may hold CAP_SYS_PTRACE. PR_SET_DUMPABLE 0
/// hides /proc/PID/exe of an apus process inside a container (init until start, every exec
/// until execve) from everything but CAP_SYS_PTRACE, which overrides it: such a process can
/// open the host binary and write it once no apus runs. For those containers apus
/// re-executes from a sealed memfd copy of itself (runc 1.1's defence), unless its binary
/// is already sealed or on a read-only mount. The same holds for a pid namespace shared
/// with other containers (a pod), whose processes may have CAP_SYS_PTRACE. Other
/// containers pay nothing.
enum RuntimeBinary {
    static func protect(bounding: [String]?..., sharedPidNamespace: Bool) throws {
        let ptrace = bounding.contains { $0?.contains("CAP_SYS_PTRACE") == true }
        guard ptrace || sharedPidNamespace, !ownBinaryIsProtected() else { return }
        _ = apus_reexec_sealed(CommandLine.unsafeArgv, environ)
        throw RuntimeError(
            "re-execute from a sealed copy of apus (the container may use CAP_SYS_PTRACE, CVE-2019-5736): "
                + errorString(errno))
    }

    /// This process's executable cannot be written through /proc/PID/exe: a sealed memfd
    /// (F_SEAL_WRITE) or a file on a read-only mount.
    static func ownBinaryIsProtected() -> Bool {
        let fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)
        if fd < 0 { return false }
        defer { close(fd) }
        // F_GET_SEALS and F_SEAL_WRITE (linux/fcntl.h), not in the Glibc module.
        let seals = fcntl(fd, 1034)
        if seals >= 0 && seals & 0x0008 != 0 { return true }
        var fs = statvfs()
        return fstatvfs(fd, &fs) == 0 && fs.f_flag & UInt(ST_RDONLY) != 0
    }
}
