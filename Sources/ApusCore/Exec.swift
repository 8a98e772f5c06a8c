import ApusLinux
import Glibc
import OCI

/// Options of `exec`, with runc's names and semantics.
public struct ExecOptions: Sendable {
    /// `--process FILE`: a spec `process` object; the other process flags are then ignored (runc).
    public var processFile: String?
    public var args: [String] = []
    public var tty = false
    public var consoleSocket: String?
    /// `--pidfd-socket` (runc 1.2): a unix socket that gets a pidfd of the process.
    public var pidfdSocket: String?
    public var detach = false
    public var pidFile: String?
    public var cwd: String?
    public var env: [String] = []
    /// `UID[:GID]`.
    public var user: String?
    public var additionalGids: [UInt32] = []
    public var capabilities: [String] = []
    public var noNewPrivileges = false
    public var processLabel: String?
    public var apparmor: String?
    public var preserveFds: Int32 = 0
    public var ignorePaused = false
    /// `--cgroup`: `SUB` (every hierarchy) or `ctrl[,ctrl]:SUB` (v1 controllers).
    public var cgroups: [String] = []

    public init() {}
}

/// What the exec child needs; everything is resolved in the parent so the child
/// does only syscalls.
struct ExecContext {
    var process: Spec.Process
    var initPid: Int32
    var pidfd: Int32
    var namespaceFlags: Int32
    var sync: InitEnd
    var consoleSocket: Int32
    var capabilities: CapabilitySets
    var lastCap: Int
    var seccomp: SeccompFilter?
    var preserveFds: Int32
    /// The state lock, unlocked by the parent once this process exists; closed on exec.
    var lockFD: Int32
    /// The v1 cgroup directories the child moves itself into (`CgroupManager.joinSelf`);
    /// nil when the parent writes its pid.
    var cgroupSelfJoin: [String]? = nil
    /// The container's linux.memoryPolicy.
    var memoryPolicy: Spec.Linux.MemoryPolicy? = nil
    /// Additional gids where a user namespace denies setgroups (`Privilege.setgroupsRule`).
    var setgroups = SetgroupsRule.refuseWhenDenied
}

extension Runtime {
    /// `exec`: runs a new process in a running container. The apus process
    /// stays on the host (its own cgroup, namespaces); it forks once, into the
    /// container's pid namespace, and only that child enters the container's
    /// cgroup and namespaces: under a pids limit with room for one process the
    /// exec still fits (runc forks twice inside the cgroup: runc issue 4083).
    public func exec(id: String, options: ExecOptions) throws -> Int32 {
        try StateStore.validate(id: id)
        // Shared until the exec process exists: whatever enters this container's pid
        // namespace with CAP_SYS_PTRACE sets `pidNamespaceShared` under the exclusive lock,
        // then looks for apus processes there. An exec that read the state before the mark
        // has forked by then, and the look finds its process (CVE-2019-5736).
        let lock = try store.lock(id, exclusive: false)
        let record = try store.load(id)
        try checkExecStatus(record, ignorePaused: options.ignorePaused)
        let process = try execProcess(record, options)
        try admitExec(process, into: record, options: options, lock: lock)
        let (lastCap, capabilities, seccomp) = try execSecurity(process, record: record)

        let pidfd = try OwnedFD.open("open container init \(record.pid)") { RawSyscall.pidfdOpen(record.pid) }
        // The pid was checked against its start time after the pidfd pins it.
        guard record.initAlive else { throw ApusError("cannot exec in a stopped container") }
        let flags = namespacesToJoin(record)

        var consoleSocket: OwnedFD? = nil
        if let path = options.consoleSocket {
            consoleSocket = try connectUnixSocket(path)
        }
        let (parentEnd, childEnd) = try Handshake.pair()
        defer { parentEnd.close() }

        let foreground = !options.detach
        var signals: Int32 = -1
        if foreground {
            // Blocked before fork so nothing is lost; the child unblocks them
            // before execve.
            signals = SignalDescriptor.blockingAll()
        }

        var joinedUser = false
        let ownPidNamespace = try enterPidNamespaceForFork(pidfd.raw, flags: flags, id: id, joinedUser: &joinedUser)
        var context = ExecContext(
            process: process, initPid: record.pid, pidfd: pidfd.raw,
            namespaceFlags: flags & ~NamespaceCall.newPID & ~(joinedUser ? NamespaceCall.newUser : 0),
            sync: childEnd, consoleSocket: consoleSocket.raw, capabilities: capabilities, lastCap: lastCap,
            seccomp: seccomp, preserveFds: options.preserveFds, lockFD: lock.fd)
        context.memoryPolicy = record.memoryPolicy
        // The process ends in the container's user namespace if it joins one, else in ours.
        context.setgroups = privilege.setgroupsRule(containerUserNamespace: flags & NamespaceCall.newUser != 0)
        var entry = CgroupEntry.decide(
            record.cgroup, runtimeWrites: privilege.rootlessCgroups || record.rootless || !options.cgroups.isEmpty,
            childJoinsV1: true)
        context.cgroupSelfJoin = entry.selfJoined
        let (pid, bornInUnified) = try forkChild(
            context, entry: &entry, ownPidNamespace: ownPidNamespace, lock: lock, parentEnd: parentEnd)
        func abandon() {
            Glibc.kill(pid, SIGKILL)
            _ = reapChild(pid)
        }

        do {
            let joins = entry.runtimeJoins(bornInUnified: bornInUnified)
            try joinCgroups(
                record, pid: pid, subgroups: options.cgroups, includingV1: joins.v1, includingUnified: joins.unified)
        } catch {
            abandon()
            throw error
        }
        guard parentEnd.proceed() else {
            throw ApusError("exec process exited before setup: \(reap(pid))")
        }
        let master = try awaitExecve(of: pid, over: parentEnd, abandon: abandon)
        try announceExec(pid: pid, options: options)
        if options.detach { return 0 }
        let status = forwardUntilExit(pid: pid, signals: signals, master: master)
        return exitCode(waitStatus: status)
    }

    /// The fork into the container's pid namespace (the child continues in
    /// `ExecChild.run`); the parent unlocks the state and returns to its own pid namespace.
    private func forkChild(
        _ context: ExecContext, entry: inout CgroupEntry, ownPidNamespace: consuming OwnedFD?, lock: ContainerLock,
        parentEnd: RuntimeEnd
    ) throws -> (pid: Int32, bornInUnified: Bool) {
        let childEnd = context.sync
        // execCPUAffinity.initial: the runtime runs there while its child joins the container's
        // cgroup and namespaces (the child inherits it at fork).
        if let initial = context.process.execCPUAffinity?.initial, !initial.isEmpty {
            do {
                try Placement.setAffinity(initial, which: "initial", field: ".process.execCPUAffinity.initial")
            } catch {
                leavePidNamespace(ownPidNamespace)
                throw ApusError("\(error)".replacing(substring: "(config.json .process.", with: "(exec process ."))
            }
        }
        assertSingleThreaded()
        // Not dumpable until execve: the child is apus until then, and its
        // /proc/PID/exe (the host binary) must not be opened from inside the
        // container (CVE-2019-5736).
        ProcessControl.makeUndumpable()
        let (pid, bornInUnified) = CgroupManager.clone(flags: 0, bornIn: entry.unifiedDirectory.raw)
        if pid == 0 {
            parentEnd.close()
            ExecChild.run(context)
        }
        let forkErrno = errno
        entry.closeDirectory()
        // Unlocked, not closed: the child's copy must not keep the lock (frozen in a paused
        // container's cgroup before it execs, it would block `resume` for good).
        lock.unlock()
        leavePidNamespace(ownPidNamespace)
        childEnd.close()
        if pid < 0 { throw ApusError("fork exec process", errno: forkErrno) }
        return (pid, bornInUnified)
    }

    func checkExecStatus(_ record: ContainerRecord, ignorePaused: Bool) throws {
        switch record.status(store: store) {
        case .stopped, .creating:
            throw ApusError("cannot exec in a stopped container")
        case .paused where !ignorePaused:
            throw ApusError("cannot exec in a paused container (use --ignore-paused to override)")
        default: break
        }
    }

    /// A pid namespace applies to children: the runtime enters the container's for the fork
    /// only. Returns its own namespace to go back to (`leavePidNamespace`), or nil; sets
    /// `joinedUser` when it had to enter the container's user namespace too (the child then
    /// must not).
    /// A runtime without privilege over the container's pid namespace (rootless apus, the
    /// container's user namespace owning it) enters both at once, as the namespace's owner
    /// may; it cannot go back, which nothing after the fork needs, and its mm keeps the
    /// host's user namespace, so the container still cannot ptrace it (it is undumpable).
    func enterPidNamespaceForFork(_ pidfd: Int32, flags: Int32, id: String, joinedUser: inout Bool) throws
        -> OwnedFD?
    {
        guard flags & NamespaceCall.newPID != 0 else { return nil }
        let own = OwnedFD.opening { open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC) }
        if NamespaceCall.enter(pidfd, NamespaceCall.newPID) == 0 { return own }
        var code = errno
        if code == EPERM, flags & NamespaceCall.newUser != 0 {
            if NamespaceCall.enter(pidfd, NamespaceCall.newPID | NamespaceCall.newUser) == 0 {
                joinedUser = true
                return own
            }
            code = errno
        }
        throw ApusError("join pid namespace of container \(id)", errno: code)
    }

    /// Back to the runtime's own pid namespace (`own`, nil when it never left), closing it.
    func leavePidNamespace(_ own: consuming OwnedFD?) {
        guard let own else { return }
        _ = NamespaceCall.enter(own.raw, NamespaceCall.newPID)
    }

    /// Serves the exec'd process's setup messages until EOF on the close-on-exec socket (it
    /// has exec'd); returns the terminal master it sent, if any.
    func awaitExecve(of pid: Int32, over parentEnd: RuntimeEnd, abandon: () -> Void) throws -> Int32? {
        var master: Int32? = nil
        while let message = parentEnd.next() {
            switch message {
            case .terminal(let fd): master = fd
            case .warning(let text): log.warn(text)
            case .failure(let text):
                _ = reapChild(pid)
                // The setup steps name fields as in config.json; an exec'd process
                // comes from --process (podman, containerd) or the command line.
                throw ApusError(text.replacing(substring: "(config.json .process.", with: "(exec process ."))
            default:
                abandon()
                throw ApusError("unexpected message from exec process")
            }
        }
        return master
    }

    /// --pidfd-socket and --pid-file of a started exec process.
    func announceExec(pid: Int32, options: ExecOptions) throws {
        if let path = options.pidfdSocket {
            let socket = try connectUnixSocket(path, purpose: "pidfd socket")
            try sendPidfd(of: pid, to: socket.raw, name: "setns")
        }
        if let pidFile = options.pidFile {
            do {
                try FileIO.writeAtomically(absolutePath(pidFile), bytes: Array(String(pid).utf8), mode: 0o644)
            } catch {
                throw ApusError("write pid file", cause: error)
            }
        }
    }

    /// What may not exec: CAP_SYS_PTRACE into a pid namespace where apus runs
    /// (CVE-2019-5736), a console request that does not fit the process.
    func admitExec(_ process: Spec.Process, into record: ContainerRecord, options: ExecOptions, lock: ContainerLock)
        throws
    {
        let id = record.id
        try RuntimeBinary.protect(
            bounding: record.process?.capabilities?.bounding, process.capabilities?.bounding,
            sharedPidNamespace: !record.ownPidNamespace || record.pidNamespaceShared == true)
        if RuntimeBinary.allowsPtrace(process.capabilities?.bounding),
            !RuntimeBinary.allowsPtrace(record.process?.capabilities?.bounding)
        {
            // CAP_SYS_PTRACE the container's processes cannot have: this exec runs from a sealed
            // copy (above), but the apus processes already in the pid namespace do not. The
            // marking locks this container too.
            lock.release()
            guard let target = FileIdentity(path: "/proc/\(record.pid)/ns/pid") else {
                throw ApusError("cannot exec in a stopped container")
            }
            try RuntimeBinary.admitPtrace(intoPidNamespace: target, store: store) { found in
                ApusError(
                    "exec with CAP_SYS_PTRACE in container \(id): \(found.reason); the process could reach the "
                        + "runtime binary through that process's /proc/PID/exe (CVE-2019-5736)")
            }
        }
        if process.terminal == true {
            if options.detach && options.consoleSocket == nil {
                throw ApusError("cannot allocate tty if apus will detach without setting console socket")
            }
        } else if options.consoleSocket != nil {
            throw ApusError("cannot use console socket if apus will not detach or allocate tty")
        }
    }

    /// The exec process's capability sets and seccomp filter, compiled before the fork.
    func execSecurity(_ process: Spec.Process, record: ContainerRecord) throws -> (
        lastCap: Int, capabilities: CapabilitySets, seccomp: SeccompFilter?
    ) {
        let lastCap = lastCapability()
        let capabilities: CapabilitySets
        do {
            capabilities = try CapabilitySets(process.capabilities, lastCap: lastCap, warn: { log.warn($0) })
        } catch {
            throw ApusError("exec", cause: error)
        }
        var seccomp: SeccompFilter? = nil
        if let profile = record.seccomp {
            do {
                let filter = try SeccompFilter.compile(profile)
                for warning in filter.warnings { log.warn(warning) }
                seccomp = filter
            } catch {
                throw ApusError("exec", cause: error)
            }
        }
        return (lastCap, capabilities, seccomp)
    }

    /// The process to run: `--process FILE` as is, else the container's process
    /// with the command-line overrides (runc's getProcess).
    func execProcess(_ record: ContainerRecord, _ options: ExecOptions) throws -> Spec.Process {
        if let file = options.processFile {
            guard let bytes = FileIO.read(absolutePath(file)) else {
                throw ApusError("read process file \(file)", errno: errno)
            }
            let process: Spec.Process
            do {
                process = try Spec.decodeProcess(bytes)
            } catch {
                throw ApusError(
                    "process file \(file): \(error.description.replacing(substring: "config.json", with: "process"))")
            }
            guard let first = process.args?.first, !first.isEmpty else {
                throw ApusError("process file \(file): args must not be empty")
            }
            var withAffinity = process
            // Without its own, the process gets the container's execCPUAffinity (runc 1.5.1).
            if withAffinity.execCPUAffinity == nil { withAffinity.execCPUAffinity = record.process?.execCPUAffinity }
            return withAffinity
        }
        guard var process = record.process else {
            throw ApusError("container \(record.id) has no process in config.json: give exec one with --process")
        }
        guard !options.args.isEmpty else { throw ApusError("exec args cannot be empty") }
        process.args = options.args
        process.terminal = options.tty
        if let cwd = options.cwd { process.cwd = cwd }
        process.env = (process.env ?? []) + options.env
        if let user = options.user {
            let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let uid = UInt32(parts[0]) else { throw ApusError("parsing \(user) as user: invalid uid") }
            process.user.uid = uid
            if parts.count > 1 {
                guard let gid = UInt32(parts[1]) else { throw ApusError("parsing \(user) as user: invalid gid") }
                process.user.gid = gid
            }
        }
        if !options.additionalGids.isEmpty {
            process.user.additionalGids = (process.user.additionalGids ?? []) + options.additionalGids
        }
        if !options.capabilities.isEmpty {
            var caps = process.capabilities ?? Spec.Process.Capabilities()
            for name in options.capabilities {
                let cap = name.uppercased().hasPrefix("CAP_") ? name.uppercased() : "CAP_" + name.uppercased()
                caps.bounding = (caps.bounding ?? []) + [cap]
                caps.effective = (caps.effective ?? []) + [cap]
                caps.permitted = (caps.permitted ?? []) + [cap]
                // Ambient needs inheritable, which --cap does not add: only when
                // the config has an inheritable set (runc's rule).
                if caps.inheritable != nil { caps.ambient = (caps.ambient ?? []) + [cap] }
            }
            process.capabilities = caps
        }
        if options.noNewPrivileges { process.noNewPrivileges = true }
        if let label = options.processLabel { process.selinuxLabel = label }
        if let profile = options.apparmor { process.apparmorProfile = profile }
        return process
    }

    /// The namespaces of init that differ from ours: setns into one's own user
    /// namespace fails (EINVAL), and joining the rest is needless work. The ones init
    /// made at create (`namespaceKinds`) are joined without a look, the user namespace
    /// aside: two stats of /proc per kind were a twentieth of an exec.
    func namespacesToJoin(_ record: ContainerRecord) -> Int32 {
        let kinds: [Spec.Linux.Namespace.Kind] = [.user, .mount, .pid, .network, .ipc, .uts, .cgroup, .time]
        let made = record.namespaceKinds ?? []
        var flags: Int32 = 0
        for kind in kinds {
            if kind != .user && made.contains(kind.rawValue) {
                flags |= kind.cloneFlag
                continue
            }
            var theirs = stat()
            var ours = stat()
            guard stat("/proc/\(record.pid)/ns/\(kind.procName)", &theirs) == 0,
                stat("/proc/self/ns/\(kind.procName)", &ours) == 0
            else { continue }
            if theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev { flags |= kind.cloneFlag }
        }
        return flags
    }

    /// Puts the exec process in the container's cgroups, or in sub-cgroups of
    /// them (`--cgroup`), written from the host before the process runs.
    func joinCgroups(
        _ record: ContainerRecord, pid: Int32, subgroups: [String], includingV1: Bool = true,
        includingUnified: Bool = true
    ) throws {
        guard let cgroup = record.cgroup else {
            if !subgroups.isEmpty { throw ApusError("exec --cgroup: container \(record.id) has no cgroup") }
            return
        }
        if subgroups.isEmpty {
            do {
                // Rootless, where init's own join was passed over (Create.joinCgroup: no limit
                // needs the cgroup) the exec process's is too; a limit would have failed create.
                var passedOver = try cgroup.join(
                    pid: pid, includingV1: includingV1, includingUnified: includingUnified, besideInit: record.pid,
                    tolerating: { record.rootless && Privilege.isPermissionError($0) })
                // With the systemd driver on cgroup v2, the unit's manager moves what the
                // runtime may not (SystemdDriver.attach).
                if !passedOver.isEmpty, let unit = record.systemd, cgroup.layout == .unified {
                    do {
                        try SystemdDriver.attach(unit, pid: pid)
                        passedOver = []
                    } catch {
                        passedOver.append(error)
                    }
                }
                for error in passedOver { log.warn("rootless: exec process runs outside the cgroup there: \(error)") }
            } catch {
                throw ApusError("exec", cause: error)
            }
            return
        }
        var targets: [String: String] = [:]
        for entry in subgroups {
            var controllers: [String]? = nil
            var sub = entry
            if let colon = entry.firstIndex(of: ":") {
                controllers = entry[..<colon].split(separator: ",").map(String.init)
                sub = String(entry[entry.index(after: colon)...])
            }
            let parts = sub.split(separator: "/")
            if sub.isEmpty || parts.contains("..") {
                throw ApusError("exec --cgroup \(entry): invalid sub-cgroup path")
            }
            for (controller, dir) in cgroup.paths where controllers?.contains(controller) ?? true {
                targets[dir] = dir + "/" + parts.joined(separator: "/")
            }
            if let controllers, let missing = controllers.first(where: { cgroup.paths[$0] == nil }) {
                throw ApusError("exec --cgroup \(entry): the container has no \(missing) cgroup")
            }
        }
        for dir in Set(cgroup.paths.values) {
            let target = targets[dir] ?? dir
            guard FileIO.exists(target) else { throw ApusError("exec --cgroup: \(target) does not exist") }
            do {
                try FileIO.write(target + "/cgroup.procs", String(pid), step: "join exec process to \(target)")
            } catch {
                throw ApusError("exec", cause: error)
            }
        }
    }
}

/// The exec'd process before execve: runs in the child of fork, which the
/// parent already placed in the container's pid namespace and cgroups.
enum ExecChild {
    static func run(_ context: ExecContext) -> Never {
        do {
            try setUp(context)
        } catch {
            ContainerInit.fail(context.sync, "\(error)")
        }
        _exit(1)
    }

    static func setUp(_ context: ExecContext) throws(ApusError) {
        let sync = context.sync
        let process = context.process
        ProcessSetup.closeFileDescriptors(
            from: 3 + context.preserveFds, except: [sync.fd, context.pidfd, context.consoleSocket, context.lockFD])
        sync.awaitProceed()
        // On the host still: its cgroupfs, as the runtime's root.
        if let dirs = context.cgroupSelfJoin { try CgroupManager.joinSelf(dirs) }
        try placeAfterCgroupJoin(process.execCPUAffinity)
        // The host's procfs, before joining the container's mount namespace (CVE-2025-52881).
        let proc = try ProcFS()

        if context.namespaceFlags != 0 {
            // One setns with a pidfd enters them all at once, in the kernel's
            // order (user first), Linux 5.8+; older kernels take one file each.
            if NamespaceCall.enter(context.pidfd, context.namespaceFlags) < 0 {
                let code = errno
                guard code == EINVAL else { throw ApusError("join the container's namespaces", errno: code) }
                try joinOneByOne(pid: context.initPid, flags: context.namespaceFlags)
            }
        }
        close(context.pidfd)

        if process.terminal == true {
            try ContainerInit.attachTerminal(
                process, consoleSocket: context.consoleSocket, sync: sync, mountOnDevConsole: false,
                proxy: "apus exec")
        }

        // The LSM exec labels include --apparmor and --process-label; the container's memory
        // policy holds for its exec'd processes too (runc 1.5.1).
        try ContainerInit.applyProcessAttributes(
            Spec(ociVersion: "", process: process, linux: Spec.Linux(memoryPolicy: context.memoryPolicy)), proc: proc)

        // With no_new_privs, the filter loads right before execve.
        let noNewPrivileges = process.noNewPrivileges == true
        var kernel = LinuxProcessKernel(procFD: proc.fd)
        try ProcessFinalizer.finalize(
            &kernel, process: process, capabilities: context.capabilities, lastCap: context.lastCap,
            setgroups: context.setgroups,
            seccomp: context.seccomp
        ) { filter, afterNoNewPrivileges throws(ApusError) in
            if !afterNoNewPrivileges { try load(filter, sync: sync) }
        }

        let env = process.env ?? []
        let args = process.args ?? []
        guard let command = args.first else {
            throw ApusError("exec", detail: "process.args is empty", field: ".process.args")
        }
        let path = try ProcessSetup.lookPath(command, env: env)
        // No runtime fd may reach the container (CVE-2024-21626).
        ProcessSetup.closeFileDescriptors(from: 3 + context.preserveFds)
        // Every disposition, not only the ignored ones: 62 rt_sigaction calls cost less
        // than reading SigIgn, this new process's first look into /proc.
        ContainerInit.resetSignals(ignored: nil)
        if let filter = context.seccomp, noNewPrivileges { try load(filter, sync: sync) }
        let error = ProcessSetup.exec(path: path, args: args, env: env)
        ContainerInit.fail(sync, error.description)
    }

    /// execCPUAffinity once in the container's cgroup: `final` if set; else, without `initial`,
    /// every CPU the cgroup's cpuset allows, not the runtime's own affinity (runc 1.4+); with
    /// only `initial`, the kernel's choice (the spec: the runtime SHOULD NOT change it).
    static func placeAfterCgroupJoin(_ affinity: Spec.Process.ExecCPUAffinity?) throws(ApusError) {
        if let final = affinity?.final, !final.isEmpty {
            try Placement.setAffinity(final, which: "final", field: ".process.execCPUAffinity.final")
        } else if (affinity?.initial ?? "").isEmpty {
            Placement.resetAffinity()
        }
    }

    static func load(_ filter: SeccompFilter, sync: InitEnd) throws(ApusError) {
        guard let listener = try filter.load() else { return }
        // TODO(issue 5): forward the notify listener to linux.seccomp.listenerPath as
        // create does (needs the spec's listener metadata in the state).
        sync.warn("exec: seccomp notify listener not forwarded; notified syscalls fail with ENOSYS")
        listener.close()
    }

    static func joinOneByOne(pid: Int32, flags: Int32) throws(ApusError) {
        let order: [Spec.Linux.Namespace.Kind] = [.user, .ipc, .uts, .network, .cgroup, .time, .mount]
        var fds: [(Spec.Linux.Namespace.Kind, Int32)] = []
        var held = OwnedFDs()
        for kind in order where flags & kind.cloneFlag != 0 {
            let fd = try OwnedFD.open("open \(kind.rawValue) namespace of \(pid)") {
                open("/proc/\(pid)/ns/\(kind.procName)", O_RDONLY | O_CLOEXEC)
            }
            fds.append((kind, held.hold(fd)))
        }
        for (kind, fd) in fds {
            try sys("join \(kind.rawValue) namespace of \(pid)") { NamespaceCall.enter(fd, kind.cloneFlag) }
        }
    }
}
