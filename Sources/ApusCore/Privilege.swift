import ApusLinux
import Glibc
import OCI

/// Who counts as "rootless" is three questions, not one (runc keeps them apart too).
/// Under rootless podman the runtime is euid 0 inside the user's user namespace: root for
/// its own namespace, nobody on the host's cgroupfs, and its state belongs in the user's
/// runtime dir. Pure: the inputs are injected, `current` probes them once.
public struct Privilege: Sendable, Equatable {
    /// The global `--rootless` flag (runc's `--rootless true|false|auto`).
    public enum Rootless: String, Sendable, CaseIterable {
        case auto, `true`, `false`
    }

    public var euid: UInt32
    /// This process is in a user namespace other than the initial one (its uid_map is not
    /// the identity `0 0 4294967295`). `current` reads uid_map on first use: start, kill,
    /// delete and state with `--root` never ask, and the read is a process's first look
    /// into its /proc entry (about 0.05 ms).
    public var inUserNamespace: Bool { given ?? Self.probedUserNamespace }
    private var given: Bool?
    private static let probedUserNamespace = UserNamespace.isInsideUserNamespace()
    public var rootless: Rootless
    /// XDG_RUNTIME_DIR; nil when unset or empty.
    public var runtimeDir: String?
    /// USER; nil when unset.
    public var user: String?

    public init(
        euid: UInt32, inUserNamespace: Bool, rootless: Rootless = .auto, runtimeDir: String? = nil,
        user: String? = nil
    ) {
        self.euid = euid
        self.given = inUserNamespace
        self.rootless = rootless
        self.runtimeDir = runtimeDir?.isEmpty == true ? nil : runtimeDir
        self.user = user
    }

    /// The running process, with the global `--rootless` flag.
    public static func current(rootless: Rootless = .auto) -> Privilege {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        var privilege = Privilege(
            euid: geteuid(), inUserNamespace: false, rootless: rootless, runtimeDir: env("XDG_RUNTIME_DIR"),
            user: env("USER"))
        privilege.given = nil
        return privilege
    }

    /// euid ≠ 0: an unprivileged writer of a child's gid_map must deny setgroups first,
    /// and the parent must stay dumpable to write the child's /proc files. uid 0 in a user
    /// namespace holds every capability there, so it is root for these.
    public var notRoot: Bool { euid != 0 }

    /// What the container's processes do about additional gids where setgroups is denied:
    /// only a user namespace (the container's, or the runtime's own) can deny it.
    public func setgroupsRule(containerUserNamespace: Bool) -> SetgroupsRule {
        guard containerUserNamespace || inUserNamespace else { return .always }
        return notRoot ? .refuseWhenDenied : .skipWhenDenied
    }

    /// Cgroups are best effort: euid ≠ 0, or uid 0 of a user namespace (host-root-owned
    /// cgroupfs files are not writable from there), unless `--rootless` says otherwise.
    /// `--rootless true` as real root is accepted, as runc does (its rootless cgroup manager).
    public var rootlessCgroups: Bool {
        switch rootless {
        case .true: return true
        case .false: return false
        case .auto: return euid != 0 || inUserNamespace
        }
    }

    /// runc's `shouldHonorXDGRuntimeDir`: a non-root user, or uid 0 of a user namespace
    /// that is not a root login (rootless podman unsets USER). Real root keeps /run/apus
    /// even with XDG_RUNTIME_DIR=/run/user/0 set, for compatibility.
    public var usesRuntimeDir: Bool {
        if euid != 0 { return true }
        return inUserNamespace && user != "root"
    }

    public static let systemRoot = "/run/apus"

    /// The state root: `--root` always wins; otherwise `$XDG_RUNTIME_DIR/apus` when
    /// `usesRuntimeDir`, else /run/apus. Unlike runc, which falls back to /run/runc and
    /// fails later on a permission error, a missing XDG_RUNTIME_DIR is said at once.
    public func stateRoot(explicit: String?) throws(ApusError) -> StateStore {
        if let explicit { return StateStore(root: explicit) }
        guard usesRuntimeDir else { return StateStore(root: Self.systemRoot) }
        guard let runtimeDir else {
            throw ApusError(
                "state root: XDG_RUNTIME_DIR is not set; apus keeps the state of "
                    + (euid != 0 ? "a user other than root" : "uid 0 of a user namespace")
                    + " in $XDG_RUNTIME_DIR/apus: set XDG_RUNTIME_DIR to a directory this user can write"
                    + " (e.g. /run/user/\(euid == 0 ? "UID" : String(euid))) or pass --root DIR")
        }
        return StateStore(root: runtimeDir + "/apus", fromRuntimeDir: true)
    }

    /// The config asks for cgroup limits: any resource but `devices`, which a rootless
    /// runtime cannot enforce (nor runc) and whose devices the container gets by bind mount.
    /// Returns the JSON path of the first one, for errors.
    public static func requestedLimit(_ resources: Spec.Linux.Resources?) -> String? {
        guard let r = resources else { return nil }
        let base = ".linux.resources."
        if r.memory != nil { return base + "memory" }
        if r.cpu != nil { return base + "cpu" }
        if r.pids != nil { return base + "pids" }
        if r.blockIO != nil { return base + "blockIO" }
        if r.hugepageLimits?.isEmpty == false { return base + "hugepageLimits" }
        if r.network != nil { return base + "network" }
        if r.rdma?.isEmpty == false { return base + "rdma" }
        if r.unified?.isEmpty == false { return base + "unified" }
        return nil
    }

    /// What `create` does about the container's cgroup.
    public enum CgroupChoice: Equatable, Sendable {
        /// Create it; any error is fatal (root, or `--rootless false`).
        case required
        /// Rootless, but cgroupsPath or limits ask for one: create it; a permission error is
        /// a warning when no limit needs it (`limit` nil), else an error naming `limit`.
        case bestEffort(limit: String?)
        /// Rootless and nothing asks for one: no cgroup.
        case skipped
    }

    public func cgroupChoice(cgroupsPath: String?, resources: Spec.Linux.Resources?) -> CgroupChoice {
        guard rootlessCgroups else { return .required }
        let limit = Self.requestedLimit(resources)
        if cgroupsPath == nil && limit == nil { return .skipped }
        return .bestEffort(limit: limit)
    }

    /// A cgroup error a rootless runtime may pass over when no limit needs the cgroup
    /// (runc's `isIgnorableError`): permission, or a read-only cgroupfs.
    public static func isPermissionError(_ code: Int32?) -> Bool {
        code == EPERM || code == EACCES || code == EROFS
    }
}
