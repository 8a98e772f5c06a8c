import ApusLinux
import CRIU
import Glibc
import OCI

/// What checkpoint and restore tell CRIU about a container, derived from its config the
/// same way at both ends (runc's rules): which of its mounts come from outside (external
/// mounts: CRIU cannot dump a bind of a host directory, nor a v1 cgroup mount), which
/// namespaces it joined, the per-container criu config file.
struct CRIUPlan {
    /// ext_mnt: mount point in the container → its host source. A dump sends the key for
    /// both; a restore sends the source found now (the new container's cgroup).
    var externalMounts: [(destination: String, source: String)] = []
    /// Namespaces the container joined (`path` in config.json): network and pid.
    var joinedNamespaces: [(kind: Spec.Linux.Namespace.Kind, path: String, tag: String)] = []

    init(spec: Spec, bundle: String, cgroup: CgroupManager?) {
        let view = cgroup?.mountView
        for mount in spec.mounts ?? [] {
            let type = mount.type ?? ""
            let destination = Self.clean(mount.destination)
            if type == "bind" || parseMountOptions(mount.options ?? []).isBind {
                var source = mount.source ?? ""
                if !source.hasPrefix("/") { source = bundle + "/" + source }
                externalMounts.append((destination, source))
            } else if type == "cgroup" || type == "cgroup2", let view {
                // apus mounts a v1 hierarchy per directory under the destination, each a bind
                // of the container's own cgroup there; v2 is one bind of its directory.
                if let unified = view.unified {
                    externalMounts.append((destination, unified))
                }
                for hierarchy in view.v1 {
                    externalMounts.append((destination + "/" + hierarchy.name, hierarchy.hostDirectory))
                }
            }
        }
        for namespace in spec.linux?.namespaces ?? [] {
            guard let path = namespace.path, !path.isEmpty else { continue }
            switch namespace.type {
            case .network: joinedNamespaces.append((.network, path, "extRootNetNS"))
            case .pid: joinedNamespaces.append((.pid, path, "extRootPidNS"))
            default: continue
            }
        }
    }

    /// Device nodes bound in from the host's /dev (a container with a user namespace may not
    /// mknod; masked files are binds of the host's /dev/null there) as criu sees them at a
    /// dump: the mount point in the container and, as its external id, the host path
    /// (`/dev` + the mount's root in devtmpfs). Read from the container's mountinfo.
    static func hostDeviceMounts(pid: Int32) -> [(destination: String, id: String)] {
        guard let text = FileIO.readString("/proc/\(pid)/mountinfo") else { return [] }
        var found: [(destination: String, id: String)] = []
        for line in FileIO.lines(text) {
            let halves = line.split(separatorText: " - ", maxSplits: 1)
            guard halves.count == 2, halves[1].hasPrefix("devtmpfs ") else { continue }
            let fields = halves[0].split(separator: " ")
            guard fields.count >= 5 else { continue }
            let root = Self.unescape(fields[3])
            guard root != "/" else { continue }
            found.append((Self.unescape(fields[4]), "/dev" + root))
        }
        return found
    }

    /// The same binds for a restore, from config.json: the default devices, linux.devices
    /// and /dev/null (masked files), each its own host path. criu uses the ones its image
    /// names and passes over the rest.
    static func hostDeviceSources(_ spec: Spec) -> [(destination: String, source: String)] {
        var paths = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]
        for device in spec.linux?.devices ?? [] where !paths.contains(device.path) { paths.append(device.path) }
        return paths.map { ($0, $0) }
    }

    /// mountinfo's octal escapes (`\040` for a space).
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var index = field.utf8.startIndex
        let utf8 = field.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            let end = utf8.index(index, offsetBy: 4, limitedBy: utf8.endIndex) ?? utf8.endIndex
            if byte == UInt8(ascii: "\\"), utf8.distance(from: index, to: end) == 4,
                let value = UInt8(String(decoding: utf8[utf8.index(after: index)..<end], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index = end
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func clean(_ path: String) -> String {
        "/" + path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// `--external net[INODE]:extRootNetNS` for a dump: the joined namespaces are not the
    /// container's to save; a restore hands them back through inherit_fd under that tag.
    func externalNamespaces() throws -> [String] {
        try joinedNamespaces.map { joined in
            var st = stat()
            guard stat(joined.path, &st) == 0 else {
                throw ApusError("stat \(joined.kind.rawValue) namespace \(joined.path)", errno: errno)
            }
            let prefix = joined.kind == .network ? "net" : "pid"
            return "\(prefix)[\(st.st_ino)]:\(joined.tag)"
        }
    }

    /// CRIU options of the container's own (runc's rule): the `org.criu.config` annotation
    /// names a criu config file (an empty value: none); without it /etc/criu/apus.conf
    /// when it exists.
    static func configFile(annotations: [String: String]?) -> String? {
        if let named = annotations?["org.criu.config"] { return named.isEmpty ? nil : named }
        let fallback = "/etc/criu/apus.conf"
        return FileIO.exists(fallback) ? fallback : nil
    }

    /// CLONE_NEW* bits of `--empty-ns` values (runc takes "network").
    static func emptyNamespaceBits(_ names: [String]) throws -> UInt32? {
        var bits: UInt32 = 0
        for name in names {
            switch name {
            case "network", "net": bits |= 0x4000_0000  // CLONE_NEWNET
            default:
                throw ApusError("--empty-ns \(name)", detail: "only network may be left empty (runc's rule)")
            }
        }
        return bits == 0 ? nil : bits
    }

    static func cgroupMode(_ text: String?) throws -> CgroupMode? {
        guard let text else { return nil }
        guard let mode = CgroupMode(flag: text) else {
            throw ApusError("--manage-cgroups-mode \(text)", detail: "use soft, full, strict or ignore")
        }
        return mode
    }
}

/// A directory criu reads or writes, opened for it (criu opens /proc/<apus>/fd/N).
func openDirectory(_ path: String, purpose: String) throws -> OwnedFD {
    try OwnedFD.open("open \(purpose) \(path)") { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
}

/// criu's failure as one line: its message, errno, and the last errors of its log.
func criuFailure(_ step: String, response: Response, log: String) -> ApusError {
    var parts: [String] = []
    // "Can't setup RLIMIT_NOFILE" is logged as an error on every run here, success included.
    if let message = response.errorMessage, !message.isEmpty, !message.contains(substring: "RLIMIT_NOFILE") {
        parts.append(String(message.split(separator: "\n").first ?? ""))
    }
    if let code = response.errno, code != 0 { parts.append(errorString(code)) }
    let tail = lastErrors(inLog: log)
    if !tail.isEmpty { parts.append("\(log): \(tail)") }
    return ApusError(step, detail: parts.isEmpty ? "criu failed (see \(log))" : parts.joined(separator: "; "))
}

/// Whether checkpoint/restore works on this host, for `features` and `info`: criu found
/// (--criu or $PATH), its version, and what this kernel lacks for pre-dump.
public struct CheckpointSupport: Sendable {
    public var available: Bool
    public var criu: String?
    public var version: String?
    public var preDump: Bool?
    /// One line: "criu 4.2 (/path)" or why not.
    public var summary: String

    /// `thorough` also runs criu's own check of this kernel (`criu check`, ~0.1 s).
    public static func probe(criu explicit: String?, thorough: Bool = false) -> CheckpointSupport {
        let binary: Binary
        do {
            binary = try Binary.find(explicit: explicit)
        } catch {
            return CheckpointSupport(available: false, summary: "no: \(error)")
        }
        let version: CRIU.Version
        do {
            version = try binary.checkedVersion()
        } catch {
            return CheckpointSupport(available: false, criu: binary.path, summary: "no: \(error)")
        }
        if thorough {
            let failed: String?
            do { failed = try binary.check() } catch { failed = "\(error)" }
            if let failed {
                let line = failed.split(separator: "\n").first.map(String.init) ?? failed
                return CheckpointSupport(
                    available: false, criu: binary.path, version: version.description,
                    summary: "no: criu \(version) (\(binary.path)) fails its check of this kernel: \(line)")
            }
        }
        let tracking = (try? binary.features(memTrack: true, lazyPages: false))?.memTrack
        var summary = "yes: criu \(version) (\(binary.path))"
        if tracking != true { summary += "; no pre-dump or --parent-path (kernel without soft-dirty tracking)" }
        return CheckpointSupport(
            available: true, criu: binary.path, version: version.description, preDump: tracking, summary: summary)
    }
}
