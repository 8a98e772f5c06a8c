import Glibc

/// How the host mounts cgroups. Detected once per command from statfs(2) or
/// /proc/self/mountinfo; never guessed from the kernel version.
public enum CgroupLayoutKind: String, Codable, Sendable {
    /// Every controller on cgroup v1 hierarchies, no cgroup2 mount.
    case v1
    /// Pure cgroup v2 (the default of every current distribution).
    case unified
    /// v1 controllers plus a cgroup2 hierarchy (systemd's /sys/fs/cgroup/unified) that
    /// holds whatever controllers no v1 hierarchy took.
    case hybrid
}

public enum CgroupVersion: String, Codable, Sendable {
    case v1, v2
}

public struct CgroupLayout: Sendable, Equatable {
    public var kind: CgroupLayoutKind
    /// v1 controller (co-mounted ones each get an entry; `name=systemd` included) →
    /// mountpoint of its hierarchy.
    public var v1: [String: String]
    /// Mountpoint of the cgroup2 hierarchy, if any.
    public var unified: String?
    /// v1 mountpoints in mountinfo order: runc mounts the hierarchies into the
    /// container in this order, and `mount` inside shows it.
    public var v1Order: [String] = []

    public init(kind: CgroupLayoutKind, v1: [String: String] = [:], unified: String? = nil, v1Order: [String] = []) {
        self.kind = kind
        self.v1 = v1
        self.unified = unified
        self.v1Order = v1Order
    }

    /// The v1 controllers runc places a container in (its `subsystems` list), plus
    /// `misc`. Other named hierarchies (name=elogind…) are left alone, as runc does.
    static let v1Controllers: Set<String> = [
        "cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls", "net_prio",
        "perf_event", "hugetlb", "pids", "rdma", "misc", "name=systemd",
    ]

    static let cgroupRoot = "/sys/fs/cgroup"

    /// The host's layout. On a pure v2 host this is one access(2) (only the root of a
    /// cgroup2 mount has cgroup.controllers there, runc's own test); otherwise one read
    /// of /proc/self/mountinfo.
    public static func detect() throws(ApusError) -> CgroupLayout {
        if access(cgroupRoot + "/cgroup.controllers", F_OK) == 0 {
            return CgroupLayout(kind: .unified, unified: cgroupRoot)
        }
        guard let text = CgroupFS.read("/proc/self/mountinfo") else {
            throw ApusError.cgroup("read /proc/self/mountinfo", errno: errno)
        }
        return try parse(mountinfo: text)
    }

    /// Parses mountinfo(5) text: `id parent maj:min root mountpoint options [optional…] - fstype source superoptions`.
    public static func parse(mountinfo: String) throws(ApusError) -> CgroupLayout {
        var v1: [String: String] = [:]
        var cgroup2: [String] = []
        var order: [String] = []
        // Byte-wise, one line at a time, the fields of a line as ranges in one reused
        // array: only cgroup lines make strings (Strings for every field of every mount
        // were a tenth of a millisecond of each start).
        let bytes = Array(mountinfo.utf8)
        var fields: [Range<Int>] = []
        fields.reserveCapacity(16)
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            fields.removeAll(keepingCapacity: true)
            var fieldStart = lineStart
            for i in lineStart...lineEnd where i == lineEnd || bytes[i] == UInt8(ascii: " ") {
                if i > fieldStart { fields.append(fieldStart..<i) }
                fieldStart = i + 1
            }
            guard
                let dash = fields.firstIndex(where: { $0.count == 1 && bytes[$0.lowerBound] == UInt8(ascii: "-") }),
                dash >= 5, fields.count > dash + 3
            else { continue }
            let fstype = bytes[fields[dash + 1]]
            let isCgroup2 = fstype.elementsEqual("cgroup2".utf8)
            guard isCgroup2 || fstype.elementsEqual("cgroup".utf8) else { continue }
            let mountpoint = unescape(Substring(decoding: bytes[fields[4]], as: UTF8.self))
            if isCgroup2 {
                cgroup2.append(mountpoint)
                continue
            }
            for option in bytes[fields[dash + 3]].split(separator: UInt8(ascii: ",")) {
                let name = String(decoding: option, as: UTF8.self)
                guard v1Controllers.contains(name) else { continue }
                // A hierarchy can be mounted more than once (bind mounts, containers);
                // the one under /sys/fs/cgroup is the canonical one.
                if let existing = v1[name],
                    existing.hasPrefix(cgroupRoot + "/") || !mountpoint.hasPrefix(cgroupRoot + "/")
                {
                    continue
                }
                v1[name] = mountpoint
                if !order.contains(mountpoint) { order.append(mountpoint) }
            }
        }
        let unified =
            cgroup2.first { $0 == cgroupRoot } ?? cgroup2.first { $0 == cgroupRoot + "/unified" } ?? cgroup2.first
        if v1.isEmpty {
            guard let unified else {
                throw ApusError.cgroup("detect cgroup layout", detail: "no cgroup or cgroup2 filesystem is mounted")
            }
            return CgroupLayout(kind: .unified, unified: unified)
        }
        if unified == cgroupRoot {
            // cgroup2 owns /sys/fs/cgroup: stray v1 mounts elsewhere do not make a hybrid.
            return CgroupLayout(kind: .unified, unified: unified)
        }
        return CgroupLayout(kind: unified == nil ? .v1 : .hybrid, v1: v1, unified: unified, v1Order: order)
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ field: Substring) -> String {
        guard field.utf8.contains(UInt8(ascii: "\\")) else { return String(field) }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count {
                let digits = utf8[(i + 1)...(i + 3)]
                if digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) {
                    let value = digits.reduce(0) { $0 * 8 + Int($1 - UInt8(ascii: "0")) }
                    bytes.append(UInt8(truncatingIfNeeded: value))
                    i += 4
                    continue
                }
            }
            bytes.append(utf8[i])
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
