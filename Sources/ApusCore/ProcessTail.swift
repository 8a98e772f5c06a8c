import ApusLinux
import CApus
import Glibc
import OCI

/// The end of a container process's setup, the same for init (`ContainerInit`) and for an
/// exec'd process (`ExecChild`), written once (runc's finalizeNamespace): the steps whose
/// order is the security of the process.
enum ProcessTail {
    /// Capabilities around the user switch: bounding set first (needs CAP_SETPCAP), keep
    /// permitted caps across setuid, then set the final sets (runc's order). seccomp, runc's
    /// order: without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so it goes in
    /// before the capability drop (`loadSeccomp(filter, false)`); with it, right after
    /// no_new_privs (`loadSeccomp(filter, true)`), where the caller loads what must reach the
    /// runtime before `ready` and leaves the rest for right before execve, so the profile
    /// need not allow apus's own syscalls. `checkSetgroups`: in a user namespace,
    /// /proc/self/setgroups may say "deny".
    static func finalizeProcess(
        _ process: Spec.Process, capabilities: CapabilitySets, lastCap: Int, checkSetgroups: Bool,
        seccomp: SeccompFilter?,
        loadSeccomp: (_ filter: SeccompFilter, _ afterNoNewPrivileges: Bool) throws(ApusError) -> Void
    ) throws(ApusError) {
        let noNewPrivileges = process.noNewPrivileges == true
        // cwd first, as root, and checked before any filter (crun's order): a profile may deny
        // getcwd, which the check needs. A directory only the container user may enter is
        // entered after the user switch instead (runc's retry on EACCES).
        let cwdDone = try chdirAsRoot(process.cwd)
        if let filter = seccomp, !noNewPrivileges { try loadSeccomp(filter, false) }
        try capabilities.applyBounding(lastCap: lastCap)
        try sys("keep capabilities across setuid") { apus_prctl(APUS_PR_SET_KEEPCAPS, 1, 0, 0, 0) }
        let setgroupsAllowed = !checkSetgroups || FileIO.readString("/proc/self/setgroups")?.trimmed != "deny"
        try ProcessSetup.switchUser(process.user, setgroupsAllowed: setgroupsAllowed)
        if let mask = process.user.umask { umask(mode_t(mask)) }
        if !cwdDone {
            try sys("chdir to \(process.cwd)", field: ".process.cwd") { chdir(process.cwd) }
            try verifyCwdInsideRoot(process.cwd)
        }
        try sys("clear keep-capabilities") { apus_prctl(APUS_PR_SET_KEEPCAPS, 0, 0, 0, 0) }
        try capabilities.applyProcessSets(lastCap: lastCap)
        if noNewPrivileges {
            try sys("set no_new_privs", field: ".process.noNewPrivileges") {
                apus_prctl(APUS_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            }
            if let filter = seccomp { try loadSeccomp(filter, true) }
        }
    }

    /// chdir to cwd and its check while still root; false when root may not enter it
    /// (EACCES, EPERM: e.g. a directory of an unmapped owner), to retry as the user.
    static func chdirAsRoot(_ cwd: String) throws(ApusError) -> Bool {
        if chdir(cwd) < 0 {
            let code = errno
            if code == EACCES || code == EPERM { return false }
            throw ApusError("chdir to \(cwd)", errno: code, field: ".process.cwd")
        }
        try verifyCwdInsideRoot(cwd)
        return true
    }

    /// After chdir, the working directory must be inside the container root: a
    /// leaked fd path (/proc/self/fd/N) could otherwise point at the host
    /// (CVE-2024-21626). getcwd reports such a directory as "(unreachable)".
    static func verifyCwdInsideRoot(_ cwd: String) throws(ApusError) {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else {
            throw ApusError(
                "chdir to \(cwd)", errno: errno, detail: "working directory is outside the container",
                field: ".process.cwd")
        }
        if buffer.first != CChar(UInt8(ascii: "/")) {
            throw ApusError(
                "chdir to \(cwd)", detail: "working directory is outside the container", field: ".process.cwd")
        }
    }
}
