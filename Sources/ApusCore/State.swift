import ApusLinux
import Glibc
import OCI

/// The OCI status of a container, derived from the kernel each time it is asked.
public enum Status: String, Codable, Sendable {
    case creating, created, running, paused, stopped
}

/// What apus keeps in `<root>/<id>/state.json` between commands. Everything
/// that can change (status) is derived, never stored (design rule 6).
public struct ContainerRecord: Codable, Sendable {
    public var id: String
    public var pid: Int32
    /// Start time of the init process (field 22 of /proc/PID/stat), so a reused
    /// pid is never mistaken for the container.
    public var pidStartTime: UInt64
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var annotations: [String: String]?
    public var ociVersion: String
    public var cgroup: CgroupManager?
    /// The systemd unit that owns `cgroup` (`--systemd-cgroup`); nil with cgroupfs.
    public var systemd: SystemdUnit? = nil
    public var hooks: Spec.Hooks?
    /// The container has its own pid namespace: killing init kills everything.
    public var ownPidNamespace: Bool
    public var rootless: Bool
    /// The kinds of namespace init made at create (not joined by path): exec joins these
    /// without comparing them with its own.
    public var namespaceKinds: [String]?
    /// The config's process, seccomp profile and user-namespace facts, written once at
    /// create: `exec` starts from them (runc keeps the whole config for the same reason).
    public var process: Spec.Process? = nil
    public var seccomp: Spec.Linux.Seccomp? = nil
    /// linux.memoryPolicy: an exec'd process gets it too (runc 1.5.1 does).
    public var memoryPolicy: Spec.Linux.MemoryPolicy? = nil
    /// The resources as last set by `update` (nil until then: config.json has them).
    public var resources: Spec.Linux.Resources? = nil
    /// A process that may hold CAP_SYS_PTRACE has entered the pid namespace of init since
    /// create (another container joined it, or an exec with CAP_SYS_PTRACE): every exec
    /// re-executes from a sealed copy of apus (CVE-2019-5736). Set by that create or exec
    /// (`RuntimeBinary.admitPtrace`), never cleared.
    public var pidNamespaceShared: Bool? = nil
}

/// The state directory of one container, holding state.json, the exec fifo and
/// the lock that serialises commands on the same id.
public struct StateStore: Sendable {
    public let root: String
    /// The root is `$XDG_RUNTIME_DIR/apus` (`Privilege.stateRoot`): errors creating it say so.
    public let fromRuntimeDir: Bool

    public init(root: String, fromRuntimeDir: Bool = false) {
        self.root = root
        self.fromRuntimeDir = fromRuntimeDir
    }

    public func directory(_ id: String) -> String { root + "/" + id }
    public func statePath(_ id: String) -> String { root + "/" + id + "/state.json" }
    public func fifoPath(_ id: String) -> String { root + "/" + id + "/exec.fifo" }
    /// create's record before init is committed (`saveCreating`); renamed to state.json.
    public func creatingPath(_ id: String) -> String { root + "/" + id + "/state.json.creating" }

    /// Container ids as runc accepts them: non-empty, letters, digits and `_+-.`,
    /// not "." or "..", so an id can never name a path outside the root.
    public static func validate(id: String) throws(ApusError) {
        if id.isEmpty { throw ApusError("container id cannot be empty") }
        if id == "." || id == ".." { throw ApusError("invalid container id \"\(id)\"") }
        if id.utf8.count > 1024 { throw ApusError("invalid container id: longer than 1024 bytes") }
        for c in id.utf8 {
            let ok =
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == 0x5F || c == 0x2B || c == 0x2D || c == 0x2E
            if !ok {
                throw ApusError("invalid container id \"\(id)\": only [a-zA-Z0-9_+.-] are allowed")
            }
        }
    }

    public func ensureRoot() throws(ApusError) {
        if mkdir(root, 0o700) == 0 {
            // The XDG base directory spec lets a session manager prune files of
            // XDG_RUNTIME_DIR that lack the sticky bit (runc sets it too).
            if fromRuntimeDir { chmod(root, 0o700 | S_ISVTX) }
            return
        }
        if errno == EEXIST { return }
        if fromRuntimeDir {
            let code = errno
            throw ApusError(
                "create state root \(root): \(errorString(code)): the directory in XDG_RUNTIME_DIR must exist and be "
                    + "writable by this user (set XDG_RUNTIME_DIR to one that is, or pass --root DIR)")
        }
        do {
            try FileIO.makeDirectories(root, mode: 0o700)
        } catch {
            throw ApusError("create state root \(root)", cause: error)
        }
    }

    /// Claims the id: mkdir is atomic, so of two concurrent creates exactly one wins.
    public func claim(_ id: String) throws(ApusError) -> ContainerLock {
        // The root usually exists: it is made only when the first mkdir says it is missing.
        var made = mkdir(directory(id), 0o711)
        if made < 0 && errno == ENOENT {
            try ensureRoot()
            made = mkdir(directory(id), 0o711)
        }
        if made < 0 {
            let code = errno
            if code == EEXIST { throw ApusError("container \"\(id)\" already exists") }
            if fromRuntimeDir && (code == EACCES || code == EPERM || code == EROFS) {
                // e.g. XDG_RUNTIME_DIR=/run: $XDG_RUNTIME_DIR/apus exists and is root's.
                throw ApusError(
                    "create state directory \(directory(id)): \(errorString(code)): \(root) (from XDG_RUNTIME_DIR) "
                        + "is not writable by this user: set XDG_RUNTIME_DIR to a directory this user owns "
                        + "(e.g. /run/user/\(geteuid())) or pass --root DIR")
            }
            throw ApusError("create state directory \(directory(id))", errno: code)
        }
        return try lock(id, exclusive: true)
    }

    /// flock on the container's directory: commands on one id run one at a time.
    public func lock(_ id: String, exclusive: Bool) throws(ApusError) -> ContainerLock {
        guard let fd = OwnedFD.opening({ open(directory(id), O_RDONLY | OpenFlags.directory | O_CLOEXEC) }) else {
            if errno == ENOENT { throw ApusError("container \"\(id)\" does not exist") }
            throw ApusError("open state directory \(directory(id))", errno: errno)
        }
        if retryingEINTR({ flock(fd.raw, exclusive ? LOCK_EX : LOCK_SH) }) < 0 {
            throw ApusError("lock container \"\(id)\"", errno: errno)
        }
        return ContainerLock(fd)
    }

    public func load(_ id: String) throws(ApusError) -> ContainerRecord {
        // Before its commit a create's record is state.json.creating; the commit renames
        // it, so a reader that misses both between its two reads tries state.json again.
        guard let bytes = FileIO.read(statePath(id)) ?? readCreating(id) else {
            if errno == ENOENT {
                if !FileIO.exists(directory(id)) { throw ApusError("container \"\(id)\" does not exist") }
                throw ApusError(
                    "container \"\(id)\" has no state: its create did not finish (`delete --force \(id)` removes it)")
            }
            throw ApusError("read \(statePath(id))", errno: errno)
        }
        do {
            let tree = try TreeJSON.parse(bytes)
            return try FastRecord.decode(tree) ?? TreeJSON.decode(ContainerRecord.self, tree: tree)
        } catch {
            throw ApusError("read \(statePath(id)): corrupt state", cause: error)
        }
    }

    /// Sets `pidNamespaceShared` in the state of `id` if it is still the container whose
    /// init is `pid`. A container deleted meanwhile is left alone: `delete` renames the
    /// directory away under the lock, so the locked directory is checked to be the one
    /// at the path, which nothing but the lock holder can then rename.
    func markPidNamespaceShared(_ id: String, pid: Int32, startTime: UInt64) throws(ApusError) {
        let lock: ContainerLock
        do {
            lock = try self.lock(id, exclusive: true)
        } catch {
            if !FileIO.exists(directory(id)) { return }
            throw error
        }
        defer { lock.release() }
        guard let locked = FileIdentity(fd: lock.fd), FileIdentity(path: directory(id)) == locked,
            var record = try? load(id), record.pid == pid, record.pidStartTime == startTime,
            record.pidNamespaceShared != true
        else { return }
        record.pidNamespaceShared = true
        do {
            try save(record)
        } catch {
            throw ApusError("record in container \(id)'s state that its pid namespace is shared", cause: error)
        }
    }

    /// Written by hand (`FastRecord.encode`) unless the record holds what that does not
    /// write; then through `Codable`. Both give the same text (StateFileTests).
    public func save(_ record: ContainerRecord) throws(ApusError) {
        try FileIO.writeAtomically(statePath(record.id), bytes: try encode(record), mode: 0o600)
    }

    func encode(_ record: ContainerRecord) throws(ApusError) -> [UInt8] {
        let tree: JSONNode
        if let fast = FastRecord.encode(record) {
            tree = fast
        } else {
            do {
                tree = try JSONNode.encoding(record)
            } catch {
                throw ApusError("encode state of \(record.id)", cause: error)
            }
        }
        return TreeJSON.encode(tree: tree)
    }

    /// create's first record (pid 0, before init exists), so that `delete` finds the cgroup
    /// if apus dies before its commit. It is not state.json: `commitCreating` rewrites this
    /// file in place and renames it, so a create makes one file where a temporary file and
    /// a rename for each of its two records made two (a file created is the dearest step
    /// of a start on a filesystem that must skip its recently freed inodes, ext4 without a
    /// journal; BENCHMARKS.md). Readers see state.json whole or not at all, as before.
    public func saveCreating(_ record: ContainerRecord) throws(ApusError) -> CreatingRecord {
        let path = creatingPath(record.id)
        let bytes = try encode(record)
        let fd = try OwnedFD.open("write \(path)") { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        try FileIO.writeAll(fd: fd.raw, bytes: bytes, step: "write \(path)")
        return CreatingRecord(fd: fd, length: bytes.count)
    }

    /// The committed record, written over the first in place (padded with spaces, which
    /// JSON allows, when shorter: no truncation that a crash could stop half way), then
    /// renamed to state.json.
    /// `encoded`: the record's bytes when they were made ahead (`encode`).
    public func commitCreating(
        _ creating: consuming CreatingRecord, _ record: ContainerRecord, encoded: [UInt8]? = nil
    ) throws(ApusError) {
        try rewriteCreating(&creating, record, encoded: encoded)
        creating.fd.close()
        let path = creatingPath(record.id)
        if rename(path, statePath(record.id)) < 0 {
            throw ApusError("write \(statePath(record.id))", errno: errno)
        }
    }

    /// The pid-0 record again, in place: the cgroup directories made after the clone are in
    /// it (`CgroupManager.finishCreate`), so that `delete` finds them if apus dies now.
    public func rewriteCreating(_ creating: inout CreatingRecord, _ record: ContainerRecord, encoded: [UInt8]? = nil)
        throws(ApusError)
    {
        var bytes: [UInt8]
        if let encoded { bytes = encoded } else { bytes = try encode(record) }
        if bytes.count < creating.length { bytes += [UInt8](repeating: 0x20, count: creating.length - bytes.count) }
        try FileIO.writeAll(fd: creating.fd.raw, bytes: bytes, offset: 0, step: "write \(creatingPath(record.id))")
        creating.length = bytes.count
    }

    private func readCreating(_ id: String) -> [UInt8]? {
        guard errno == ENOENT else { return nil }
        if let bytes = FileIO.read(creatingPath(id)) { return bytes }
        guard errno == ENOENT else { return nil }
        return FileIO.read(statePath(id))
    }

    /// Whether a command holds the container's lock now (without waiting for it).
    public func isLocked(_ id: String) -> Bool {
        guard let fd = OwnedFD.opening({ open(directory(id), O_RDONLY | OpenFlags.directory | O_CLOEXEC) }) else {
            return false
        }
        return flock(fd.raw, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK
    }

    /// Renamed out of the way first, atomically: a command reading the container meanwhile
    /// finds either all of its state or none, never a directory without state.json.
    public func remove(_ id: String) {
        // Named after the id, which only this container's holder of the lock removes: a
        // stale empty one (a delete that died) is replaced, a full one makes the rename
        // fail and the directory is removed where it is.
        let doomed = root + "/.deleting@" + id
        if rename(directory(id), doomed) == 0 {
            // Usually state.json is all there is: two calls instead of a directory walk.
            _ = unlink(doomed + "/state.json")
            if rmdir(doomed) != 0 { FileIO.removeTree(doomed) }
        } else {
            FileIO.removeTree(directory(id))
        }
    }

    /// Container ids: directories whose names are valid ids ("@" never is).
    public func ids() -> [String] {
        FileIO.listDirectory(root).filter { !$0.contains("@") && FileIO.isDirectory(root + "/" + $0) }.sorted()
    }
}

/// The open state.json.creating of a create and how long its record is.
public struct CreatingRecord: ~Copyable {
    var fd: OwnedFD
    var length: Int
}

public final class ContainerLock {
    /// The flock'd state directory; nil once released.
    private var handle: OwnedFD?
    var fd: Int32 { handle.raw }
    init(_ fd: consuming OwnedFD) { handle = consume fd }

    /// Unlocks now rather than whenever the last reference goes.
    func release() {
        handle = nil
    }

    /// Unlocks for every copy of the fd: a flock belongs to the open file, so a forked
    /// child's inherited copy holds it for as long as the child keeps it open.
    func unlock() {
        if fd >= 0 { _ = flock(fd, LOCK_UN) }
    }
}

extension ContainerRecord {
    /// The record with its init's pid and start time.
    func started(pid: Int32, stat: ProcessStat) -> ContainerRecord {
        var record = self
        record.pid = pid
        record.pidStartTime = stat.startTime
        return record
    }

    /// What `list` shows for a state directory without state.json: a create that has
    /// only claimed the id, or died right after.
    static func unrecorded(id: String) -> ContainerRecord {
        ContainerRecord(
            id: id, pid: 0, pidStartTime: 0, bundle: "", rootfs: "", created: "", owner: "",
            ociVersion: "", ownPidNamespace: false, rootless: false)
    }
}

/// Facts about a live process read from /proc/PID/stat.
public struct ProcessStat: Sendable {
    public var state: Character
    public var startTime: UInt64

    public static func read(pid: Int32) -> ProcessStat? {
        guard pid > 0, let bytes = FileIO.read("/proc/\(pid)/stat", wholeRecord: true) else { return nil }
        // comm may contain spaces and parentheses: fields start after the last ')'.
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let rest = bytes[(close + 2)...].split(separator: UInt8(ascii: " "))
        // rest[0] is field 3 (state); starttime is field 22 → rest[19].
        guard rest.count > 19, let first = rest[0].first,
            let start = UInt64(String(decoding: rest[19], as: UTF8.self))
        else { return nil }
        return ProcessStat(state: Character(Unicode.Scalar(first)), startTime: start)
    }
}

extension ContainerRecord {
    /// The init process is this container's init: alive, not a zombie, and the
    /// same start time (a reused pid has another).
    public var initAlive: Bool {
        guard let stat = ProcessStat.read(pid: pid) else { return false }
        return stat.startTime == pidStartTime && stat.state != "Z" && stat.state != "X"
    }

    public func status(store: StateStore) -> Status {
        // No init recorded yet: a create holds the lock, or it died.
        if pid == 0 { return store.isLocked(id) ? .creating : .stopped }
        guard initAlive else { return .stopped }
        if FileIO.exists(store.fifoPath(id)) { return .created }
        if let cgroup, cgroup.isFrozen() { return .paused }
        return .running
    }
}

/// state.json without `Codable`, as `FastDecode` reads config.json (it reuses its decoders
/// for the process, hooks, seccomp profile and resources, and `FastEncode`'s writers):
/// `exec`, `state`, `kill` and `delete` read it first thing, and through `Codable` that took
/// 0.3 ms of an `exec`; `create` writes it. Anything it does not handle goes through
/// `Codable`; StateFileTests codes the samples and every fixture's parts both ways.
enum FastRecord {
    typealias D = FastDecode

    static func decode(_ node: JSONNode) -> ContainerRecord? {
        try? record(node)
    }

    static func record(_ node: JSONNode) throws(FastDecode.GiveUp) -> ContainerRecord {
        var id: String?
        var pid: Int32?
        var pidStartTime: UInt64?
        var bundle: String?
        var rootfs: String?
        var created: String?
        var owner: String?
        var ociVersion: String?
        var ownPidNamespace: Bool?
        var rootless: Bool?
        var annotations: [String: String]?
        var cgroup: CgroupManager?
        var systemd: SystemdUnit?
        var hooks: Spec.Hooks?
        var namespaceKinds: [String]?
        var process: Spec.Process?
        var seccomp: Spec.Linux.Seccomp?
        var resources: Spec.Linux.Resources?
        var pidNamespaceShared: Bool?
        for (key, value) in try D.object(node) {
            switch key {
            case "id": id = try D.string(value)
            case "pid": pid = try D.integer(value, Int32.self)
            case "pidStartTime": pidStartTime = try D.integer(value, UInt64.self)
            case "bundle": bundle = try D.string(value)
            case "rootfs": rootfs = try D.string(value)
            case "created": created = try D.string(value)
            case "owner": owner = try D.string(value)
            case "ociVersion": ociVersion = try D.string(value)
            case "ownPidNamespace": ownPidNamespace = try D.bool(value)
            case "rootless": rootless = try D.bool(value)
            case "annotations": annotations = try D.optional(value, D.stringMap)
            case "cgroup": cgroup = try D.optional(value, manager)
            case "systemd": systemd = try D.optional(value, unit)
            case "hooks": hooks = try D.optional(value, D.hooks)
            case "namespaceKinds": namespaceKinds = try D.optional(value, D.strings)
            case "process": process = try D.optional(value, D.process)
            case "seccomp": seccomp = try D.optional(value, D.seccomp)
            case "resources": resources = try D.optional(value, D.resources)
            case "pidNamespaceShared": pidNamespaceShared = try D.optional(value, D.bool)
            // memoryPolicy, and anything newer: Codable.
            default: throw FastDecode.GiveUp()
            }
        }
        var record = ContainerRecord(
            id: try D.required(id), pid: try D.required(pid), pidStartTime: try D.required(pidStartTime),
            bundle: try D.required(bundle), rootfs: try D.required(rootfs), created: try D.required(created),
            owner: try D.required(owner), annotations: annotations, ociVersion: try D.required(ociVersion),
            cgroup: cgroup, hooks: hooks, ownPidNamespace: try D.required(ownPidNamespace),
            rootless: try D.required(rootless), namespaceKinds: namespaceKinds)
        record.systemd = systemd
        record.process = process
        record.seccomp = seccomp
        record.resources = resources
        record.pidNamespaceShared = pidNamespaceShared
        return record
    }

    /// The record as `JSONNode.encoding` gives it, or nil when it holds what `FastEncode`
    /// does not write (resources after `update`, memoryPolicy, a process's scheduler, ...).
    static func encode(_ r: ContainerRecord) -> JSONNode? {
        typealias E = FastEncode
        guard r.memoryPolicy == nil, r.resources == nil else { return nil }
        var o = E.Object()
        o.add("id", .string(r.id))
        o.add("pid", E.integer(r.pid))
        o.add("pidStartTime", E.integer(r.pidStartTime))
        o.add("bundle", .string(r.bundle))
        o.add("rootfs", .string(r.rootfs))
        o.add("created", .string(r.created))
        o.add("owner", .string(r.owner))
        o.add("annotations", E.stringMap(r.annotations))
        o.add("ociVersion", .string(r.ociVersion))
        if let cgroup = r.cgroup {
            var c = E.Object()
            c.add("layout", .string(cgroup.layout.rawValue))
            c.add("path", .string(cgroup.path))
            c.add("paths", E.stringMap(cgroup.paths))
            c.add("mountpoints", E.stringMap(cgroup.mountpoints))
            c.add("created", E.strings(cgroup.created))
            o.add("cgroup", c.node)
        }
        if let unit = r.systemd {
            var u = E.Object()
            u.add("name", .string(unit.name))
            u.add("slice", .string(unit.slice))
            u.add("containerID", .string(unit.containerID))
            u.add("bus", .string(unit.bus.rawValue))
            u.add("address", E.string(unit.address))
            o.add("systemd", u.node)
        }
        o.add("hooks", r.hooks.map(E.hooks))
        o.add("ownPidNamespace", .bool(r.ownPidNamespace))
        o.add("rootless", .bool(r.rootless))
        o.add("namespaceKinds", E.strings(r.namespaceKinds))
        if let process = r.process {
            guard let node = E.process(process) else { return nil }
            o.add("process", node)
        }
        o.add("seccomp", r.seccomp.map(E.seccomp))
        o.add("pidNamespaceShared", E.bool(r.pidNamespaceShared))
        return o.node
    }

    static func manager(_ node: JSONNode) throws(FastDecode.GiveUp) -> CgroupManager {
        var layout: CgroupLayoutKind?
        var path: String?
        var paths: [String: String]?
        var mountpoints: [String: String]?
        var created: [String]?
        for (key, value) in try D.object(node) {
            switch key {
            case "layout": layout = CgroupLayoutKind(rawValue: try D.string(value))
            case "path": path = try D.string(value)
            case "paths": paths = try D.stringMap(value)
            case "mountpoints": mountpoints = try D.stringMap(value)
            case "created": created = try D.optional(value, D.strings)
            default: throw FastDecode.GiveUp()
            }
        }
        return CgroupManager(
            layout: try D.required(layout), path: try D.required(path), paths: try D.required(paths),
            mountpoints: try D.required(mountpoints), created: created ?? [])
    }

    static func unit(_ node: JSONNode) throws(FastDecode.GiveUp) -> SystemdUnit {
        var name: String?
        var slice: String?
        var containerID: String?
        var bus: SystemdBus.Kind?
        var address: String?
        for (key, value) in try D.object(node) {
            switch key {
            case "name": name = try D.string(value)
            case "slice": slice = try D.string(value)
            case "containerID": containerID = try D.string(value)
            case "bus": bus = SystemdBus.Kind(rawValue: try D.string(value))
            case "address": address = try D.optional(value, D.string)
            default: throw FastDecode.GiveUp()
            }
        }
        var unit = SystemdUnit(
            name: try D.required(name), slice: try D.required(slice), containerID: try D.required(containerID),
            bus: try D.required(bus))
        unit.address = address
        return unit
    }
}
