import ApusLinux
import Glibc
import OCI

/// What `apus update` asks for besides cgroup resources.
public struct UpdateRequest: Sendable {
    public var resources: Spec.Linux.Resources
    public var l3CacheSchema: String?
    public var memBwSchema: String?

    public init(resources: Spec.Linux.Resources, l3CacheSchema: String? = nil, memBwSchema: String? = nil) {
        self.resources = resources
        self.l3CacheSchema = l3CacheSchema
        self.memBwSchema = memBwSchema
    }
}

extension UpdateRequest {
    /// `update --resources FILE` (- for stdin): linux.resources JSON; as in runc, the
    /// other options are then ignored.
    public init(resourcesFile source: String) throws {
        let bytes = source == "-" ? FileIO.readAll(fd: 0) : FileIO.read(absolutePath(source))
        guard let bytes else { throw ApusError("update: read \(source)", errno: errno) }
        let resources: Spec.Linux.Resources
        do {
            resources = try Spec.decodeFragment(Spec.Linux.Resources.self, from: bytes)
        } catch {
            // Paths relative to the resources object, as runc's users know it from config.json.
            let at = error.path.isEmpty ? "" : " .linux.resources" + error.path
            throw ApusError("update: resources from \(source)\(at): \(error.reason)")
        }
        self.init(resources: resources)
    }
}

extension Runtime {
    // MARK: update

    /// `update`: applies new limits to a live (running, created or paused) container and
    /// records them in state.json. Like runc, the fields update can change are merged into
    /// the container's current resources and the merged set is written, so that memory and
    /// memory+swap are written together in the order the kernel accepts.
    public func update(id: String, _ request: UpdateRequest) throws {
        try StateStore.validate(id: id)
        let lock = try store.lock(id, exclusive: true)
        defer { withExtendedLifetime(lock) {} }
        var record = try store.load(id)
        if record.status(store: store) == .stopped {
            throw ApusError("cannot update container \(id): container not running")
        }
        // runc refuses these unless the container was created with linux.intelRdt, which
        // apus does not implement.
        if request.l3CacheSchema != nil {
            throw ApusError("update --l3-cache-schema: Intel RDT/CAT is not supported by apus")
        }
        if request.memBwSchema != nil {
            throw ApusError("update --mem-bw-schema: Intel RDT/MBA is not supported by apus")
        }
        guard let cgroup = record.cgroup else {
            throw ApusError("cannot update container \(id): it has no cgroup (rootless without cgroupsPath)")
        }
        let current = record.resources ?? (try? Spec.load(bundle: record.bundle))?.linux?.resources ?? .init()
        let merged = Self.merge(current, request.resources)
        do {
            // The unit first: its properties hold across `systemctl daemon-reload`, which
            // writes them to the cgroup again; the files then get the rest.
            if let unit = record.systemd {
                try SystemdDriver.update(
                    unit, resources: Self.updatable(merged), version: cgroup.layout == .unified ? .v2 : .v1)
            }
            try cgroup.update(resources: Self.updatable(merged)) { log.warn($0) }
        } catch {
            throw ApusError("update container \(id)", cause: error)
        }
        record.resources = merged
        try store.save(record)
    }

    /// The fields runc's update writes (devices, hugepages and network are fixed at create;
    /// block I/O weights and per-device limits are updated, as runc 1.4+ does).
    static func updatable(_ resources: Spec.Linux.Resources) -> Spec.Linux.Resources {
        var out = Spec.Linux.Resources()
        out.memory = resources.memory
        out.cpu = resources.cpu
        out.pids = resources.pids
        out.blockIO = resources.blockIO
        out.unified = resources.unified
        return out
    }

    /// `new` over `old`, field by field.
    static func merge(_ old: Spec.Linux.Resources, _ new: Spec.Linux.Resources) -> Spec.Linux.Resources {
        var out = old
        if let m = new.memory {
            var memory = old.memory ?? .init()
            if let v = m.limit { memory.limit = v }
            if let v = m.reservation { memory.reservation = v }
            if let v = m.swap { memory.swap = v }
            if let v = m.kernel { memory.kernel = v }
            if let v = m.kernelTCP { memory.kernelTCP = v }
            if let v = m.swappiness { memory.swappiness = v }
            if let v = m.disableOOMKiller { memory.disableOOMKiller = v }
            if let v = m.useHierarchy { memory.useHierarchy = v }
            if let v = m.checkBeforeUpdate { memory.checkBeforeUpdate = v }
            // runc: an unlimited memory without a swap value would fail with "unable to set
            // swap limit without memory limit".
            if m.limit == -1 && m.swap == nil { memory.swap = 0 }
            out.memory = memory
        }
        if let c = new.cpu {
            var cpu = old.cpu ?? .init()
            if let v = c.shares { cpu.shares = v }
            if let v = c.quota { cpu.quota = v }
            if let v = c.burst { cpu.burst = v }
            if let v = c.period { cpu.period = v }
            if let v = c.realtimeRuntime { cpu.realtimeRuntime = v }
            if let v = c.realtimePeriod { cpu.realtimePeriod = v }
            if let v = c.cpus { cpu.cpus = v }
            if let v = c.mems { cpu.mems = v }
            if let v = c.idle { cpu.idle = v }
            out.cpu = cpu
        }
        if let p = new.pids { out.pids = p }
        if let b = new.blockIO {
            out.blockIO = mergeBlockIO(old.blockIO ?? .init(), b)
        }
        if let u = new.unified {
            out.unified = (old.unified ?? [:]).merging(u) { $1 }
        }
        return out
    }

    /// Block I/O: weights replaced when given; a per-device entry replaces the one for the
    /// same major:minor and the others stay (the kernel keeps a rule per device; a limit of 0
    /// removes it, as in the config).
    static func mergeBlockIO(_ old: Spec.Linux.Resources.BlockIO, _ new: Spec.Linux.Resources.BlockIO)
        -> Spec.Linux.Resources.BlockIO
    {
        typealias Throttle = Spec.Linux.Resources.BlockIO.ThrottleDevice
        func byDevice<T>(_ old: [T]?, _ new: [T]?, _ key: (T) -> [Int64]) -> [T]? {
            guard let new else { return old }
            let replaced = Set(new.map(key))
            return (old ?? []).filter { !replaced.contains(key($0)) } + new
        }
        var out = old
        if let v = new.weight { out.weight = v }
        if let v = new.leafWeight { out.leafWeight = v }
        out.weightDevice = byDevice(old.weightDevice, new.weightDevice) { [$0.major, $0.minor] }
        let throttle: (Throttle) -> [Int64] = { [$0.major, $0.minor] }
        out.throttleReadBpsDevice = byDevice(old.throttleReadBpsDevice, new.throttleReadBpsDevice, throttle)
        out.throttleWriteBpsDevice = byDevice(old.throttleWriteBpsDevice, new.throttleWriteBpsDevice, throttle)
        out.throttleReadIOPSDevice = byDevice(old.throttleReadIOPSDevice, new.throttleReadIOPSDevice, throttle)
        out.throttleWriteIOPSDevice = byDevice(old.throttleWriteIOPSDevice, new.throttleWriteIOPSDevice, throttle)
        return out
    }

    // MARK: pause / resume

    /// `pause`: freezes every process of the container (v1 freezer or v2 cgroup.freeze).
    public func pause(id: String) throws {
        try StateStore.validate(id: id)
        let lock = try store.lock(id, exclusive: true)
        defer { withExtendedLifetime(lock) {} }
        let record = try store.load(id)
        switch record.status(store: store) {
        case .running, .created: break
        default: throw ApusError("container not running")
        }
        guard let cgroup = record.cgroup else { throw ApusError("pause \(id): the container has no cgroup") }
        do {
            try cgroup.freeze()
        } catch {
            throw ApusError("pause \(id)", cause: error)
        }
    }

    /// `resume`: thaws a paused container.
    public func resume(id: String) throws {
        try StateStore.validate(id: id)
        let lock = try store.lock(id, exclusive: true)
        defer { withExtendedLifetime(lock) {} }
        let record = try store.load(id)
        guard record.status(store: store) == .paused, let cgroup = record.cgroup else {
            throw ApusError("container not paused")
        }
        do {
            try cgroup.thaw()
        } catch {
            throw ApusError("resume \(id)", cause: error)
        }
    }

    // MARK: ps

    /// Pids of every process in the container's cgroup (`ps`).
    public func processes(id: String) throws -> [Int32] {
        try StateStore.validate(id: id)
        let record = try store.load(id)
        guard let cgroup = record.cgroup else { throw ApusError("ps \(id): the container has no cgroup") }
        do {
            return try cgroup.pids()
        } catch {
            throw ApusError("ps \(id)", cause: error)
        }
    }

    // MARK: events

    /// One line of `events`: runc's {"type", "id", "data"} (data omitted when empty).
    static func event(_ type: String, id: String, data: JSONNode? = nil) -> String {
        var members: [(key: String, value: JSONNode)] = [("type", .string(type)), ("id", .string(id))]
        if let data { members.append(("data", data)) }
        return JSONNode.object(members).compactText
    }

    /// One `{"type":"stats","id":…,"data":…}` line, runc's event format.
    public func statsEvent(_ record: ContainerRecord) throws -> String {
        guard let cgroup = record.cgroup else {
            throw ApusError("events \(record.id): the container has no cgroup")
        }
        let stats: CgroupStats
        do {
            stats = try cgroup.stats()
        } catch {
            throw ApusError("events \(record.id)", cause: error)
        }
        let data: JSONNode
        do {
            data = try .encoding(stats)
        } catch {
            throw ApusError("events \(record.id): encode statistics", cause: error)
        }
        return Self.event("stats", id: record.id, data: data)
    }

    /// `events`: with `statsOnce`, one stats event; otherwise a stats event every
    /// `intervalMilliseconds` and an `oom` event whenever the kernel's OOM killer kills a
    /// process of the container, until the container stops or SIGINT/SIGTERM/SIGHUP
    /// arrives. Waits in poll(2) on the init pidfd, an OOM notification fd and a signalfd:
    /// no threads, no busy polling.
    public func events(id: String, intervalMilliseconds: Int, statsOnce: Bool, emit: (String) -> Void) throws {
        try StateStore.validate(id: id)
        let record = try store.load(id)
        if record.status(store: store) == .stopped {
            throw ApusError("container with id \(id) is not running")
        }
        if statsOnce {
            emit(try statsEvent(record))
            return
        }
        guard let cgroup = record.cgroup else { throw ApusError("events \(id): the container has no cgroup") }
        let signalFD = OwnedFD.opening { SignalDescriptor.blockingAll() }
        let signals = signalFD.raw
        guard let pidfdOwner = OwnedFD.opening({ RawSyscall.pidfdOpen(record.pid) }), record.initAlive else {
            throw ApusError("container with id \(id) is not running")
        }
        let pidfd = pidfdOwner.raw
        let oom = OOMWatch(cgroup)
        var oomCount = cgroup.oomKillCount() ?? 0
        func reportOOM(notified: Bool) {
            if let count = cgroup.oomKillCount() {
                // One event per kill, as runc sends one per notification.
                if count > oomCount {
                    for _ in 0..<min(count - oomCount, 64) { emit(Self.event("oom", id: id)) }
                }
                oomCount = count
            } else if notified {
                emit(Self.event("oom", id: id))
            }
        }
        let interval = max(intervalMilliseconds, 1)
        var next = monotonicMilliseconds() + interval
        var fds = [pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)]
        if signals >= 0 { fds.append(pollfd(fd: signals, events: Int16(POLLIN), revents: 0)) }
        if oom.fd >= 0 { fds.append(pollfd(fd: oom.fd, events: Int16(POLLIN), revents: 0)) }
        while true {
            let ready = retryingEINTR {
                poll(&fds, nfds_t(fds.count), Int32(clamping: max(0, next - monotonicMilliseconds())))
            }
            if ready < 0 { throw ApusError("events \(id): poll", errno: errno) }
            if ready == 0 {
                next += interval
                guard let line = try? statsEvent(record) else {
                    reportOOM(notified: false)
                    return
                }
                emit(line)
                continue
            }
            for index in fds.indices where fds[index].revents != 0 {
                let fd = fds[index].fd
                if fd == pidfd {
                    // The OOM kill that ended the container is reported before the stream ends.
                    reportOOM(notified: false)
                    return
                }
                if fd == signals {
                    if let sig = SignalDescriptor.read(signals)?.signal,
                        sig == SIGINT || sig == SIGTERM || sig == SIGHUP
                    {
                        return
                    }
                }
                if fd == oom.fd {
                    oom.drain()
                    reportOOM(notified: true)
                }
            }
        }
    }
}

/// A file descriptor that becomes readable when the container's memory cgroup reports an
/// OOM: on v1 an eventfd registered through cgroup.event_control on memory.oom_control
/// (as runc does), on v2 an inotify watch on memory.events (the kernel sends IN_MODIFY
/// when it changes). -1 when neither works; OOMs are then seen when the container stops.
struct OOMWatch: ~Copyable {
    private var watched: OwnedFD? = nil
    /// v1: the memory.oom_control fd the eventfd is registered for, kept open with it.
    private var control: OwnedFD? = nil
    var fd: Int32 { watched.raw }

    init(_ cgroup: CgroupManager) {
        if cgroup.layout != .unified, let dir = cgroup.paths["memory"] {
            let event = OwnedFD.opening { RawSyscall.eventfdCloexec(0) }
            let control = OwnedFD.opening { open(dir + "/memory.oom_control", O_RDONLY | O_CLOEXEC) }
            if let eventFD = event.rawOrNil, let controlFD = control.rawOrNil,
                (try? FileIO.write(dir + "/cgroup.event_control", "\(eventFD) \(controlFD)", step: "")) != nil
            {
                watched = event
                self.control = control
                return
            }
        }
        if let dir = cgroup.paths["unified"], cgroup.layout == .unified || cgroup.paths["memory"] == nil {
            guard let watch = OwnedFD.opening({ inotify_init1(Int32(IN_CLOEXEC)) }) else { return }
            if inotify_add_watch(watch.raw, dir + "/memory.events", UInt32(IN_MODIFY)) >= 0 { watched = consume watch }
        }
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        _ = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    }
}

func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int(now.tv_sec) * 1000 + Int(now.tv_nsec) / 1_000_000
}

// MARK: - Parsing runc's values

/// runc's (docker/go-units RAMInBytes) memory sizes: "512m", "1.5g", "100 MiB", "1024";
/// binary multiples, case-insensitive, optional "i" and "b".
public func parseMemorySize(_ text: String) -> Int64? {
    // ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$, as go-units matches it.
    let chars = Array(text)
    var i = 0
    func digits() -> Bool {
        let start = i
        while i < chars.count, chars[i].isASCII, chars[i].isNumber { i += 1 }
        return i > start
    }
    guard digits() else { return nil }
    while i < chars.count, chars[i] == "." {
        i += 1
        guard digits() else { return nil }
    }
    guard let value = Double(String(chars[0..<i])) else { return nil }
    if i < chars.count, chars[i] == " " { i += 1 }
    var multiplier = 1.0
    if i < chars.count, let power = ["k", "m", "g", "t", "p"].firstIndex(of: chars[i].lowercased()) {
        multiplier = Double(UInt64(1) << (10 * (power + 1)))
        i += 1
    }
    if i < chars.count, chars[i] == "i" || chars[i] == "I" { i += 1 }
    if i < chars.count, chars[i] == "b" || chars[i] == "B" { i += 1 }
    guard i == chars.count else { return nil }
    let bytes = value * multiplier
    guard bytes < 9.2e18 else { return nil }
    return Int64(bytes)
}

/// Go durations as runc's `--interval` takes them: "5s", "500ms", "1m30s", "2h".
public func parseDurationMilliseconds(_ text: String) -> Int? {
    if text == "0" { return 0 }
    var total = 0.0
    var rest = Substring(text)
    guard !rest.isEmpty else { return nil }
    while !rest.isEmpty {
        let number = rest.prefix { $0.isNumber || $0 == "." }
        guard !number.isEmpty, let value = Double(number) else { return nil }
        rest = rest.dropFirst(number.count)
        let unit = rest.prefix { !$0.isNumber && $0 != "." }
        rest = rest.dropFirst(unit.count)
        let scale: Double
        switch unit {
        case "ns": scale = 1e-6
        case "us", "µs": scale = 1e-3
        case "ms": scale = 1
        case "s": scale = 1000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        default: return nil
        }
        total += value * scale
    }
    return total < 1e15 ? Int(total) : nil
}

// MARK: - ps table

extension Runtime {
    /// `ps` in table form: runs the host's `ps` with `options` (default `-ef`) and keeps the
    /// header and the rows whose PID column is a process of the container, as runc does.
    public func processTable(id: String, options: [String]) throws -> String {
        let pids = Set(try processes(id: id))
        let args = ["ps"] + (options.isEmpty ? ["-ef"] : options)
        let (status, output) = try Self.capture(args)
        if status != 0 {
            throw ApusError("ps \(args.dropFirst().joined(separator: " ")): exit status \(status): \(output)")
        }
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.first,
            let pidIndex = header.split(separator: " ", omittingEmptySubsequences: true).firstIndex(of: "PID")
        else {
            throw ApusError("couldn't find PID field in ps output")
        }
        var out = String(header) + "\n"
        for line in lines.dropFirst() where !line.isEmpty {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard pidIndex < fields.count, let pid = Int32(fields[pidIndex]) else {
                throw ApusError("unexpected pid field in ps output: \(line)")
            }
            if pids.contains(pid) { out += line + "\n" }
        }
        return out
    }

    /// Runs a host program found in $PATH with stdout and stderr captured together.
    static func capture(_ args: [String]) throws -> (status: Int32, output: String) {
        let pipe = try OwnedFDPair.pipe("create pipe for \(args[0])")
        var cArgs = args.map { strdup($0) }
        cArgs.append(nil)
        defer { for p in cArgs { free(p) } }
        let pid = fork()
        if pid == 0 {
            dup2(pipe.write.raw, 1)
            dup2(pipe.write.raw, 2)
            ProcessControl.resetSignals()
            execvp(args[0], &cArgs)
            _exit(127)
        }
        let reader = pipe.read
        let forkErrno = errno
        pipe.write.close()
        if pid < 0 { throw ApusError("fork for \(args[0])", errno: forkErrno) }
        let bytes = FileIO.readAll(fd: reader.raw) ?? []
        var status: Int32 = 0
        if retryingEINTR({ waitpid(pid, &status, 0) }) < 0 { throw ApusError("wait for \(args[0])", errno: errno) }
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        if code == 127 { throw ApusError("exec \(args[0]): not found in $PATH or not executable") }
        return (code, String(decoding: bytes, as: UTF8.self))
    }
}
