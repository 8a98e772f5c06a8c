/// The spec's values as JSON trees without `Codable`, for the state record `create` writes:
/// encoding the config's process, hooks and seccomp profile through `Codable` made the Swift
/// runtime build a keyed container and its witness tables per type (0.15 ms of a create).
///
/// Each function gives what `JSONNode.encoding` gives for the same value (members in
/// declaration order, absent optionals left out), or nil when the value holds a field it does
/// not write (a process's scheduler, ...): the caller then encodes it through `Codable`.
/// Resources are not written here: a record holds them only after `update`, and their
/// writer was 8 KiB of the binary. StateFileTests compares both for every fixture.
public enum FastEncode {
    /// An object's members; `add` leaves out nil.
    public struct Object {
        public private(set) var members: [(key: String, value: JSONNode)] = []
        public init() {}
        public mutating func add(_ key: String, _ value: JSONNode?) {
            if let value { members.append((key, value)) }
        }
        public var node: JSONNode { .object(members) }
    }

    @inlinable
    public static func string(_ s: String?) -> JSONNode? { s.map { .string($0) } }

    @inlinable
    public static func bool(_ b: Bool?) -> JSONNode? { b.map { .bool($0) } }

    @inlinable
    public static func integer<T: BinaryInteger>(_ v: T?) -> JSONNode? { v.map { .number(String($0)) } }

    @inlinable
    public static func strings(_ list: [String]?) -> JSONNode? {
        list.map { l in .array(l.map { .string($0) }) }
    }

    /// A string map in the dictionary's own order, as `Dictionary`'s `Encodable` writes it.
    @inlinable
    public static func stringMap(_ map: [String: String]?) -> JSONNode? {
        guard let map else { return nil }
        var members: [(key: String, value: JSONNode)] = []
        members.reserveCapacity(map.count)
        for (key, value) in map { members.append((key, .string(value))) }
        return .object(members)
    }

    public static func process(_ p: Spec.Process) -> JSONNode? {
        guard p.commandLine == nil, p.scheduler == nil, p.ioPriority == nil, p.execCPUAffinity == nil else {
            return nil
        }
        var o = Object()
        o.add("terminal", bool(p.terminal))
        if let size = p.consoleSize {
            var s = Object()
            s.add("height", integer(size.height))
            s.add("width", integer(size.width))
            o.add("consoleSize", s.node)
        }
        var user = Object()
        user.add("uid", integer(p.user.uid))
        user.add("gid", integer(p.user.gid))
        user.add("umask", integer(p.user.umask))
        user.add("additionalGids", p.user.additionalGids.map { gids in .array(gids.map { .number(String($0)) }) })
        user.add("username", string(p.user.username))
        o.add("user", user.node)
        o.add("args", strings(p.args))
        o.add("env", strings(p.env))
        o.add("cwd", .string(p.cwd))
        if let caps = p.capabilities {
            var c = Object()
            c.add("bounding", strings(caps.bounding))
            c.add("effective", strings(caps.effective))
            c.add("inheritable", strings(caps.inheritable))
            c.add("permitted", strings(caps.permitted))
            c.add("ambient", strings(caps.ambient))
            o.add("capabilities", c.node)
        }
        if let rlimits = p.rlimits {
            o.add(
                "rlimits",
                .array(
                    rlimits.map { r in
                        var l = Object()
                        l.add("type", .string(r.type))
                        l.add("hard", integer(r.hard))
                        l.add("soft", integer(r.soft))
                        return l.node
                    }))
        }
        o.add("noNewPrivileges", bool(p.noNewPrivileges))
        o.add("apparmorProfile", string(p.apparmorProfile))
        o.add("oomScoreAdj", integer(p.oomScoreAdj))
        o.add("selinuxLabel", string(p.selinuxLabel))
        return o.node
    }

    public static func hooks(_ h: Spec.Hooks) -> JSONNode {
        func list(_ hooks: [Spec.Hook]?) -> JSONNode? {
            hooks.map { all in
                .array(
                    all.map { hook in
                        var o = Object()
                        o.add("path", .string(hook.path))
                        o.add("args", strings(hook.args))
                        o.add("env", strings(hook.env))
                        o.add("timeout", integer(hook.timeout))
                        return o.node
                    })
            }
        }
        var o = Object()
        o.add("prestart", list(h.prestart))
        o.add("createRuntime", list(h.createRuntime))
        o.add("createContainer", list(h.createContainer))
        o.add("startContainer", list(h.startContainer))
        o.add("poststart", list(h.poststart))
        o.add("poststop", list(h.poststop))
        return o.node
    }

    public static func seccomp(_ s: Spec.Linux.Seccomp) -> JSONNode {
        var o = Object()
        o.add("defaultAction", .string(s.defaultAction))
        o.add("defaultErrnoRet", integer(s.defaultErrnoRet))
        o.add("architectures", strings(s.architectures))
        o.add("flags", strings(s.flags))
        o.add("listenerPath", string(s.listenerPath))
        o.add("listenerMetadata", string(s.listenerMetadata))
        if let syscalls = s.syscalls {
            o.add(
                "syscalls",
                .array(
                    syscalls.map { call in
                        var c = Object()
                        c.add("names", strings(call.names))
                        c.add("action", .string(call.action))
                        c.add("errnoRet", integer(call.errnoRet))
                        if let args = call.args {
                            c.add(
                                "args",
                                .array(
                                    args.map { arg in
                                        var a = Object()
                                        a.add("index", integer(arg.index))
                                        a.add("value", integer(arg.value))
                                        a.add("valueTwo", integer(arg.valueTwo))
                                        a.add("op", .string(arg.op))
                                        return a.node
                                    }))
                        }
                        return c.node
                    }))
        }
        return o.node
    }
}
