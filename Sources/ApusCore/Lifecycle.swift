import ApusLinux
import Glibc
import OCI

extension Runtime {
    /// `start`: lets a created init exec the user process by opening the exec
    /// fifo for reading; returns once init has gone past the fifo, or, when hooks
    /// must see it, once the process has exec'd.
    public func start(id: String) throws {
        try StateStore.validate(id: id)
        let lock = try store.lock(id, exclusive: true)
        defer { withExtendedLifetime(lock) {} }
        let record = try store.load(id)
        switch record.status(store: store) {
        case .created: break
        case .stopped: throw ApusError("cannot start a container that has stopped")
        default: throw ApusError("cannot start an already running container")
        }
        // config.md: process is REQUIRED for start only; the container stays created, and
        // delete removes it. runc 1.5.1 refuses such a config already at create.
        guard record.process != nil else {
            throw ApusError("cannot start container \(id): config.json has no process (config.json .process)")
        }
        let fifoPath = store.fifoPath(id)
        let fifo = try OwnedFD.open("open exec fifo \(fifoPath)") { open(fifoPath, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        let pidfd = OwnedFD.opening { RawSyscall.pidfdOpen(record.pid) }
        var fds = [pollfd(fd: fifo.raw, events: Int16(POLLIN), revents: 0)]
        if let pidfd = pidfd.rawOrNil { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
        while true {
            let n = retryingEINTR { poll(&fds, nfds_t(fds.count), -1) }
            if n < 0 { throw ApusError("wait for container init", errno: errno) }
            var byte: UInt8 = 0
            if fds[0].revents & Int16(POLLIN) != 0 && Glibc.read(fifo.raw, &byte, 1) == 1 { break }
            if fds[0].revents & Int16(POLLHUP) != 0 || (fds.count > 1 && fds[1].revents != 0) {
                throw ApusError("cannot start container \(id): its init process exited")
            }
        }
        unlink(fifoPath)
        // Without startContainer or poststart hooks, start is done once init has gone past
        // the fifo, as runc's is: init's exec needs no witness.
        guard !(record.hooks?.startContainer ?? []).isEmpty || !(record.hooks?.poststart ?? []).isEmpty else {
            return
        }
        // init keeps the fifo open until execve: EOF means the user process
        // runs; "E" first means a startContainer hook failed and init exited
        // (it printed why on the container's stderr).
        var pending = [pollfd(fd: fifo.raw, events: Int16(POLLIN), revents: 0)]
        waiting: while true {
            _ = retryingEINTR { poll(&pending, 1, -1) }
            var byte: UInt8 = 0
            switch retryingEINTR({ Glibc.read(fifo.raw, &byte, 1) }) {
            case 1 where byte == UInt8(ascii: "E"):
                throw ApusError("cannot start container \(id): a startContainer hook failed")
            case 1: continue
            case 0: break waiting
            default:
                if errno == EAGAIN { continue }
                break waiting
            }
        }
        try runPoststart(record)
    }

    /// poststart hooks, in order (runtime.md, spec 1.2+): if one fails, the runtime MUST
    /// generate an error and stop the container; the rest of the lifecycle (delete, then
    /// poststop) goes on. The remaining poststart hooks are not run. runc 1.5.1 runs them
    /// at create (before the user process runs) and destroys the container on a failure.
    func runPoststart(_ record: ContainerRecord) throws {
        guard let hooks = record.hooks?.poststart, !hooks.isEmpty else { return }
        let state = stateJSON(record, status: .running, pretty: false)
        for (index, hook) in hooks.enumerated() {
            guard let error = Hooks.run(hook, stdin: state) else { continue }
            if !record.ownPidNamespace, let cgroup = record.cgroup { try? cgroup.killAll(signal: SIGKILL) }
            try? killAndWait(record)
            throw ApusError(
                "poststart hook #\(index) (\(hook.path)): \(error); the container was stopped (config.json .hooks.poststart[\(index)])"
            )
        }
    }

    /// `kill`: signals init (or, with `all`, every process of the container's
    /// cgroup). The pid is checked against its start time through a pidfd, so a
    /// reused pid is never signalled.
    public func kill(id: String, signal: Int32, all: Bool) throws {
        try StateStore.validate(id: id)
        let record = try store.load(id)
        let status = record.status(store: store)
        if status == .stopped && !all { throw ApusError("container not running") }
        if all {
            guard let cgroup = record.cgroup else {
                throw ApusError("kill --all: container \(id) has no cgroup")
            }
            if status == .paused { try? cgroup.thaw() }
            try cgroup.killAll(signal: signal)
            if status == .paused && signal != SIGKILL { try? cgroup.freeze() }
            return
        }
        try signalInit(record, signal)
        if status == .paused && signal == SIGKILL {
            // A task frozen by the v1 freezer cannot act on SIGKILL until it is
            // thawed; thaw so the kill takes effect, as runc does.
            try? record.cgroup?.thaw()
        }
    }

    func signalInit(_ record: ContainerRecord, _ signal: Int32) throws {
        guard let pidfd = OwnedFD.opening({ RawSyscall.pidfdOpen(record.pid) }) else {
            if errno == ESRCH { throw ApusError("container not running") }
            // Kernels without pidfd: fall back to the start-time check alone.
            guard record.initAlive else { throw ApusError("container not running") }
            if Glibc.kill(record.pid, signal) < 0 {
                throw ApusError("kill \(record.pid) with signal \(signal)", errno: errno)
            }
            return
        }
        guard record.initAlive else { throw ApusError("container not running") }
        if RawSyscall.pidfdSendSignal(pidfd.raw, signal) < 0 {
            if errno == ESRCH { throw ApusError("container not running") }
            throw ApusError("send signal \(signal) to container init \(record.pid)", errno: errno)
        }
    }

    /// `delete`: removes a stopped (or, like runc, a created) container; with
    /// `force` kills a running one first. Poststop hooks run exactly once.
    public func delete(id: String, force: Bool) throws {
        try StateStore.validate(id: id)
        let lock: ContainerLock
        do {
            lock = try store.lock(id, exclusive: true)
        } catch {
            if force && !FileIO.exists(store.directory(id)) { return }
            throw error
        }
        defer { withExtendedLifetime(lock) {} }
        let record: ContainerRecord
        do {
            record = try store.load(id)
        } catch {
            // A create that died before writing state: nothing runs, remove it.
            if force {
                store.remove(id)
                return
            }
            throw error
        }
        if record.pid == 0 {
            // The create died before init was recorded (we hold the lock, so it is not
            // running): init exits on its own; what it may still hold is in the cgroup.
            if let cgroup = record.cgroup {
                try? cgroup.killAll(signal: SIGKILL)
                stopSystemdUnit(record)
                do {
                    try cgroup.destroy()
                } catch {
                    throw ApusError("delete \(id): remove cgroup", cause: error)
                }
            }
            store.remove(id)
            return
        }
        let status = record.status(store: store)
        switch status {
        case .stopped:
            break
        case .created:
            try killAndWait(record)
        case .running, .paused:
            guard force else {
                throw ApusError("cannot delete container \(id) that is not stopped: \(status.rawValue)")
            }
            if status == .paused { try? record.cgroup?.thaw() }
            try killAndWait(record)
        case .creating:
            break
        }
        try destroy(record)
    }

    /// With the systemd driver, the container's unit is stopped once its processes are
    /// gone (a scope whose processes ignore SIGTERM would wait for systemd's stop timeout).
    /// A systemd that cannot be reached or refuses is a warning: delete goes on, and a
    /// scope whose processes are all gone ends by itself.
    func stopSystemdUnit(_ record: ContainerRecord) {
        guard let unit = record.systemd else { return }
        do {
            try SystemdDriver.stop(unit)
        } catch {
            log.warn("delete \(record.id): \(error)")
        }
    }

    func killAndWait(_ record: ContainerRecord) throws {
        guard let pidfd = OwnedFD.opening({ RawSyscall.pidfdOpen(record.pid) }) else { return }
        guard record.initAlive else { return }
        _ = RawSyscall.pidfdSendSignal(pidfd.raw, SIGKILL)
        var fds = [pollfd(fd: pidfd.raw, events: Int16(POLLIN), revents: 0)]
        // A SIGKILLed process exits promptly unless stuck in the kernel (D state).
        if poll(&fds, 1, 10_000) == 0 {
            throw ApusError("container \(record.id) init \(record.pid) did not exit 10 s after SIGKILL")
        }
    }

    /// Releases what the container holds: leftover processes (when it shares
    /// the host pid namespace), cgroups, state; then the poststop hooks.
    func destroy(_ record: ContainerRecord) throws {
        if let cgroup = record.cgroup {
            if !record.ownPidNamespace { try? cgroup.killAll(signal: SIGKILL) }
            stopSystemdUnit(record)
            do {
                try cgroup.destroy()
            } catch {
                log.warn("remove cgroup of \(record.id): \(error)")
            }
        }
        runHooks(record.hooks?.poststop, kind: "poststop", record: record, status: .stopped, fatal: false)
        store.remove(record.id)
    }

    /// Runs `hooks` with the container state on stdin. Hook support beyond this
    /// (timeouts, namespaces of createContainer/startContainer) lives in Hooks.swift.
    func runHooks(_ hooks: [Spec.Hook]?, kind: String, record: ContainerRecord, status: Status, fatal: Bool) {
        guard let hooks, !hooks.isEmpty else { return }
        let state = stateJSON(record, status: status, pretty: false)
        for (index, hook) in hooks.enumerated() {
            if let error = Hooks.run(hook, stdin: state) {
                log.warn("\(kind) hook #\(index) (\(hook.path)): \(error)")
            }
        }
    }

    /// The OCI state of a container (runc's fields and order).
    public func state(id: String) throws -> String {
        try StateStore.validate(id: id)
        let record = try store.load(id)
        return stateJSON(record, status: record.status(store: store), pretty: true)
    }

    public func stateJSON(_ record: ContainerRecord, status: Status, pretty: Bool) -> String {
        let node = Self.stateNode(record, status: status)
        return pretty ? node.prettyPrinted(unit: "  ") : node.compactText
    }

    /// runc's state object: its fields in its order, annotations sorted as Go sorts a map.
    static func stateNode(_ record: ContainerRecord, status: Status) -> JSONNode {
        var members: [(key: String, value: JSONNode)] = [
            ("ociVersion", .string(record.ociVersion)),
            ("id", .string(record.id)),
            ("pid", .integer(status == .stopped ? 0 : record.pid)),
            ("status", .string(status.rawValue)),
            ("bundle", .string(record.bundle)),
            ("rootfs", .string(record.rootfs)),
            ("created", .string(record.created)),
        ]
        if let annotations = record.annotations, !annotations.isEmpty {
            members.append(
                ("annotations", .object(annotations.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        members.append(("owner", .string(record.owner)))
        return .object(members)
    }

    public struct ListEntry: Sendable {
        public var record: ContainerRecord
        public var status: Status
    }

    /// The containers with their OWNER, which runc's `list` names from the state
    /// directory's owner (`state` leaves it empty, and so does create: no /etc/passwd read
    /// in every start). Records of older apus versions carry a name already.
    public func list() -> [ListEntry] {
        var entries: [ListEntry] = []
        var names: [uid_t: String] = [:]
        func owner(_ id: String) -> String {
            var st = stat()
            guard stat(store.directory(id), &st) == 0 else { return "" }
            if let known = names[st.st_uid] { return known }
            let name = userName(uid: st.st_uid)
            names[st.st_uid] = name
            return name
        }
        for id in store.ids() {
            var record: ContainerRecord
            do {
                record = try store.load(id)
            } catch {
                // Claimed, state not written yet (or never: the create died); `delete` removes it.
                guard !FileIO.exists(store.statePath(id)) else { continue }
                record = ContainerRecord.unrecorded(id: id)
            }
            if record.owner.isEmpty { record.owner = owner(id) }
            entries.append(ListEntry(record: record, status: record.status(store: store)))
        }
        return entries
    }
}

/// Signal names and numbers as `kill` accepts them: "TERM", "SIGTERM", "15".
public func parseSignal(_ text: String) -> Int32? {
    if let number = Int32(text) { return number > 0 && number < 65 ? number : nil }
    var name = text.uppercased()
    if name.hasPrefix("SIG") { name = String(name.dropFirst(3)) }
    let table: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
        "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
        "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21,
        "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
        "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]
    if let number = table[name] { return number }
    if name.hasPrefix("RTMIN") {
        let rest = name.dropFirst(5)
        if rest.isEmpty { return 34 }
        if rest.hasPrefix("+"), let n = Int32(rest.dropFirst()), n <= 30 { return 34 + n }
    }
    if name.hasPrefix("RTMAX") {
        let rest = name.dropFirst(5)
        if rest.isEmpty { return 64 }
        if rest.hasPrefix("-"), let n = Int32(rest.dropFirst()), n <= 30 { return 64 - n }
    }
    return nil
}
