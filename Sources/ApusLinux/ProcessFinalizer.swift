import CApus
import Glibc
import OCI

/// The raw calls that finish a container process, as a seam: `LinuxProcessKernel` makes
/// them; a test double records them, so the order `ProcessFinalizer` keeps (the security of
/// the process) is checked by unit tests without root. `finalize` is generic over it, so
/// the release build calls the real ones directly (no existential, no witness table).
public protocol ProcessKernel {
    /// chdir(2): 0, or the errno.
    mutating func changeDirectory(_ path: String) -> Int32
    /// getcwd(2): the path, or the errno; a path outside the root reads "(unreachable)…".
    mutating func currentDirectory() -> Result<String, ApusError>
    mutating func dropBoundingCapability(_ cap: Int) throws(ApusError)
    mutating func setKeepCapabilities(_ keep: Bool) throws(ApusError)
    /// This thread's setgroups file says "deny" (a user namespace whose map was written
    /// unprivileged).
    mutating func setgroupsDenied() -> Bool
    mutating func setGroups(_ gids: [gid_t]) throws(ApusError)
    mutating func setGID(_ gid: UInt32) throws(ApusError)
    mutating func setUID(_ uid: UInt32) throws(ApusError)
    mutating func setUmask(_ mask: UInt32)
    mutating func setCapabilities(effective: UInt64, permitted: UInt64, inheritable: UInt64) throws(ApusError)
    mutating func raiseAmbientCapability(_ cap: Int) throws(ApusError)
    mutating func setNoNewPrivileges() throws(ApusError)
}

/// The kernel: each call one syscall (prctl, setres[ug]id, capset, …).
public struct LinuxProcessKernel: ProcessKernel {
    /// The `ProcFS` handle taken before any container mount or namespace join: setgroups is
    /// read through it. The container's own /proc may be covered by its processes (a
    /// "deny" there would keep the runtime's supplementary groups in an exec'd process).
    private let procFD: Int32

    public init(procFD: Int32) { self.procFD = procFD }

    public func changeDirectory(_ path: String) -> Int32 {
        chdir(path) == 0 ? 0 : errno
    }

    public func currentDirectory() -> Result<String, ApusError> {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return .failure(ApusError("getcwd", errno: errno)) }
        return .success(String(cString: buffer))
    }

    public func dropBoundingCapability(_ cap: Int) throws(ApusError) {
        try sys("drop capability \(capabilityName(cap)) from the bounding set") {
            apus_prctl(APUS_PR_CAPBSET_DROP, UInt(cap), 0, 0, 0)
        }
    }

    public func setKeepCapabilities(_ keep: Bool) throws(ApusError) {
        try sys(keep ? "keep capabilities across setuid" : "clear keep-capabilities") {
            apus_prctl(APUS_PR_SET_KEEPCAPS, keep ? 1 : 0, 0, 0, 0)
        }
    }

    public func setgroupsDenied() -> Bool {
        guard let file = ProcFS.openForReading("thread-self/setgroups", beneath: procFD),
            let bytes = FileIO.readAll(fd: file.raw, wholeRecord: true)
        else { return false }
        return String(decoding: bytes, as: UTF8.self).trimmed == "deny"
    }

    public func setGroups(_ gids: [gid_t]) throws(ApusError) {
        try sys("setgroups \(gids)", field: ".process.user.additionalGids") {
            gids.withUnsafeBufferPointer { apus_setgroups(gids.count, $0.baseAddress) }
        }
    }

    public func setGID(_ gid: UInt32) throws(ApusError) {
        if apus_setresgid(gid, gid, gid) != 0 { throw Self.idError("setgid", "gid", gid, errno) }
    }

    public func setUID(_ uid: UInt32) throws(ApusError) {
        if apus_setresuid(uid, uid, uid) != 0 { throw Self.idError("setuid", "uid", uid, errno) }
    }

    /// EINVAL from setres[ug]id: the id has no mapping in this user namespace (rootless
    /// podman without /etc/subuid ranges maps only uid 0; runc says "unmapped" too).
    static func idError(_ call: String, _ kind: String, _ id: UInt32, _ code: Int32) -> ApusError {
        ApusError(
            "\(call) \(id)", errno: code,
            detail: code == EINVAL ? "\(kind) \(id) is not mapped in the container's user namespace" : nil,
            field: ".process.user.\(kind)")
    }

    public func setUmask(_ mask: UInt32) {
        umask(mode_t(mask))
    }

    public func setCapabilities(effective: UInt64, permitted: UInt64, inheritable: UInt64) throws(ApusError) {
        try sys("set process capabilities") { apus_capset(effective, permitted, inheritable) }
    }

    public func raiseAmbientCapability(_ cap: Int) throws(ApusError) {
        try sys("raise ambient capability \(capabilityName(cap))") {
            apus_prctl(APUS_PR_CAP_AMBIENT, UInt(APUS_PR_CAP_AMBIENT_RAISE), UInt(cap), 0, 0)
        }
    }

    public func setNoNewPrivileges() throws(ApusError) {
        try sys("set no_new_privs", field: ".process.noNewPrivileges") {
            apus_prctl(APUS_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        }
    }
}

/// What becomes of `.process.user.additionalGids` where /proc/self/setgroups says "deny"
/// (a user namespace whose gid_map an unprivileged writer made): nobody in it can change
/// groups, so the process keeps the ones it has.
public enum SetgroupsRule: Sendable, Equatable {
    /// No user namespace that may deny it: always setgroups.
    case always
    /// When denied, leave the groups as they are, silently (runc's setupUser: the runtime
    /// is root of its own user namespace, as under rootless podman without /etc/subuid
    /// ranges, where podman itself lists the image's groups of `--user`).
    case skipWhenDenied
    /// When denied, additional gids are an error (a runtime that is not root: runc refuses
    /// them for it in any case, "cannot set any additional groups in a rootless container").
    case refuseWhenDenied
}

/// The end of a container process's setup, the same for init (`ContainerInit`) and for an
/// exec'd process (`ExecChild`), written once (runc's finalizeNamespace): the steps whose
/// order is the security of the process.
public enum ProcessFinalizer {
    /// In order:
    /// 1. cwd, as root, and its check before any filter (crun's order): a profile may deny
    ///    getcwd, which the check needs; a directory only the container user may enter is
    ///    entered after the user switch instead (runc's retry on EACCES).
    /// 2. seccomp without no_new_privs: loading a filter then needs CAP_SYS_ADMIN, so it goes
    ///    in before the capabilities are dropped (`loadSeccomp(filter, false)`).
    /// 3. The bounding set (needs CAP_SETPCAP), keep permitted capabilities across a setuid to
    ///    a uid other than 0.
    /// 4. The user: setgroups, setgid, setuid — in that order, each needing the one before
    ///    not to have dropped CAP_SETGID/CAP_SETUID yet. `setgroups`: in a user
    ///    namespace, /proc/self/setgroups may say "deny".
    /// 5. umask; cwd as the user if root could not enter it.
    /// 6. Clear keep-capabilities (when set), set the final sets, raise the ambient ones.
    /// 7. no_new_privs, then seccomp (`loadSeccomp(filter, true)`), last: the caller loads
    ///    what must reach the runtime before `ready` and leaves the rest for right before
    ///    execve, so the profile need not allow apus's own syscalls.
    public static func finalize<K: ProcessKernel>(
        _ kernel: inout K, process: Spec.Process, capabilities: CapabilitySets, lastCap: Int,
        setgroups: SetgroupsRule, seccomp: SeccompFilter?,
        loadSeccomp: (_ filter: SeccompFilter, _ afterNoNewPrivileges: Bool) throws(ApusError) -> Void
    ) throws(ApusError) {
        let noNewPrivileges = process.noNewPrivileges == true
        let cwdDone = try enterWorkingDirectory(&kernel, process.cwd, retryable: true)
        if let filter = seccomp, !noNewPrivileges { try loadSeccomp(filter, false) }
        for cap in 0...lastCap where capabilities.bounding & (1 << UInt64(cap)) == 0 {
            try kernel.dropBoundingCapability(cap)
        }
        // The kernel clears the permitted set only when no uid stays 0; a switch to uid 0
        // keeps it without the flag (two prctls fewer in every root container).
        let keep = process.user.uid != 0
        if keep { try kernel.setKeepCapabilities(true) }
        try switchUser(&kernel, process.user, setgroups: setgroups)
        if let mask = process.user.umask { kernel.setUmask(mask) }
        if !cwdDone { _ = try enterWorkingDirectory(&kernel, process.cwd, retryable: false) }
        if keep { try kernel.setKeepCapabilities(false) }
        try kernel.setCapabilities(
            effective: capabilities.effective, permitted: capabilities.permitted,
            inheritable: capabilities.inheritable)
        // The kernel only allows ambient caps that are permitted and inheritable; runc skips
        // the others silently (its default spec lists ambient caps with no inheritable set).
        let raisable = capabilities.ambient & capabilities.permitted & capabilities.inheritable
        for cap in 0...lastCap where raisable & (1 << UInt64(cap)) != 0 {
            try kernel.raiseAmbientCapability(cap)
        }
        if noNewPrivileges {
            try kernel.setNoNewPrivileges()
            if let filter = seccomp { try loadSeccomp(filter, true) }
        }
    }

    static func switchUser<K: ProcessKernel>(
        _ kernel: inout K, _ user: Spec.User, setgroups: SetgroupsRule
    ) throws(ApusError) {
        if setgroups == .always || !kernel.setgroupsDenied() {
            try kernel.setGroups((user.additionalGids ?? []).map { gid_t($0) })
        } else if setgroups == .refuseWhenDenied, let extra = user.additionalGids, !extra.isEmpty {
            throw ApusError(
                "setgroups", detail: "additional groups need setgroups, which this user namespace denies",
                field: ".process.user.additionalGids")
        }
        try kernel.setGID(user.gid)
        try kernel.setUID(user.uid)
    }

    /// chdir to cwd, then the check that it is inside the container root: a leaked fd path
    /// (/proc/self/fd/N) could otherwise point at the host (CVE-2024-21626); getcwd reports
    /// such a directory as "(unreachable)…". `retryable`: false instead of an error when the
    /// caller may not enter it (EACCES, EPERM: a directory of an unmapped owner), to retry
    /// as the user.
    static func enterWorkingDirectory<K: ProcessKernel>(
        _ kernel: inout K, _ cwd: String, retryable: Bool
    ) throws(ApusError) -> Bool {
        let code = kernel.changeDirectory(cwd)
        if code != 0 {
            if retryable && (code == EACCES || code == EPERM) { return false }
            throw ApusError("chdir to \(cwd)", errno: code, field: ".process.cwd")
        }
        switch kernel.currentDirectory() {
        case .failure(let error):
            throw ApusError(
                "chdir to \(cwd)", errno: error.errno, detail: "working directory is outside the container",
                field: ".process.cwd")
        case .success(let path) where !path.hasPrefix("/"):
            throw ApusError(
                "chdir to \(cwd)", detail: "working directory is outside the container", field: ".process.cwd")
        case .success:
            return true
        }
    }
}
