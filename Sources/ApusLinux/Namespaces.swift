import CApus
import Glibc
import OCI

extension Spec.Linux.Namespace.Kind {
    /// The CLONE_NEW* flag of this namespace type.
    public var cloneFlag: Int32 {
        switch self {
        case .pid: return APUS_CLONE_NEWPID
        case .network: return APUS_CLONE_NEWNET
        case .mount: return APUS_CLONE_NEWNS
        case .ipc: return APUS_CLONE_NEWIPC
        case .uts: return APUS_CLONE_NEWUTS
        case .user: return APUS_CLONE_NEWUSER
        case .cgroup: return APUS_CLONE_NEWCGROUP
        case .time: return 0x80  // CLONE_NEWTIME (Linux 5.6), not in older headers
        }
    }

    /// The name of the namespace link under /proc/PID/ns.
    public var procName: String {
        switch self {
        case .pid: return "pid"
        case .network: return "net"
        case .mount: return "mnt"
        case .ipc: return "ipc"
        case .uts: return "uts"
        case .user: return "user"
        case .cgroup: return "cgroup"
        case .time: return "time"
        }
    }
}

/// How the init process gets its namespaces: which are created by clone flags,
/// which are created later by unshare (cgroup and time must come after the
/// cgroup join / offsets write), and which are joined from a path.
public struct NamespacePlan: Sendable {
    public var cloneFlags: Int32 = 0
    public var unshareCgroup = false
    public var unshareTime = false
    public var joins: [(kind: Spec.Linux.Namespace.Kind, path: String, index: Int)] = []
    public var newKinds: Set<Spec.Linux.Namespace.Kind> = []

    public init(_ namespaces: [Spec.Linux.Namespace]) {
        for (index, ns) in namespaces.enumerated() {
            if let path = ns.path, !path.isEmpty {
                joins.append((ns.type, path, index))
                continue
            }
            newKinds.insert(ns.type)
            switch ns.type {
            case .cgroup: unshareCgroup = true
            case .time: unshareTime = true
            default: cloneFlags |= ns.type.cloneFlag
            }
        }
        // The user namespace is joined first so the others are entered with
        // its capabilities; mount last so the namespace paths stay reachable.
        let order: [Spec.Linux.Namespace.Kind] = [.user, .ipc, .uts, .network, .pid, .cgroup, .time, .mount]
        joins.sort { a, b in
            (order.firstIndex(of: a.kind) ?? 0) < (order.firstIndex(of: b.kind) ?? 0)
        }
    }

    public func has(_ kind: Spec.Linux.Namespace.Kind) -> Bool {
        newKinds.contains(kind) || joins.contains { $0.kind == kind }
    }

    public var joinsUser: Bool { joins.contains { $0.kind == .user } }
}

/// Opens every namespace path up front (before any setns changes what paths mean); `held`
/// owns the descriptors.
public func openNamespaceFiles(_ plan: NamespacePlan, into held: inout OwnedFDs) throws(ApusError) -> [(
    kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int
)] {
    var fds: [(kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int)] = []
    for join in plan.joins {
        let fd = try OwnedFD.open(
            "open \(join.kind.rawValue) namespace \(join.path)", field: ".linux.namespaces[\(join.index)].path"
        ) { open(join.path, O_RDONLY | O_CLOEXEC) }
        fds.append((join.kind, held.hold(fd), join.index))
    }
    return fds
}

public func joinNamespace(kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int) throws(ApusError) {
    try sys("join \(kind.rawValue) namespace", field: ".linux.namespaces[\(index)].path") {
        apus_setns(fd, kind.cloneFlag)
    }
}

/// Facts about the user namespace this process runs in.
public enum UserNamespace {
    /// In a user namespace other than the initial one: the initial namespace's uid_map is
    /// the identity over every uid, `0 0 4294967295` (runc's `RunningInUserNS`). A missing
    /// file (no CONFIG_USER_NS) means the initial one.
    public static func isInsideUserNamespace() -> Bool {
        guard let bytes = FileIO.read("/proc/self/uid_map") else { return false }
        return isNested(uidMap: bytes)
    }

    public static func isNested(uidMap: String) -> Bool { isNested(uidMap: Array(uidMap.utf8)) }

    /// A byte scan: the file's fields, whitespace-separated, must be exactly `0 0 4294967295`.
    /// Splitting it into arrays of substrings cost every start about 20 µs of generic
    /// metadata and conformance lookups.
    public static func isNested(uidMap: [UInt8]) -> Bool {
        let identity = Array("0 0 4294967295".utf8)
        var matched = 0
        var inField = false
        for byte in uidMap {
            let space = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t")
            if space {
                inField = false
                continue
            }
            // A field after the previous one needs the single space of `identity` first.
            if !inField && matched > 0 {
                guard matched < identity.count, identity[matched] == UInt8(ascii: " ") else { return true }
                matched += 1
            }
            inField = true
            guard matched < identity.count, identity[matched] == byte else { return true }
            matched += 1
        }
        return matched != identity.count
    }
}
