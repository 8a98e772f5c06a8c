/// config.json without `Codable`, for the fields real configs carry: what `runc spec`,
/// podman, Docker and containerd write. Decoding through `Codable` makes the Swift runtime
/// build a keyed-container box and its witness tables for every type at run time, which was
/// most of the 0.3 ms a `run` spent decoding the default config (the JSON parse is 0.05).
///
/// Strict by design: any key this file does not handle, any value of another JSON type, a
/// number that is not a plain integer in range, or a missing required field gives up on the
/// whole document, and `Spec.decode` decodes it through `Codable` instead, which also writes
/// every error message. So a field is never dropped here: it is handled, or the slow path
/// runs. FastDecodeTests decodes every fixture both ways and expects the same `Spec`.
public enum FastDecode {
    public struct GiveUp: Error {
        public init() {}
    }
    public typealias Members = [(key: String, value: JSONNode)]

    static func spec(_ node: JSONNode) -> Spec? {
        try? decodeSpec(node)
    }

    // MARK: - JSON values

    @inlinable
    public static func object(_ node: JSONNode) throws(GiveUp) -> Members {
        guard case .object(let members) = node else { throw GiveUp() }
        return members
    }

    @inlinable
    public static func string(_ node: JSONNode) throws(GiveUp) -> String {
        guard case .string(let s) = node else { throw GiveUp() }
        return s
    }

    @inlinable
    public static func bool(_ node: JSONNode) throws(GiveUp) -> Bool {
        guard case .bool(let b) = node else { throw GiveUp() }
        return b
    }

    @inlinable
    public static func integer<T: FixedWidthInteger>(_ node: JSONNode, _ type: T.Type) throws(GiveUp) -> T {
        guard case .number(let text) = node, let value = T(text) else { throw GiveUp() }
        return value
    }

    @inlinable
    public static func array<T>(_ node: JSONNode, _ element: (JSONNode) throws(GiveUp) -> T) throws(GiveUp) -> [T] {
        guard case .array(let items) = node else { throw GiveUp() }
        var out: [T] = []
        out.reserveCapacity(items.count)
        for item in items { out.append(try element(item)) }
        return out
    }

    @inlinable
    public static func strings(_ node: JSONNode) throws(GiveUp) -> [String] { try array(node, string) }

    /// A string-to-string object; a duplicate key keeps its last value.
    @inlinable
    public static func stringMap(_ node: JSONNode) throws(GiveUp) -> [String: String] {
        var map: [String: String] = [:]
        for member in try object(node) { map[member.key] = try string(member.value) }
        return map
    }

    /// An optional field: JSON null is absent.
    @inlinable
    public static func optional<T>(_ node: JSONNode, _ value: (JSONNode) throws(GiveUp) -> T) throws(GiveUp) -> T? {
        if case .null = node { return nil }
        return try value(node)
    }

    @inlinable
    public static func required<T>(_ value: T?) throws(GiveUp) -> T {
        guard let value else { throw GiveUp() }
        return value
    }

    // MARK: - config.json

    static func decodeSpec(_ node: JSONNode) throws(GiveUp) -> Spec {
        var ociVersion: String?
        var spec = Spec(ociVersion: "")
        for (key, value) in try object(node) {
            switch key {
            case "ociVersion": ociVersion = try string(value)
            case "process": spec.process = try optional(value, process)
            case "root": spec.root = try optional(value, root)
            case "hostname": spec.hostname = try optional(value, string)
            case "domainname": spec.domainname = try optional(value, string)
            case "mounts": spec.mounts = try optional(value) { v throws(GiveUp) in try array(v, mount) }
            case "hooks": spec.hooks = try optional(value, hooks)
            case "annotations": spec.annotations = try optional(value, stringMap)
            case "linux": spec.linux = try optional(value, linux)
            default: throw GiveUp()
            }
        }
        spec.ociVersion = try required(ociVersion)
        return spec
    }

    public static func process(_ node: JSONNode) throws(GiveUp) -> Spec.Process {
        var p = Spec.Process()
        var user: Spec.User?
        var cwd: String?
        for (key, value) in try object(node) {
            switch key {
            case "terminal": p.terminal = try optional(value, bool)
            case "consoleSize": p.consoleSize = try optional(value, consoleSize)
            case "user": user = try self.user(value)
            case "args": p.args = try optional(value, strings)
            case "env": p.env = try optional(value, strings)
            case "cwd": cwd = try string(value)
            case "capabilities": p.capabilities = try optional(value, capabilities)
            case "rlimits": p.rlimits = try optional(value) { v throws(GiveUp) in try array(v, rlimit) }
            case "noNewPrivileges": p.noNewPrivileges = try optional(value, bool)
            case "apparmorProfile": p.apparmorProfile = try optional(value, string)
            case "oomScoreAdj": p.oomScoreAdj = try optional(value) { v throws(GiveUp) in try integer(v, Int.self) }
            case "selinuxLabel": p.selinuxLabel = try optional(value, string)
            default: throw GiveUp()
            }
        }
        p.user = try required(user)
        p.cwd = try required(cwd)
        return p
    }

    static func consoleSize(_ node: JSONNode) throws(GiveUp) -> Spec.Process.ConsoleSize {
        var height: UInt?
        var width: UInt?
        for (key, value) in try object(node) {
            switch key {
            case "height": height = try integer(value, UInt.self)
            case "width": width = try integer(value, UInt.self)
            default: throw GiveUp()
            }
        }
        return Spec.Process.ConsoleSize(height: try required(height), width: try required(width))
    }

    static func user(_ node: JSONNode) throws(GiveUp) -> Spec.User {
        var uid: UInt32?
        var gid: UInt32?
        var umask: UInt32?
        var additionalGids: [UInt32]?
        var username: String?
        for (key, value) in try object(node) {
            switch key {
            case "uid": uid = try integer(value, UInt32.self)
            case "gid": gid = try integer(value, UInt32.self)
            case "umask": umask = try optional(value) { v throws(GiveUp) in try integer(v, UInt32.self) }
            case "additionalGids":
                additionalGids = try optional(value) { v throws(GiveUp) in
                    try array(v) { e throws(GiveUp) in try integer(e, UInt32.self) }
                }
            case "username": username = try optional(value, string)
            default: throw GiveUp()
            }
        }
        return Spec.User(
            uid: try required(uid), gid: try required(gid), umask: umask, additionalGids: additionalGids,
            username: username)
    }

    static func capabilities(_ node: JSONNode) throws(GiveUp) -> Spec.Process.Capabilities {
        var c = Spec.Process.Capabilities()
        for (key, value) in try object(node) {
            switch key {
            case "bounding": c.bounding = try optional(value, strings)
            case "effective": c.effective = try optional(value, strings)
            case "inheritable": c.inheritable = try optional(value, strings)
            case "permitted": c.permitted = try optional(value, strings)
            case "ambient": c.ambient = try optional(value, strings)
            default: throw GiveUp()
            }
        }
        return c
    }

    static func rlimit(_ node: JSONNode) throws(GiveUp) -> Spec.Process.Rlimit {
        var type: String?
        var hard: UInt64?
        var soft: UInt64?
        for (key, value) in try object(node) {
            switch key {
            case "type": type = try string(value)
            case "hard": hard = try integer(value, UInt64.self)
            case "soft": soft = try integer(value, UInt64.self)
            default: throw GiveUp()
            }
        }
        return Spec.Process.Rlimit(type: try required(type), hard: try required(hard), soft: try required(soft))
    }

    static func root(_ node: JSONNode) throws(GiveUp) -> Spec.Root {
        var path: String?
        var readonly: Bool?
        for (key, value) in try object(node) {
            switch key {
            case "path": path = try string(value)
            case "readonly": readonly = try optional(value, bool)
            default: throw GiveUp()
            }
        }
        return Spec.Root(path: try required(path), readonly: readonly)
    }

    static func mount(_ node: JSONNode) throws(GiveUp) -> Spec.Mount {
        var destination: String?
        var m = Spec.Mount(destination: "")
        for (key, value) in try object(node) {
            switch key {
            case "destination": destination = try string(value)
            case "type": m.type = try optional(value, string)
            case "source": m.source = try optional(value, string)
            case "options": m.options = try optional(value, strings)
            case "uidMappings": m.uidMappings = try optional(value) { v throws(GiveUp) in try array(v, idMapping) }
            case "gidMappings": m.gidMappings = try optional(value) { v throws(GiveUp) in try array(v, idMapping) }
            default: throw GiveUp()
            }
        }
        m.destination = try required(destination)
        return m
    }

    public static func hooks(_ node: JSONNode) throws(GiveUp) -> Spec.Hooks {
        var h = Spec.Hooks()
        for (key, value) in try object(node) {
            let list = try optional(value) { v throws(GiveUp) in try array(v, hook) }
            switch key {
            case "prestart": h.prestart = list
            case "createRuntime": h.createRuntime = list
            case "createContainer": h.createContainer = list
            case "startContainer": h.startContainer = list
            case "poststart": h.poststart = list
            case "poststop": h.poststop = list
            default: throw GiveUp()
            }
        }
        return h
    }

    static func hook(_ node: JSONNode) throws(GiveUp) -> Spec.Hook {
        var path: String?
        var h = Spec.Hook(path: "")
        for (key, value) in try object(node) {
            switch key {
            case "path": path = try string(value)
            case "args": h.args = try optional(value, strings)
            case "env": h.env = try optional(value, strings)
            case "timeout": h.timeout = try optional(value) { v throws(GiveUp) in try integer(v, Int.self) }
            default: throw GiveUp()
            }
        }
        h.path = try required(path)
        return h
    }

    // MARK: - linux

    static func linux(_ node: JSONNode) throws(GiveUp) -> Spec.Linux {
        var l = Spec.Linux()
        for (key, value) in try object(node) {
            switch key {
            case "uidMappings": l.uidMappings = try optional(value) { v throws(GiveUp) in try array(v, idMapping) }
            case "gidMappings": l.gidMappings = try optional(value) { v throws(GiveUp) in try array(v, idMapping) }
            case "sysctl": l.sysctl = try optional(value, stringMap)
            case "resources": l.resources = try optional(value, resources)
            case "cgroupsPath": l.cgroupsPath = try optional(value, string)
            case "namespaces": l.namespaces = try optional(value) { v throws(GiveUp) in try array(v, namespace) }
            case "devices": l.devices = try optional(value) { v throws(GiveUp) in try array(v, device) }
            case "seccomp": l.seccomp = try optional(value, seccomp)
            case "rootfsPropagation": l.rootfsPropagation = try optional(value, string)
            case "maskedPaths": l.maskedPaths = try optional(value, strings)
            case "readonlyPaths": l.readonlyPaths = try optional(value, strings)
            case "mountLabel": l.mountLabel = try optional(value, string)
            default: throw GiveUp()
            }
        }
        return l
    }

    static func idMapping(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.IDMapping {
        var containerID: UInt32?
        var hostID: UInt32?
        var size: UInt32?
        for (key, value) in try object(node) {
            switch key {
            case "containerID": containerID = try integer(value, UInt32.self)
            case "hostID": hostID = try integer(value, UInt32.self)
            case "size": size = try integer(value, UInt32.self)
            default: throw GiveUp()
            }
        }
        return Spec.Linux.IDMapping(
            containerID: try required(containerID), hostID: try required(hostID), size: try required(size))
    }

    static func namespace(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Namespace {
        var type: Spec.Linux.Namespace.Kind?
        var path: String?
        for (key, value) in try object(node) {
            switch key {
            case "type": type = Spec.Linux.Namespace.Kind(rawValue: try string(value))
            case "path": path = try optional(value, string)
            default: throw GiveUp()
            }
        }
        return Spec.Linux.Namespace(type: try required(type), path: path)
    }

    static func device(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Device {
        var type: String?
        var path: String?
        var d = Spec.Linux.Device(type: "", path: "")
        for (key, value) in try object(node) {
            switch key {
            case "type": type = try string(value)
            case "path": path = try string(value)
            case "major": d.major = try optional(value) { v throws(GiveUp) in try integer(v, Int64.self) }
            case "minor": d.minor = try optional(value) { v throws(GiveUp) in try integer(v, Int64.self) }
            case "fileMode": d.fileMode = try optional(value) { v throws(GiveUp) in try integer(v, UInt32.self) }
            case "uid": d.uid = try optional(value) { v throws(GiveUp) in try integer(v, UInt32.self) }
            case "gid": d.gid = try optional(value) { v throws(GiveUp) in try integer(v, UInt32.self) }
            default: throw GiveUp()
            }
        }
        d.type = try required(type)
        d.path = try required(path)
        return d
    }

    public static func resources(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Resources {
        var r = Spec.Linux.Resources()
        for (key, value) in try object(node) {
            switch key {
            case "devices": r.devices = try optional(value) { v throws(GiveUp) in try array(v, deviceRule) }
            case "memory": r.memory = try optional(value, memory)
            case "cpu": r.cpu = try optional(value, cpu)
            case "pids": r.pids = try optional(value, pids)
            case "unified": r.unified = try optional(value, stringMap)
            default: throw GiveUp()
            }
        }
        return r
    }

    static func deviceRule(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Resources.DeviceCgroup {
        var allow: Bool?
        var d = Spec.Linux.Resources.DeviceCgroup(allow: false)
        for (key, value) in try object(node) {
            switch key {
            case "allow": allow = try bool(value)
            case "type": d.type = try optional(value, string)
            case "major": d.major = try optional(value) { v throws(GiveUp) in try integer(v, Int64.self) }
            case "minor": d.minor = try optional(value) { v throws(GiveUp) in try integer(v, Int64.self) }
            case "access": d.access = try optional(value, string)
            default: throw GiveUp()
            }
        }
        d.allow = try required(allow)
        return d
    }

    static func memory(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Resources.Memory {
        var m = Spec.Linux.Resources.Memory()
        func int64(_ v: JSONNode) throws(GiveUp) -> Int64? {
            try optional(v) { n throws(GiveUp) in try integer(n, Int64.self) }
        }
        for (key, value) in try object(node) {
            switch key {
            case "limit": m.limit = try int64(value)
            case "reservation": m.reservation = try int64(value)
            case "swap": m.swap = try int64(value)
            case "kernel": m.kernel = try int64(value)
            case "kernelTCP": m.kernelTCP = try int64(value)
            case "swappiness": m.swappiness = try optional(value) { v throws(GiveUp) in try integer(v, UInt64.self) }
            case "disableOOMKiller": m.disableOOMKiller = try optional(value, bool)
            case "useHierarchy": m.useHierarchy = try optional(value, bool)
            case "checkBeforeUpdate": m.checkBeforeUpdate = try optional(value, bool)
            default: throw GiveUp()
            }
        }
        return m
    }

    static func cpu(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Resources.CPU {
        var c = Spec.Linux.Resources.CPU()
        func int64(_ v: JSONNode) throws(GiveUp) -> Int64? {
            try optional(v) { n throws(GiveUp) in try integer(n, Int64.self) }
        }
        func uint64(_ v: JSONNode) throws(GiveUp) -> UInt64? {
            try optional(v) { n throws(GiveUp) in try integer(n, UInt64.self) }
        }
        for (key, value) in try object(node) {
            switch key {
            case "shares": c.shares = try uint64(value)
            case "quota": c.quota = try int64(value)
            case "burst": c.burst = try uint64(value)
            case "period": c.period = try uint64(value)
            case "realtimeRuntime": c.realtimeRuntime = try int64(value)
            case "realtimePeriod": c.realtimePeriod = try uint64(value)
            case "cpus": c.cpus = try optional(value, string)
            case "mems": c.mems = try optional(value, string)
            case "idle": c.idle = try int64(value)
            default: throw GiveUp()
            }
        }
        return c
    }

    static func pids(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Resources.Pids {
        var limit: Int64?
        for (key, value) in try object(node) {
            switch key {
            case "limit": limit = try integer(value, Int64.self)
            default: throw GiveUp()
            }
        }
        return Spec.Linux.Resources.Pids(limit: try required(limit))
    }

    public static func seccomp(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Seccomp {
        var defaultAction: String?
        var s = Spec.Linux.Seccomp(defaultAction: "")
        for (key, value) in try object(node) {
            switch key {
            case "defaultAction": defaultAction = try string(value)
            case "defaultErrnoRet":
                s.defaultErrnoRet = try optional(value) { v throws(GiveUp) in try integer(v, UInt32.self) }
            case "architectures": s.architectures = try optional(value, strings)
            case "flags": s.flags = try optional(value, strings)
            case "listenerPath": s.listenerPath = try optional(value, string)
            case "listenerMetadata": s.listenerMetadata = try optional(value, string)
            case "syscalls": s.syscalls = try optional(value) { v throws(GiveUp) in try array(v, syscall) }
            default: throw GiveUp()
            }
        }
        s.defaultAction = try required(defaultAction)
        return s
    }

    static func syscall(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Seccomp.Syscall {
        var names: [String]?
        var action: String?
        var s = Spec.Linux.Seccomp.Syscall(names: [], action: "")
        for (key, value) in try object(node) {
            switch key {
            case "names": names = try strings(value)
            case "action": action = try string(value)
            case "errnoRet": s.errnoRet = try optional(value) { v throws(GiveUp) in try integer(v, UInt32.self) }
            case "args": s.args = try optional(value) { v throws(GiveUp) in try array(v, argument) }
            default: throw GiveUp()
            }
        }
        s.names = try required(names)
        s.action = try required(action)
        return s
    }

    static func argument(_ node: JSONNode) throws(GiveUp) -> Spec.Linux.Seccomp.Arg {
        var index: UInt?
        var value: UInt64?
        var valueTwo: UInt64?
        var op: String?
        for (key, member) in try object(node) {
            switch key {
            case "index": index = try integer(member, UInt.self)
            case "value": value = try integer(member, UInt64.self)
            case "valueTwo": valueTwo = try optional(member) { v throws(GiveUp) in try integer(v, UInt64.self) }
            case "op": op = try string(member)
            default: throw GiveUp()
            }
        }
        return Spec.Linux.Seccomp.Arg(
            index: try required(index), value: try required(value), valueTwo: valueTwo, op: try required(op))
    }
}
