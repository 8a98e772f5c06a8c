// Validation of a decoded Spec: every problem, each with its JSON path. Pure: no filesystem,
// no syscalls. Checks that need the host (the rootfs exists, a namespace path is a namespace
// of the right type, the kernel supports a flag) belong to the runtime.
//
// Rules come from the runtime-spec's MUST/REQUIRED clauses and from runc's validator
// (libcontainer/configs/validate) where runc refuses a config the spec leaves open.

extension Spec {
    /// All problems found in the config, in document order. Empty means valid.
    public func validate() -> [ConfigError] {
        var v = SpecValidator(spec: self)
        v.run()
        return v.errors
    }
}

/// True for the runtime-spec versions apus implements: 1.0.0 to 1.3.x, optionally with a
/// pre-release such as "-rc.1", "-rc5" or "-dev" (runc 1.1 writes "1.0.2-dev") and SemVer
/// build metadata.
public func isSupportedOCIVersion(_ version: String) -> Bool {
    var core = Substring(version)
    if let plus = core.firstIndex(of: "+") {
        let build = core[core.index(after: plus)...]
        guard !build.isEmpty,
            build.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({
                !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            })
        else { return false }
        core = core[..<plus]
    }
    var prerelease: Substring? = nil
    if let dash = core.firstIndex(of: "-") {
        prerelease = core[core.index(after: dash)...]
        core = core[..<dash]
    }
    let parts = core.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3 else { return false }
    var numbers: [Int] = []
    for part in parts {
        guard !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }),
            part == "0" || !part.hasPrefix("0"), let n = Int(part)
        else { return false }
        numbers.append(n)
    }
    guard numbers[0] == 1, numbers[1] <= 3 else { return false }
    if let pre = prerelease {
        // Identifiers separated by "." or "-": "dev", "rc", "rcN" or a number.
        let identifiers = pre.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "." || $0 == "-" })
        guard !pre.isEmpty else { return false }
        for id in identifiers {
            if id == "dev" || id == "rc" { continue }
            if id.allSatisfy({ $0.isASCII && $0.isNumber }) && !id.isEmpty { continue }
            if id.hasPrefix("rc"), id.dropFirst(2).allSatisfy({ $0.isASCII && $0.isNumber }) { continue }
            return false
        }
    }
    return true
}

/// Parses a cpuset-style list ("0-3,5,7-8") into its ranges; nil if malformed.
public func parseCPUList(_ list: String) -> [ClosedRange<Int>]? {
    var ranges: [ClosedRange<Int>] = []
    let trimmed = list.trimmingSuffix { $0 == "\n" || $0 == " " }
    for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
        let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 1 || bounds.count == 2 else { return nil }
        var values: [Int] = []
        for b in bounds {
            guard !b.isEmpty, b.count <= 9, b.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(b) else {
                return nil
            }
            values.append(n)
        }
        let low = values[0]
        let high = values.count == 2 ? values[1] : low
        guard low <= high else { return nil }
        ranges.append(low...high)
    }
    return ranges
}

extension StringProtocol {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> SubSequence {
        var end = endIndex
        while end > startIndex {
            let before = index(before: end)
            guard predicate(self[before]) else { break }
            end = before
        }
        return self[startIndex..<end]
    }
}

private func quote(_ s: String) -> String { JSONPrinter.quoted(s) }

private func isAbsolute(_ path: String) -> Bool { path.hasPrefix("/") }

private func hasNUL(_ s: String) -> Bool { s.utf8.contains(0) }

/// Sysctls that belong to the IPC namespace (runc's list plus fs.mqueue.*).
private let ipcSysctls: Set<String> = [
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
    "kernel.shmmni", "kernel.shm_rmid_forced",
]

private struct SpecValidator {
    let spec: Spec
    var errors: [ConfigError] = []
    let namespaces: [Spec.Linux.Namespace.Kind: Spec.Linux.Namespace]

    init(spec: Spec) {
        self.spec = spec
        var ns: [Spec.Linux.Namespace.Kind: Spec.Linux.Namespace] = [:]
        for n in spec.linux?.namespaces ?? [] where ns[n.type] == nil {
            ns[n.type] = n
        }
        namespaces = ns
    }

    mutating func add(_ path: String, _ reason: String) {
        errors.append(ConfigError(path: path, reason: reason))
    }

    func has(_ kind: Spec.Linux.Namespace.Kind) -> Bool { namespaces[kind] != nil }

    /// A namespace the container gets fresh (listed, without a path).
    func isNew(_ kind: Spec.Linux.Namespace.Kind) -> Bool {
        guard let n = namespaces[kind] else { return false }
        return n.path?.isEmpty ?? true
    }

    mutating func run() {
        checkVersion()
        checkRoot()
        checkProcess()
        checkHostname()
        checkMounts()
        checkHooks()
        checkLinux()
        checkWithoutMountNamespace()
        for field in refusedFields where field.isSet(spec) { add(field.path, field.reason) }
    }

    static let needsMountNamespace = "needs a mount namespace (add {\"type\": \"mount\"} to linux.namespaces)"

    /// Without a mount namespace the container shares the runtime's: a mount, a read-only
    /// root, a propagation or a device node made there would change the host's tree (runc
    /// 1.5.1 tries, fails, and leaves its mounts on the host). apus chroots into the rootfs
    /// and refuses every field that needs mounts, naming it.
    mutating func checkWithoutMountNamespace() {
        guard !has(.mount) else { return }
        if !(spec.mounts ?? []).isEmpty { add(".mounts", Self.needsMountNamespace) }
        if spec.root?.readonly == true { add(".root.readonly", Self.needsMountNamespace) }
        if spec.linux?.rootfsPropagation != nil { add(".linux.rootfsPropagation", Self.needsMountNamespace) }
        if !(spec.linux?.devices ?? []).isEmpty { add(".linux.devices", Self.needsMountNamespace) }
    }

    // MARK: top level

    mutating func checkVersion() {
        if !isSupportedOCIVersion(spec.ociVersion) {
            add(".ociVersion", "unsupported ociVersion \(quote(spec.ociVersion)) (apus supports 1.0.0 to 1.3.x)")
        }
    }

    mutating func checkRoot() {
        guard let root = spec.root else {
            add(".root", "missing required field \"root\" (required on Linux)")
            return
        }
        if root.path.isEmpty {
            add(".root.path", "must not be empty")
        } else if hasNUL(root.path) {
            add(".root.path", "contains a NUL byte")
        }
    }

    mutating func checkHostname() {
        for (field, value) in [("hostname", spec.hostname), ("domainname", spec.domainname)] {
            guard let value, !value.isEmpty else { continue }
            if !has(.uts) {
                add(
                    ".\(field)",
                    "cannot set the \(field) without a UTS namespace (add {\"type\": \"uts\"} to linux.namespaces)")
            }
            // sethostname(2)/setdomainname(2) fail with EINVAL beyond __NEW_UTS_LEN.
            if value.utf8.count > 64 {
                add(".\(field)", "is \(value.utf8.count) bytes, longer than the kernel's 64")
            }
            if hasNUL(value) {
                add(".\(field)", "contains a NUL byte")
            }
        }
    }

    // MARK: process

    mutating func checkEnv(_ env: [String]?, at base: String) {
        for (i, entry) in (env ?? []).enumerated() {
            let path = "\(base)[\(i)]"
            guard let eq = entry.firstIndex(of: "=") else {
                add(path, "must have the form KEY=value, got \(quote(entry))")
                continue
            }
            if eq == entry.startIndex {
                add(path, "has an empty variable name")
            }
            if hasNUL(entry) {
                add(path, "contains a NUL byte")
            }
        }
    }

    mutating func checkProcess() {
        // OPTIONAL in config.md, REQUIRED for `start` only: `create` accepts a config without it
        // (runc 1.5.1 refuses it), `start` and `run` refuse it naming .process.
        guard let p = spec.process else { return }
        let args = p.args ?? []
        if args.isEmpty {
            add(".process.args", "must contain at least one entry (the program to run)")
        }
        for (i, arg) in args.enumerated() where hasNUL(arg) {
            add(".process.args[\(i)]", "contains a NUL byte")
        }
        if args.first == "" {
            add(".process.args[0]", "must not be empty (the program to run)")
        }
        if !isAbsolute(p.cwd) {
            add(".process.cwd", "must be an absolute path, got \(quote(p.cwd))")
        } else if hasNUL(p.cwd) {
            add(".process.cwd", "contains a NUL byte")
        }
        checkEnv(p.env, at: ".process.env")

        if let caps = p.capabilities { checkCapabilities(caps) }
        checkRlimits(p.rlimits ?? [])

        if let adj = p.oomScoreAdj, adj < -1000 || adj > 1000 {
            add(".process.oomScoreAdj", "must be between -1000 and 1000, got \(adj)")
        }

        if let io = p.ioPriority {
            if knownIOPriorityClasses[io.class] == nil {
                add(
                    ".process.ioPriority.class",
                    "unknown I/O priority class \(quote(io.class)) (expected IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE)"
                )
            }
            if io.priority < 0 || io.priority > 7 {
                add(".process.ioPriority.priority", "must be between 0 and 7, got \(io.priority)")
            }
        }

        if let s = p.scheduler {
            checkScheduler(s)
        }

        if let aff = p.execCPUAffinity {
            for (field, value) in [("initial", aff.initial), ("final", aff.final)] {
                if let value, !value.isEmpty, parseCPUList(value) == nil {
                    add(
                        ".process.execCPUAffinity.\(field)",
                        "invalid CPU list \(quote(value)) (expected e.g. \"0-3,5\")")
                }
            }
        }
    }

    mutating func checkCapabilities(_ caps: Spec.Process.Capabilities) {
        let sets: [(String, [String]?)] = [
            ("bounding", caps.bounding), ("effective", caps.effective), ("inheritable", caps.inheritable),
            ("permitted", caps.permitted), ("ambient", caps.ambient),
        ]
        for (name, list) in sets {
            for (i, cap) in (list ?? []).enumerated() where knownCapabilities[cap] == nil {
                var reason = "unknown capability \(quote(cap))"
                if knownCapabilities["CAP_" + cap.uppercased()] != nil {
                    reason += " (did you mean \"CAP_\(cap.uppercased())\"?)"
                } else if knownCapabilities[cap.uppercased()] != nil {
                    reason += " (capability names are upper case: \(quote(cap.uppercased())))"
                }
                add(".process.capabilities.\(name)[\(i)]", reason)
            }
        }
    }

    mutating func checkRlimits(_ rlimits: [Spec.Process.Rlimit]) {
        var seenRlimits: [String: Int] = [:]
        for (i, r) in rlimits.enumerated() {
            let path = ".process.rlimits[\(i)]"
            if knownRlimits[r.type] == nil {
                add(path + ".type", "unknown rlimit type \(quote(r.type)) (expected RLIMIT_CPU, RLIMIT_NOFILE, ...)")
            }
            if let first = seenRlimits[r.type] {
                add(path + ".type", "duplicate rlimit \(quote(r.type)) (also at .process.rlimits[\(first)])")
            } else {
                seenRlimits[r.type] = i
            }
            // setrlimit(2) fails with EINVAL when soft > hard.
            if r.soft > r.hard {
                add(path + ".soft", "soft limit \(r.soft) is greater than hard limit \(r.hard)")
            }
        }
    }

    mutating func checkScheduler(_ s: Spec.Process.Scheduler) {
        let base = ".process.scheduler"
        guard knownSchedulerPolicies[s.policy] != nil else {
            add(base + ".policy", "unknown scheduler policy \(quote(s.policy))")
            return
        }
        if let nice = s.nice, nice < -20 || nice > 19 {
            add(base + ".nice", "must be between -20 and 19, got \(nice)")
        }
        let priority = s.priority ?? 0
        switch s.policy {
        case "SCHED_FIFO", "SCHED_RR":
            if priority < 1 || priority > 99 {
                add(base + ".priority", "must be between 1 and 99 for \(s.policy), got \(priority)")
            }
        default:
            if priority != 0 {
                add(base + ".priority", "must be 0 for \(s.policy), got \(priority)")
            }
        }
        for (i, flag) in (s.flags ?? []).enumerated() where knownSchedulerFlags[flag] == nil {
            add(base + ".flags[\(i)]", "unknown scheduler flag \(quote(flag))")
        }
        let runtime = s.runtime ?? 0
        let deadline = s.deadline ?? 0
        let period = s.period ?? 0
        if s.policy == "SCHED_DEADLINE" {
            // sched_setattr(2): runtime <= deadline <= period (period 0 means "= deadline").
            if runtime == 0 {
                add(base + ".runtime", "is required for SCHED_DEADLINE")
            }
            if deadline != 0 && runtime > deadline {
                add(base + ".runtime", "must not exceed deadline (\(runtime) > \(deadline))")
            }
            if period != 0 && deadline > period {
                add(base + ".deadline", "must not exceed period (\(deadline) > \(period))")
            }
        } else {
            for (field, value) in [("runtime", runtime), ("deadline", deadline), ("period", period)] where value != 0 {
                add(base + ".\(field)", "is only valid with SCHED_DEADLINE")
            }
        }
    }

    // MARK: mounts

    mutating func checkMounts() {
        for (i, m) in (spec.mounts ?? []).enumerated() {
            let base = ".mounts[\(i)]"
            if m.destination.isEmpty {
                add(base + ".destination", "must not be empty")
            }
            // A relative destination is accepted: runtime-spec 1.1 deprecates it and says it is
            // interpreted relative to "/", which is what runc does (with a warning).
            for (field, value) in [("destination", m.destination), ("source", m.source ?? ""), ("type", m.type ?? "")]
            where hasNUL(value) {
                add(base + ".\(field)", "contains a NUL byte")
            }
            let options = m.options ?? []
            for (j, o) in options.enumerated() where hasNUL(o) {
                add(base + ".options[\(j)]", "contains a NUL byte")
            }
            let parsed = parseMountOptions(options)
            // `"type": "bind"` without a bind option is a bind mount for crun and for apus; runc
            // passes "bind" to mount(2) as a filesystem type and fails with ENODEV.
            let isBind = parsed.isBind || m.type == "bind"
            if isBind {
                if (m.source ?? "").isEmpty {
                    add(base + ".source", "a bind mount needs a source")
                }
            } else if (m.type ?? "").isEmpty && parsed.flags & MountFlag.MS_REMOUNT == 0 {
                add(base + ".type", "a mount that is not a bind mount needs a filesystem type")
            }
            let hasMappings = m.uidMappings != nil || m.gidMappings != nil
            if parsed.idmap || hasMappings {
                if !isBind {
                    add(base, "id-mapped mounts are only supported for bind mounts (add \"bind\" or \"rbind\")")
                }
                if hasMappings && (m.uidMappings ?? []).isEmpty != (m.gidMappings ?? []).isEmpty {
                    add(base, "id-mapped mounts need both uidMappings and gidMappings")
                }
                if isBind && !hasMappings && !has(.user) {
                    add(
                        base,
                        "\"idmap\" without uidMappings/gidMappings takes the container's user namespace mappings, but there is no user namespace"
                    )
                }
            }
            checkIDMappings(m.uidMappings, at: base + ".uidMappings")
            checkIDMappings(m.gidMappings, at: base + ".gidMappings")
        }
    }

    mutating func checkIDMappings(_ mappings: [Spec.Linux.IDMapping]?, at base: String) {
        guard let mappings else { return }
        // uid_map/gid_map accept at most 340 lines since Linux 4.15 (5 before).
        if mappings.count > 340 {
            add(base, "has \(mappings.count) entries, the kernel accepts at most 340")
        }
        for (i, m) in mappings.enumerated() {
            let path = "\(base)[\(i)]"
            if m.size == 0 {
                add(path + ".size", "must be greater than 0")
                continue
            }
            if UInt64(m.containerID) + UInt64(m.size) > UInt64(UInt32.max) + 1 {
                add(path, "containerID + size overflows 32 bits")
            }
            if UInt64(m.hostID) + UInt64(m.size) > UInt64(UInt32.max) + 1 {
                add(path, "hostID + size overflows 32 bits")
            }
            // The kernel rejects overlapping ranges on either side with EINVAL.
            for j in 0..<i where mappings[j].size > 0 {
                let o = mappings[j]
                if ranges(m.containerID, m.size, o.containerID, o.size) {
                    add(path, "container range overlaps \(base)[\(j)]")
                }
                if ranges(m.hostID, m.size, o.hostID, o.size) {
                    add(path, "host range overlaps \(base)[\(j)]")
                }
            }
        }
    }

    private func ranges(_ a: UInt32, _ asize: UInt32, _ b: UInt32, _ bsize: UInt32) -> Bool {
        let aEnd = UInt64(a) + UInt64(asize)
        let bEnd = UInt64(b) + UInt64(bsize)
        return UInt64(a) < bEnd && UInt64(b) < aEnd
    }

    // MARK: hooks

    mutating func checkHooks() {
        guard let hooks = spec.hooks else { return }
        let all: [(String, [Spec.Hook]?)] = [
            ("prestart", hooks.prestart), ("createRuntime", hooks.createRuntime),
            ("createContainer", hooks.createContainer), ("startContainer", hooks.startContainer),
            ("poststart", hooks.poststart), ("poststop", hooks.poststop),
        ]
        for (name, list) in all {
            for (i, hook) in (list ?? []).enumerated() {
                let base = ".hooks.\(name)[\(i)]"
                if !isAbsolute(hook.path) {
                    add(base + ".path", "must be an absolute path, got \(quote(hook.path))")
                } else if hasNUL(hook.path) {
                    add(base + ".path", "contains a NUL byte")
                }
                for (j, arg) in (hook.args ?? []).enumerated() where hasNUL(arg) {
                    add(base + ".args[\(j)]", "contains a NUL byte")
                }
                checkEnv(hook.env, at: base + ".env")
                if let t = hook.timeout, t <= 0 {
                    add(base + ".timeout", "must be greater than 0 seconds, got \(t)")
                }
            }
        }
    }

    // MARK: linux

    mutating func checkLinux() {
        guard let linux = spec.linux else { return }
        checkNamespaces(linux)
        checkUserNamespace(linux)
        checkTimeOffsets(linux)
        checkSysctl(linux)
        if let r = linux.resources {
            checkResources(r)
        }
        if let path = linux.cgroupsPath, hasNUL(path) {
            add(".linux.cgroupsPath", "contains a NUL byte")
        }
        checkDevices(linux.devices)
        if let s = linux.seccomp {
            checkSeccomp(s)
        }
        if let prop = linux.rootfsPropagation, !prop.isEmpty, rootfsPropagationFlags[prop] == nil {
            add(
                ".linux.rootfsPropagation",
                "unknown propagation \(quote(prop)) (expected private, rprivate, slave, rslave, shared, rshared, unbindable or runbindable)"
            )
        }
        for (field, list) in [("maskedPaths", linux.maskedPaths), ("readonlyPaths", linux.readonlyPaths)] {
            for (i, path) in (list ?? []).enumerated() {
                if !isAbsolute(path) {
                    add(".linux.\(field)[\(i)]", "must be an absolute path, got \(quote(path))")
                } else if hasNUL(path) {
                    add(".linux.\(field)[\(i)]", "contains a NUL byte")
                }
            }
            if !(list ?? []).isEmpty && !has(.mount) {
                add(".linux.\(field)", Self.needsMountNamespace)
            }
        }
        if let rdt = linux.intelRdt {
            checkIntelRdt(rdt)
        }
        if let p = linux.personality, knownPersonalityDomains[p.domain] == nil {
            add(
                ".linux.personality.domain", "unknown personality domain \(quote(p.domain)) (expected LINUX or LINUX32)"
            )
        }
        if let mp = linux.memoryPolicy {
            checkMemoryPolicy(mp)
        }
        checkNetDevices(linux.netDevices)
    }

    mutating func checkNamespaces(_ linux: Spec.Linux) {
        var seen: [Spec.Linux.Namespace.Kind: Int] = [:]
        for (i, ns) in (linux.namespaces ?? []).enumerated() {
            let base = ".linux.namespaces[\(i)]"
            if let first = seen[ns.type] {
                add(
                    base + ".type",
                    "duplicate namespace \(quote(ns.type.rawValue)) (also at .linux.namespaces[\(first)])")
            } else {
                seen[ns.type] = i
            }
            if let path = ns.path, !path.isEmpty {
                if !isAbsolute(path) {
                    add(base + ".path", "must be an absolute path, got \(quote(path))")
                } else if hasNUL(path) {
                    add(base + ".path", "contains a NUL byte")
                }
            }
        }
    }

    mutating func checkUserNamespace(_ linux: Spec.Linux) {
        checkIDMappings(linux.uidMappings, at: ".linux.uidMappings")
        checkIDMappings(linux.gidMappings, at: ".linux.gidMappings")
        let hasUIDs = !(linux.uidMappings ?? []).isEmpty
        let hasGIDs = !(linux.gidMappings ?? []).isEmpty
        if !has(.user) {
            if hasUIDs {
                add(
                    ".linux.uidMappings",
                    "uid mappings need a user namespace (add {\"type\": \"user\"} to linux.namespaces)")
            }
            if hasGIDs {
                add(
                    ".linux.gidMappings",
                    "gid mappings need a user namespace (add {\"type\": \"user\"} to linux.namespaces)")
            }
        } else if isNew(.user) {
            // A new user namespace without mappings leaves every id unmapped (runc refuses it too).
            if !hasUIDs {
                add(".linux.uidMappings", "a new user namespace needs uid mappings")
            }
            if !hasGIDs {
                add(".linux.gidMappings", "a new user namespace needs gid mappings")
            }
        }
    }

    mutating func checkTimeOffsets(_ linux: Spec.Linux) {
        guard let offsets = linux.timeOffsets, !offsets.isEmpty else { return }
        for (clock, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            let path = ".linux.timeOffsets" + jsonPathComponent(clock)
            if clock != "monotonic" && clock != "boottime" {
                add(path, "unknown clock \(quote(clock)) (expected monotonic or boottime)")
            }
            if let ns = offset.nanosecs, ns >= 1_000_000_000 {
                add(path + ".nanosecs", "must be less than 1000000000, got \(ns)")
            }
        }
        if !has(.time) {
            add(
                ".linux.timeOffsets",
                "time offsets need a time namespace (add {\"type\": \"time\"} to linux.namespaces)")
        } else if !isNew(.time) {
            // /proc/<pid>/timens_offsets is writable only before a process enters the namespace.
            add(".linux.timeOffsets", "cannot set time offsets when joining an existing time namespace")
        }
    }

    mutating func checkSysctl(_ linux: Spec.Linux) {
        guard let sysctl = linux.sysctl else { return }
        for key in sysctl.keys.sorted() {
            let path = ".linux.sysctl" + jsonPathComponent(key)
            // runc accepts "net/ipv4/ip_forward" as well as "net.ipv4.ip_forward".
            let name = String(key.map { $0 == "/" ? "." : $0 })
            let parts = name.split(separator: ".", omittingEmptySubsequences: false)
            if key.isEmpty || parts.contains(where: { $0.isEmpty || $0 == ".." }) || hasNUL(key) {
                add(path, "invalid sysctl name \(quote(key))")
                continue
            }
            if ipcSysctls.contains(name) || name.hasPrefix("fs.mqueue.") {
                if !has(.ipc) {
                    add(path, "sysctl \(quote(key)) needs an IPC namespace")
                }
            } else if name.hasPrefix("net.") {
                if !has(.network) {
                    add(path, "sysctl \(quote(key)) needs a network namespace")
                }
            } else if name == "kernel.domainname" {
                if !has(.uts) {
                    add(path, "sysctl \(quote(key)) needs a UTS namespace")
                }
            } else if name == "kernel.hostname" {
                add(path, "sysctl \(quote(key)) conflicts with the hostname field; set \"hostname\" instead")
            } else {
                add(path, "sysctl \(quote(key)) is not in a namespace the container can own (it would change the host)")
            }
        }
    }

    mutating func checkDevices(_ devices: [Spec.Linux.Device]?) {
        for (i, d) in (devices ?? []).enumerated() {
            let base = ".linux.devices[\(i)]"
            if !["c", "b", "u", "p"].contains(d.type) {
                add(base + ".type", "unknown device type \(quote(d.type)) (expected c, b, u or p)")
            }
            if !isAbsolute(d.path) {
                add(base + ".path", "must be an absolute path, got \(quote(d.path))")
            } else if hasNUL(d.path) {
                add(base + ".path", "contains a NUL byte")
            }
            if d.type != "p" {
                if d.major == nil {
                    add(base + ".major", "is required for a device of type \(quote(d.type))")
                }
                if d.minor == nil {
                    add(base + ".minor", "is required for a device of type \(quote(d.type))")
                }
            }
            for (field, value) in [("major", d.major), ("minor", d.minor)] {
                if let value, value < 0 || value > 0xFFFF_FFFF {
                    add(base + ".\(field)", "must be between 0 and 4294967295, got \(value)")
                }
            }
        }
    }

    // MARK: resources

    mutating func checkResources(_ r: Spec.Linux.Resources) {
        let base = ".linux.resources"
        for (i, d) in (r.devices ?? []).enumerated() {
            checkDeviceRule(d, at: base + ".devices[\(i)]")
        }
        if let m = r.memory { checkMemory(m, at: base + ".memory") }
        if let c = r.cpu { checkCPU(c, at: base + ".cpu") }
        if let b = r.blockIO { checkBlockIO(b, at: base + ".blockIO") }
        for (i, h) in (r.hugepageLimits ?? []).enumerated() where !isValidPageSize(h.pageSize) {
            add(
                base + ".hugepageLimits[\(i)].pageSize",
                "invalid page size \(quote(h.pageSize)) (expected <size><unit>B such as 2MB or 1GB)")
        }
        for (i, p) in (r.network?.priorities ?? []).enumerated() where !isValidInterfaceName(p.name) {
            add(base + ".network.priorities[\(i)].name", "invalid interface name \(quote(p.name))")
        }
        for (device, limits) in (r.rdma ?? [:]).sorted(by: { $0.key < $1.key }) {
            if limits.hcaHandles == nil && limits.hcaObjects == nil {
                add(base + ".rdma" + jsonPathComponent(device), "needs hcaHandles or hcaObjects")
            }
        }
        for key in (r.unified ?? [:]).keys.sorted() {
            let parts = key.split(separator: ".", omittingEmptySubsequences: false)
            if key.contains("/") || parts.count < 2 || parts.contains(where: \.isEmpty) || hasNUL(key) {
                add(
                    base + ".unified" + jsonPathComponent(key),
                    "invalid cgroup file name \(quote(key)) (expected <controller>.<file>)")
            }
        }
    }

    mutating func checkDeviceRule(_ d: Spec.Linux.Resources.DeviceCgroup, at path: String) {
        if let t = d.type, !["a", "b", "c"].contains(t) {
            add(path + ".type", "unknown device type \(quote(t)) (expected a, b or c)")
        }
        if let access = d.access {
            if access.isEmpty || !access.allSatisfy({ $0 == "r" || $0 == "w" || $0 == "m" }) {
                add(path + ".access", "must be a combination of r, w and m, got \(quote(access))")
            }
        }
        for (field, value) in [("major", d.major), ("minor", d.minor)] {
            // -1 is what runc and containerd write for "any".
            if let value, value < -1 {
                add(path + ".\(field)", "must not be negative (omit it or use -1 for any), got \(value)")
            }
        }
    }

    mutating func checkMemory(_ m: Spec.Linux.Resources.Memory, at path: String) {
        let values: [(String, Int64?)] = [
            ("limit", m.limit), ("reservation", m.reservation), ("swap", m.swap), ("kernel", m.kernel),
            ("kernelTCP", m.kernelTCP),
        ]
        for (field, value) in values {
            if let value, value < -1 {
                add(path + ".\(field)", "must be a number of bytes or -1 for unlimited, got \(value)")
            }
        }
        // On cgroup v1 swap is the memory+swap limit and the kernel refuses one below the memory limit.
        if let limit = m.limit, let swap = m.swap, limit > 0, swap > 0, swap < limit {
            add(
                path + ".swap",
                "memory+swap limit \(swap) is lower than the memory limit \(limit) (swap counts memory plus swap)")
        }
        if let s = m.swappiness, s > 100 {
            add(path + ".swappiness", "must be between 0 and 100, got \(s)")
        }
    }

    mutating func checkCPU(_ c: Spec.Linux.Resources.CPU, at path: String) {
        // cgroup v1 clamps shares to 2...262144; 0 means "not set" for runc.
        if let shares = c.shares, shares != 0, shares < 2 || shares > 262_144 {
            add(path + ".shares", "must be between 2 and 262144, got \(shares)")
        }
        if let quota = c.quota, quota < -1 || (quota > 0 && quota < 1000) {
            add(path + ".quota", "must be -1 (unlimited) or at least 1000 microseconds, got \(quota)")
        }
        if let period = c.period, period != 0, period < 1000 || period > 1_000_000 {
            add(path + ".period", "must be between 1000 and 1000000 microseconds, got \(period)")
        }
        if let burst = c.burst, let quota = c.quota, quota > 0, burst > UInt64(quota) {
            add(path + ".burst", "must not be larger than quota (\(burst) > \(quota))")
        }
        if let rt = c.realtimeRuntime, rt < -1 {
            add(path + ".realtimeRuntime", "must be -1 or a number of microseconds, got \(rt)")
        }
        if let rt = c.realtimeRuntime, let rp = c.realtimePeriod, rt > 0, rp > 0, UInt64(rt) > rp {
            add(path + ".realtimeRuntime", "must not exceed realtimePeriod (\(rt) > \(rp))")
        }
        if let idle = c.idle, idle != 0 && idle != 1 {
            add(path + ".idle", "must be 0 or 1, got \(idle)")
        }
        for (field, value) in [("cpus", c.cpus), ("mems", c.mems)] {
            if let value, !value.isEmpty, parseCPUList(value) == nil {
                add(path + ".\(field)", "invalid list \(quote(value)) (expected e.g. \"0-3,5\")")
            }
        }
    }

    mutating func checkBlockIO(_ b: Spec.Linux.Resources.BlockIO, at path: String) {
        checkBlkioWeight(b.weight, at: path + ".weight")
        checkBlkioWeight(b.leafWeight, at: path + ".leafWeight")
        for (i, wd) in (b.weightDevice ?? []).enumerated() {
            let device = path + ".weightDevice[\(i)]"
            if wd.weight == nil && wd.leafWeight == nil {
                add(device, "needs weight or leafWeight")
            }
            checkBlkioWeight(wd.weight, at: device + ".weight")
            checkBlkioWeight(wd.leafWeight, at: device + ".leafWeight")
            checkMajorMinor(wd.major, wd.minor, at: device)
        }
        let throttles: [(String, [Spec.Linux.Resources.BlockIO.ThrottleDevice]?)] = [
            ("throttleReadBpsDevice", b.throttleReadBpsDevice),
            ("throttleWriteBpsDevice", b.throttleWriteBpsDevice),
            ("throttleReadIOPSDevice", b.throttleReadIOPSDevice),
            ("throttleWriteIOPSDevice", b.throttleWriteIOPSDevice),
        ]
        for (field, list) in throttles {
            for (i, t) in (list ?? []).enumerated() {
                checkMajorMinor(t.major, t.minor, at: path + ".\(field)[\(i)]")
            }
        }
    }

    mutating func checkBlkioWeight(_ weight: UInt16?, at path: String) {
        // blkio.weight accepts 10...1000; 0 means "not set" for runc.
        if let w = weight, w != 0, w < 10 || w > 1000 {
            add(path, "must be between 10 and 1000, got \(w)")
        }
    }

    mutating func checkMajorMinor(_ major: Int64, _ minor: Int64, at path: String) {
        if major < 0 {
            add(path + ".major", "must not be negative, got \(major)")
        }
        if minor < 0 {
            add(path + ".minor", "must not be negative, got \(minor)")
        }
    }

    func isValidPageSize(_ s: String) -> Bool {
        let units = ["KB", "MB", "GB", "TB", "PB"]
        guard let unit = units.first(where: { s.hasSuffix($0) }) else { return false }
        let digits = s.dropLast(unit.count)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber } && !digits.hasPrefix("0")
    }

    func isValidInterfaceName(_ name: String) -> Bool {
        // dev_valid_name() in net/core/dev.c.
        !name.isEmpty && name.utf8.count < 16 && name != "." && name != ".."
            && !name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace })
    }

    // MARK: seccomp

    mutating func checkSeccomp(_ s: Spec.Linux.Seccomp) {
        let base = ".linux.seccomp"
        func takesErrno(_ action: String) -> Bool { action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE" }
        var usesNotify = false
        if !knownSeccompActions.contains(s.defaultAction) {
            add(base + ".defaultAction", "unknown seccomp action \(quote(s.defaultAction))")
        } else if s.defaultAction == "SCMP_ACT_NOTIFY" {
            // The listener would have to answer every syscall, including the ones the runtime
            // and the agent make before the container starts (runc refuses it as well).
            add(base + ".defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
        }
        if s.defaultErrnoRet != nil && !takesErrno(s.defaultAction) {
            add(
                base + ".defaultErrnoRet", "is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not \(s.defaultAction)"
            )
        }
        for (i, arch) in (s.architectures ?? []).enumerated() where !knownSeccompArchitectures.contains(arch) {
            add(base + ".architectures[\(i)]", "unknown seccomp architecture \(quote(arch))")
        }
        for (i, flag) in (s.flags ?? []).enumerated() where knownSeccompFlags[flag] == nil {
            add(base + ".flags[\(i)]", "unknown seccomp flag \(quote(flag))")
        }
        for (i, call) in (s.syscalls ?? []).enumerated() {
            let path = base + ".syscalls[\(i)]"
            if call.names.isEmpty {
                add(path + ".names", "must contain at least one syscall name")
            }
            for (j, name) in call.names.enumerated() where name.isEmpty || hasNUL(name) {
                add(path + ".names[\(j)]", "invalid syscall name \(quote(name))")
            }
            if !knownSeccompActions.contains(call.action) {
                add(path + ".action", "unknown seccomp action \(quote(call.action))")
            }
            if call.action == "SCMP_ACT_NOTIFY" {
                usesNotify = true
                // The runtime itself writes to the container's stdio and sync pipes after the
                // filter is loaded; a notify on write(2) would deadlock it (runc refuses it too).
                if call.names.contains("write") {
                    add(path + ".names", "SCMP_ACT_NOTIFY cannot be used for the write syscall")
                }
            }
            if call.errnoRet != nil && !takesErrno(call.action) {
                add(path + ".errnoRet", "is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not \(call.action)")
            }
            for (j, arg) in (call.args ?? []).enumerated() {
                if arg.index > 5 {
                    add(
                        path + ".args[\(j)].index",
                        "must be between 0 and 5 (syscalls have 6 arguments), got \(arg.index)")
                }
                if !knownSeccompOperators.contains(arg.op) {
                    add(path + ".args[\(j)].op", "unknown seccomp operator \(quote(arg.op))")
                }
            }
        }
        let listener = s.listenerPath ?? ""
        if usesNotify && listener.isEmpty {
            add(base + ".listenerPath", "is required when SCMP_ACT_NOTIFY is used")
        }
        if !(s.listenerMetadata ?? "").isEmpty && listener.isEmpty {
            add(base + ".listenerMetadata", "must not be set without listenerPath")
        }
    }

    // MARK: misc linux

    mutating func checkIntelRdt(_ rdt: Spec.Linux.IntelRdt) {
        let base = ".linux.intelRdt"
        if let clos = rdt.closID, !clos.isEmpty {
            // The CLOS id names a directory under /sys/fs/resctrl.
            if clos.contains("/") || clos == "." || clos == ".." || hasNUL(clos) || clos.contains("\n") {
                add(base + ".closID", "invalid class of service name \(quote(clos))")
            }
        }
        if let mb = rdt.memBwSchema, !mb.isEmpty {
            if !mb.hasPrefix("MB:") {
                add(base + ".memBwSchema", "must start with \"MB:\", got \(quote(mb))")
            }
            if mb.contains("\n") {
                add(base + ".memBwSchema", "must not contain newlines")
            }
        }
    }

    mutating func checkMemoryPolicy(_ mp: Spec.Linux.MemoryPolicy) {
        let base = ".linux.memoryPolicy"
        if knownMemoryPolicyModes[mp.mode] == nil {
            add(base + ".mode", "unknown memory policy mode \(quote(mp.mode))")
        }
        for (i, flag) in (mp.flags ?? []).enumerated() where knownMemoryPolicyFlags[flag] == nil {
            add(base + ".flags[\(i)]", "unknown memory policy flag \(quote(flag))")
        }
        let nodes = mp.nodes ?? ""
        if !nodes.isEmpty, let ranges = parseCPUList(nodes) {
            // runc's limit too: set_mempolicy takes a mask of MAX_NUMNODES (1024) bits.
            if let high = ranges.map(\.upperBound).max(), high > 1023 {
                add(base + ".nodes", "node \(high) in \(quote(nodes)): nodes above 1023 are not supported")
            }
        } else if !nodes.isEmpty {
            add(base + ".nodes", "invalid node list \(quote(nodes)) (expected e.g. \"0-1,3\")")
        }
        // set_mempolicy(2) returns EINVAL for these combinations.
        switch mp.mode {
        case "MPOL_DEFAULT", "MPOL_LOCAL":
            if !nodes.isEmpty {
                add(base + ".nodes", "must be empty for \(mp.mode)")
            }
        case "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE":
            if nodes.isEmpty {
                add(base + ".nodes", "is required for \(mp.mode)")
            }
        default:
            break
        }
    }

    mutating func checkNetDevices(_ devices: [String: Spec.Linux.NetDevice]?) {
        guard let devices, !devices.isEmpty else { return }
        for (hostName, device) in devices.sorted(by: { $0.key < $1.key }) {
            let path = ".linux.netDevices" + jsonPathComponent(hostName)
            if !isValidInterfaceName(hostName) {
                add(path, "invalid interface name \(quote(hostName))")
            }
            if let name = device.name, !name.isEmpty, !isValidInterfaceName(name) {
                add(path + ".name", "invalid interface name \(quote(name))")
            }
        }
        if !has(.network) {
            add(
                ".linux.netDevices",
                "moving network devices needs a network namespace (add {\"type\": \"network\"} to linux.namespaces)")
        }
    }
}
