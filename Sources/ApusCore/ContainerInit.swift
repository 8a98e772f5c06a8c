import ApusLinux
import Glibc
import OCI

/// How the init process learns that `start` was called: the one start-trigger type,
/// chosen by the command (`create` or `run`).
public enum StartTrigger: Sendable {
    /// `create`: init blocks opening the exec fifo for writing until `start` opens it for
    /// reading (the parent opens the fifo O_PATH: `InitContext.execFifo`).
    case execFifo
    /// `run`: the same process creates and starts; a sync message is enough.
    case syncMessage
}

/// Everything the init process needs, prepared by the parent before clone so
/// the child does no config parsing of its own.
public struct InitContext {
    public var spec: Spec
    public var bundle: String
    public var rootfs: String
    public var plan: NamespacePlan
    public var joins: [(kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int)]
    public var sync: InitEnd
    /// The exec fifo's O_PATH fd with `StartTrigger.execFifo`; nil with `.syncMessage`.
    public var execFifo: Int32?
    /// Connected console socket (`--console-socket`), or -1.
    public var consoleSocket: Int32
    public var cgroupView: CgroupMountView
    public var noPivot: Bool
    public var preserveFds: Int32
    public var lastCap: Int
    public var capabilities: CapabilitySets
    public var forkAgainForPid: Bool
    /// The parent's flock'd state-dir fd: the child must not keep the lock.
    public var lockFD: Int32
    /// Mount index → id-mapped tree prepared on the host (`IDMappedMounts`).
    public var idmappedTrees: [Int: Int32] = [:]
    /// The v1 cgroup directories init moves itself into (`CgroupManager.joinSelf`); nil
    /// when the runtime writes init's pid to them.
    public var cgroupSelfJoin: [String]? = nil
    /// Additional gids where a user namespace denies setgroups (`Privilege.setgroupsRule`).
    public var setgroups = SetgroupsRule.always
    /// The container's cgroup does not exist until the runtime has init's pid (systemd
    /// makes it, `SystemdDriver.start`): init waits for `inCgroup` before any mount, since
    /// a `"type": "cgroup"` mount binds that directory.
    public var cgroupMadeAfterClone = false
    /// The runtime makes the v1 directories and writes the limits after the clone: init
    /// joins its v1 cgroups itself only after `inCgroup`, which it awaits before its mounts.
    public var cgroupFinishedAfterClone = false
    /// The new network namespace, made by the runtime's helper, has its lo up already.
    public var loopbackUp = false
    /// The runtime made itself non-dumpable for the clone (as root), so init is born so.
    public var bornUndumpable = false
}

/// The container's init: runs in the child of clone(), in its new namespaces,
/// single-threaded, and ends in execve. Every step is named after what it does;
/// their order, and why, is all in `setUp`.
public enum ContainerInit {
    public static func run(_ context: InitContext) -> Never {
        do {
            try setUp(context)
        } catch let error as ApusError {
            fail(context.sync, error.description)
        } catch {
            fail(context.sync, "\(error)")
        }
        _exit(1)
    }

    static func fail(_ sync: InitEnd, _ message: String) -> Never {
        if !sync.failure(message) {
            // Past the handshake (e.g. exec failed after start): tell the user.
            printError("apus: \(message)")
        }
        _exit(127)
    }

    /// The init's setup, in order; every ordering constraint is commented at its step.
    static func setUp(_ context: InitContext) throws {
        let sync = context.sync
        closeInheritedFiles(context)
        // Without one (config.md: REQUIRED only for `start`), init sets up the container and
        // waits for delete (`holdWithoutProcess`).
        let process = context.spec.process
        // The parent writes uid/gid maps first, then whatever cgroup joins init does not
        // make itself (born in v2 by clone3, moving itself into v1 here), while the mounts
        // are set up (`inCgroup`): needed before a cgroup namespace is made (its root),
        // before forking (the pid namespace's init, hooks) and before execve; before the
        // mounts when the cgroup is made after the clone (systemd).
        // A cgroup finished after the clone is awaited before the first mount that shows
        // cgroups, and the cgroup namespace made then (`awaitCgroup`).
        let cgroupFirst =
            context.forkAgainForPid || context.cgroupMadeAfterClone
            || (context.plan.unshareCgroup && !context.cgroupFinishedAfterClone)
        try awaitParent(context, cgroupFirst: cgroupFirst)
        // Before any mount or namespace join: the procfs all of init's /proc writes use.
        let proc = try ProcFS()
        let ignoredSignals = proc.ignoredSignals()
        let seccompFilter = try compileSeccomp(context)
        if !context.bornUndumpable { ProcessControl.makeUndumpable() }
        try enterNamespaces(context)
        try createCgroupAndTimeNamespaces(context, proc: proc)
        try setNames(context.spec)
        let hookState = try buildRootfs(context, process, cgroupFirst: cgroupFirst)
        if context.plan.newKinds.contains(.network) && !context.loopbackUp {
            try ProcessControl.bringUpLoopback()
        }
        try applySysctl(context.spec.linux?.sysctl ?? [:], proc: proc)
        if process?.terminal == true, let process {
            try attachTerminal(
                process, consoleSocket: context.consoleSocket, sync: sync, mountOnDevConsole: true, proxy: "apus run")
        } else {
            // Init leads a session of its own, as runc's does (nsexec's setsid): not the
            // caller's session, which CRIU cannot dump ("a session leader … is outside of
            // its pid namespace") and whose terminal signals are not the container's.
            ProcessControl.newSession()
        }
        try Rootfs.readonlyPaths(context.spec.linux?.readonlyPaths ?? [])
        try Rootfs.maskPaths(context.spec.linux?.maskedPaths ?? [])
        try Rootfs.finishRoot(context.spec)
        try Rootfs.reopenDevNull()
        // In its cgroup since `inCgroup` (buildRootfs): the kernel narrows "every CPU" to the
        // cgroup's cpuset. execCPUAffinity is not for init (config.md): `exec` applies it.
        Placement.resetAffinity()
        try applyProcessAttributes(context.spec, proc: proc)
        guard let process else { holdWithoutProcess(context) }
        // With no_new_privs, a notify filter loads now: its listener fd must reach the
        // runtime before `ready`; every other filter right before execve.
        var kernel = LinuxProcessKernel(procFD: proc.fd)
        try ProcessFinalizer.finalize(
            &kernel, process: process, capabilities: context.capabilities, lastCap: context.lastCap,
            setgroups: context.setgroups, seccomp: seccompFilter
        ) { filter, afterNoNewPrivileges throws(ApusError) in
            if !afterNoNewPrivileges || filter.usesNotify { try loadSeccomp(filter, sync: sync) }
        }
        let command = try resolveCommand(process)
        // No runtime fd may reach the container (CVE-2024-21626).
        ProcessSetup.closeFileDescriptors(from: 3 + context.preserveFds)
        guard sync.ready() else { _exit(1) }
        let lateFilter = seccompFilter.flatMap { process.noNewPrivileges == true && !$0.usesNotify ? $0 : nil }
        let fifoWriter = awaitStart(
            context, hookState: hookState, command: command, lateFilter: lateFilter, ignoredSignals: ignoredSignals,
            proc: proc)
        execProcess(
            context, hookState: hookState, command: command, lateFilter: lateFilter, ignoredSignals: ignoredSignals,
            fifoWriter: fifoWriter)
    }

    /// A container without a process: `ready`, `committed`, then nothing but waiting to be
    /// killed by `delete`. `start` refuses it before it touches the exec fifo, and init never
    /// opens the fifo, so nothing of the container ever runs.
    static func holdWithoutProcess(_ context: InitContext) -> Never {
        let sync = context.sync
        guard sync.ready() else { _exit(1) }
        if context.execFifo != nil {
            sync.awaitCommitted()
        }
        ProcessSetup.closeFileDescriptors(from: 3, except: [])
        while true { pause() }
    }

    /// A forked child shares the parent's open files: holding the state lock would block
    /// every later command on this container; the others are closed but what init uses.
    static func closeInheritedFiles(_ context: InitContext) {
        // The lock fd is above the preserved ones, where the ranges below close it.
        if context.lockFD < 3 + context.preserveFds { close(context.lockFD) }
        // Appended one by one: `+` of a dictionary's values is the standard library's generic
        // path, whose metadata init would look up by name first (about 50 µs of a `run`).
        var keep: [Int32] = [context.sync.fd, context.consoleSocket]
        for join in context.joins { keep.append(join.fd) }
        for fd in context.idmappedTrees.values { keep.append(fd) }
        if let fd = context.execFifo { keep.append(fd) }
        ProcessSetup.closeFileDescriptors(from: 3 + context.preserveFds, except: keep)
    }

    /// `proceed`, the v1 cgroups init joins itself, and `inCgroup` when it must come first.
    static func awaitParent(_ context: InitContext, cgroupFirst: Bool) throws {
        context.sync.awaitProceed()
        if context.cgroupFinishedAfterClone { return }
        if let dirs = context.cgroupSelfJoin { try CgroupManager.joinSelf(dirs) }
        if cgroupFirst { context.sync.awaitInCgroup() }
    }

    /// `inCgroup` where init did not await it first (`awaitParent`); with
    /// `cgroupFinishedAfterClone`, then the v1 joins init makes itself and a new cgroup
    /// namespace, rooted at the container's cgroups.
    static func awaitCgroup(_ context: InitContext) throws(ApusError) {
        context.sync.awaitInCgroup()
        guard context.cgroupFinishedAfterClone else { return }
        if let dirs = context.cgroupSelfJoin { try CgroupManager.joinSelf(dirs) }
        if context.plan.unshareCgroup { try unshareCgroupNamespace() }
    }

    static func unshareCgroupNamespace() throws(ApusError) {
        try sys("create cgroup namespace", field: ".linux.namespaces") {
            NamespaceCall.unshare(NamespaceCall.newCgroup)
        }
    }

    /// Errors before `proceed` would not reach the parent, hence after it. The filter is
    /// compiled early and loaded as late as possible (`ProcessFinalizer`, `execProcess`).
    static func compileSeccomp(_ context: InitContext) throws -> SeccompFilter? {
        try ProcessAttributes.checkIntelRdt(context.spec)
        guard let seccomp = context.spec.linux?.seccomp else { return nil }
        let filter = try SeccompFilter.compile(seccomp)
        for warning in filter.warnings { context.sync.warn(warning) }
        return filter
    }

    /// Joins and creates the namespaces, user namespace first, mount namespace last.
    static func enterNamespaces(_ context: InitContext) throws {
        let sync = context.sync
        // User namespace first: joining it gives the capabilities to enter or
        // create the others.
        for join in context.joins where join.kind == .user {
            try joinNamespace(kind: join.kind, fd: join.fd, index: join.index)
        }
        if context.plan.has(.user) {
            // Become root of the new user namespace (mapped by the parent).
            try ProcessControl.becomeRootInUserNamespace()
        }
        for join in context.joins where join.kind != .user && join.kind != .mount && join.kind != .pid {
            try joinNamespace(kind: join.kind, fd: join.fd, index: join.index)
        }
        if context.plan.joinsUser && context.plan.cloneFlags != 0 {
            // New namespaces must belong to the joined user namespace, so they
            // are unshared now rather than created by clone.
            try sys("unshare namespaces") { NamespaceCall.unshare(context.plan.cloneFlags) }
        }
        if context.forkAgainForPid {
            for join in context.joins where join.kind == .pid {
                try joinNamespace(kind: join.kind, fd: join.fd, index: join.index)
            }
            // A pid namespace applies to children only: fork the real init.
            let child = ProcessControl.cloneProcess()
            if child < 0 { throw ApusError("fork init into its pid namespace", errno: errno) }
            if child > 0 {
                _ = sync.initPid(child)
                _exit(0)
            }
        }
        for join in context.joins where join.kind == .mount {
            try joinNamespace(kind: join.kind, fd: join.fd, index: join.index)
        }
        for join in context.joins { close(join.fd) }
    }

    /// The cgroup and time namespaces, after the cgroup join.
    static func createCgroupAndTimeNamespaces(_ context: InitContext, proc: borrowing ProcFS) throws {
        let spec = context.spec
        // After the cgroup join, so the namespace is rooted at our own cgroup; a cgroup
        // finished after the clone makes it later (`awaitCgroup`).
        if context.plan.unshareCgroup && !context.cgroupFinishedAfterClone { try unshareCgroupNamespace() }
        if context.plan.unshareTime {
            // The offsets can only be written before any process is in the new namespace.
            try sys("create time namespace", field: ".linux.namespaces") {
                NamespaceCall.unshare(NamespaceCall.newTime)
            }
            if let offsets = spec.linux?.timeOffsets, !offsets.isEmpty {
                var text = ""
                for (clock, offset) in offsets.sorted(by: { $0.key < $1.key }) {
                    text += "\(clock) \(offset.secs ?? 0) \(offset.nanosecs ?? 0)\n"
                }
                try proc.write(
                    "self/timens_offsets", text,
                    step: "write time namespace offsets (config.json .linux.timeOffsets)")
            }
            // unshare puts only children in it, and execve moves a process into it only
            // since Linux 6.2: init enters it now, so the container's process is in it on
            // every kernel with time namespaces (5.6+, Debian 12's 6.1 included).
            let namespace = try OwnedFD.open("open the new time namespace", field: ".linux.namespaces") {
                openat(proc.fd, "thread-self/ns/time_for_children", O_RDONLY | O_CLOEXEC)
            }
            try sys("enter the new time namespace", field: ".linux.namespaces") {
                NamespaceCall.enter(namespace.raw, NamespaceCall.newTime)
            }
        }
    }

    /// process.hostname and domainname, in the UTS namespace.
    static func setNames(_ spec: Spec) throws {
        if let hostname = spec.hostname {
            try sys("set hostname \"\(hostname)\"", field: ".hostname") { sethostname(hostname, hostname.utf8.count) }
        }
        if let domainname = spec.domainname {
            try sys("set domainname \"\(domainname)\"", field: ".domainname") {
                setdomainname(domainname, domainname.utf8.count)
            }
        }
    }

    /// The container's root: mounts, /dev and cwd, the hooks that run before pivot_root,
    /// then pivot_root (or a chroot without a mount namespace). Returns the state for
    /// startContainer (nil: no hooks at all).
    static func buildRootfs(_ context: InitContext, _ process: Spec.Process?, cgroupFirst: Bool) throws -> String? {
        let spec = context.spec
        let sync = context.sync
        let inUserNamespace = context.plan.has(.user)
        var hookState: String? = nil
        if context.plan.has(.mount) {
            var rootContext = RootfsContext(
                bundle: context.bundle, rootfs: context.rootfs, cgroups: context.cgroupView,
                inUserNamespace: inUserNamespace, idmappedTrees: context.idmappedTrees,
                warn: { sync.warn($0) })
            // The cgroup namespace was unshared or joined above, after the cgroup join:
            // a cgroup2 mount made now is rooted at the container's cgroup.
            rootContext.cgroupNamespace = context.plan.has(.cgroup)
            if let label = spec.linux?.mountLabel, !label.isEmpty {
                // As runc: without SELinux the label has nothing to apply to; say so.
                if access("/sys/fs/selinux/enforce", F_OK) == 0 {
                    rootContext.mountLabel = label
                } else {
                    sync.warn(
                        "mount label \(label) ignored: SELinux is not enabled on this host (config.json .linux.mountLabel)"
                    )
                }
            }
            let root = try Rootfs.prepareRoot(spec, context: rootContext)
            // In its cgroup (devices included) before a mount binds the cgroup directories
            // and before /dev is populated.
            var placed = !context.cgroupFinishedAfterClone
            try Rootfs.mountAll(spec, root: root, context: rootContext) { () throws(ApusError) in
                if !placed { try awaitCgroup(context) }
                placed = true
            }
            if !placed { try awaitCgroup(context) }
            try Rootfs.populateDev(spec, root: root, context: rootContext)
            // cwd is created as root before the switch to the container user.
            if let process {
                try root.create(process.cwd, file: false, step: "create cwd \(process.cwd)").close()
            }
            if !cgroupFirst && !context.cgroupFinishedAfterClone { sync.awaitInCgroup() }
            // Hooks after the mounts, before pivot_root (runc's order): the
            // createContainer hook's path resolves in the host tree still visible here.
            hookState = try runCreateHooks(context)
            if context.noPivot {
                try Rootfs.moveRoot(into: context.rootfs)
            } else {
                try Rootfs.pivotRoot(into: context.rootfs)
            }
        } else {
            if !cgroupFirst { try awaitCgroup(context) }
            hookState = try runCreateHooks(context)
            try sys("chroot into \(context.rootfs)", field: ".root.path") { chroot(context.rootfs) }
        }
        return hookState
    }

    /// rlimits, oom_score_adj, the NUMA memory policy, then personality, I/O priority,
    /// scheduler and LSM exec labels, while still root and before any seccomp filter: the
    /// same step for init and for an exec'd process.
    static func applyProcessAttributes(_ spec: Spec, proc: borrowing ProcFS) throws(ApusError) {
        guard let process = spec.process else { return }
        if let policy = spec.linux?.memoryPolicy { try Placement.applyMemoryPolicy(policy) }
        if let rlimits = process.rlimits { try ProcessSetup.applyRlimits(rlimits) }
        if let adj = process.oomScoreAdj { try ProcessSetup.setOOMScoreAdj(adj, proc: proc) }
        try ProcessAttributes.apply(spec, proc: proc)
    }

    /// The executable, its arguments and environment (HOME from the container's passwd
    /// when the config sets none, as runc).
    static func resolveCommand(_ process: Spec.Process) throws(ApusError) -> (
        path: String, args: [String], env: [String]
    ) {
        var env = process.env ?? []
        if !env.contains(where: { $0.hasPrefix("HOME=") }) {
            // runc sets HOME from the container's /etc/passwd when the config does not.
            env.append("HOME=" + homeDirectory(uid: process.user.uid))
        }
        let args = process.args ?? []
        guard let command = args.first else {
            throw ApusError("exec", detail: "process.args is empty", field: ".process.args")
        }
        let path = try ProcessSetup.lookPath(command, env: env)
        return (path, args, env)
    }

    /// Waits for `start`; returns the exec fifo's writer (`create`) or -1 (`run`). Without
    /// startContainer hooks a created init waits and execs in C and never returns.
    static func awaitStart(
        _ context: InitContext, hookState: String?, command: (path: String, args: [String], env: [String]),
        lateFilter: SeccompFilter?, ignoredSignals: UInt64?, proc: consuming ProcFS
    ) -> Int32 {
        let spec = context.spec
        let sync = context.sync
        let (path, args, env) = command
        var fifoWriter: Int32 = -1
        switch context.execFifo {
        case let fifo?:
            sync.awaitCommitted()
            // The fifo is reopened for writing through its /proc/self/fd link. Without a mount
            // namespace init is chrooted into a rootfs that has no /proc: the link is then
            // resolved from the host procfs opened before the chroot (kept, close-on-exec).
            var fifoDir = AT_FDCWD
            var fifoPath = procFD(fifo)
            if !context.plan.has(.mount) {
                fifoDir = fcntl(proc.fd, F_DUPFD_CLOEXEC, 3)
                fifoPath = "self/fd/\(fifo)"
            }
            if hookState == nil || (spec.hooks?.startContainer ?? []).isEmpty {
                // Nothing of apus runs after start but the seccomp load and execve: the
                // wait and those happen in C, with init's memory given back first. The
                // path below stays for startContainer hooks.
                // Init's procfs is closed before its memory is given back.
                let pagemap = proc.openForReading("thread-self/pagemap")
                _ = consume proc
                let image = ProcessMemory.reading(pagemap, ProcessMemory.wholeImageRanges)
                ProcessSetup.waitForStartAndExec(
                    fifoDir: fifoDir, fifo: fifoPath, path: path, args: args, env: env, filter: lateFilter,
                    resetSignals: ignoredSignals ?? .max, image: image)
            }
            // Blocks until `apus start` opens the fifo for reading. The writer
            // stays open until execve closes it: `start` waits for that EOF, so
            // poststart runs after the exec and a failed startContainer hook
            // ("E" before EOF) fails `start`. A created container may wait for long:
            // init gives back the clean pages of apus's executable as the wait starts.
            let pagemap = proc.openForReading("thread-self/pagemap")
            _ = consume proc
            let ranges = ProcessMemory.reading(pagemap, ProcessMemory.cleanImageRanges)
            let writer = fifoPath.withCString { path in
                Int32(
                    ProcessMemory.release(
                        ranges, thenSyscall: ProcessMemory.openat, Int(fifoDir), Int(bitPattern: path),
                        Int(O_WRONLY | O_CLOEXEC), 0))
            }
            if writer < 0 { fail(sync, "open exec fifo: \(errorString(errno))") }
            _ = Glibc.write(writer, "0", 1)
            fifoWriter = writer
            close(fifo)
        case nil:
            sync.awaitStart()
        }
        return fifoWriter
    }

    /// startContainer hooks, signals reset, the seccomp filter left for last, execve.
    static func execProcess(
        _ context: InitContext, hookState: String?, command: (path: String, args: [String], env: [String]),
        lateFilter: SeccompFilter?, ignoredSignals: UInt64?, fifoWriter: Int32
    ) -> Never {
        let spec = context.spec
        let sync = context.sync
        let (path, args, env) = command
        // startContainer: after start, in the container, before the user
        // process (runc runs them here too, with the process's credentials).
        if let hookState, let hooks = spec.hooks?.startContainer, !hooks.isEmpty {
            let state = Hooks.state(hookState, status: .created)
            if let error = Hooks.runAll(hooks, kind: "startContainer", state: state) {
                if fifoWriter >= 0 { _ = Glibc.write(fifoWriter, "E", 1) }
                fail(sync, error)
            }
        }
        resetSignals(ignored: ignoredSignals)
        if let filter = lateFilter {
            do {
                // Never a notify filter (`lateFilter`): no listener comes back.
                _ = try filter.load()
            } catch {
                fail(sync, error.description)
            }
        }
        let error = ProcessSetup.exec(path: path, args: args, env: env)
        fail(sync, error.description)
    }

    /// The pty of a process with `terminal: true`, from the container's devpts:
    /// the master goes to the console socket (runc's recvtty protocol) or to
    /// the apus process that proxies it (`proxy`); the slave becomes stdio.
    /// Init also binds the slave onto /dev/console; an exec'd process does not.
    static func attachTerminal(
        _ process: Spec.Process, consoleSocket: Int32, sync: InitEnd, mountOnDevConsole: Bool, proxy: String
    ) throws(ApusError) {
        var console = try Console.open(width: process.consoleSize?.width, height: process.consoleSize?.height)
        if mountOnDevConsole { try console.mountOnDevConsole() }
        if consoleSocket >= 0 {
            if !DescriptorPassing.send(console.master, over: consoleSocket, message: "/dev/ptmx") {
                throw ApusError("send console to --console-socket", errno: errno)
            }
            close(consoleSocket)
        } else if !sync.terminal(console.master) {
            throw ApusError("send console to \(proxy)", errno: errno)
        }
        try console.becomeStdio()
    }

    /// The user's home in the container's /etc/passwd, "/" when there is none.
    static func homeDirectory(uid: UInt32) -> String {
        guard let fields = FileIO.passwdEntry(uid: uid), fields.count > 5, !fields[5].isEmpty else { return "/" }
        return String(fields[5])
    }

    /// Asks the parent to run the prestart and createRuntime hooks, receives
    /// the state JSON, then runs createContainer here, in the container's mount
    /// namespace. Returns the state for startContainer (nil: no hooks at all).
    static func runCreateHooks(_ context: InitContext) throws(ApusError) -> String? {
        let hooks = context.spec.hooks
        guard hooks?.runBeforeStart == true else { return nil }
        guard context.sync.runHooks() else { _exit(1) }
        // EOF instead: a hook failed and the runtime is tearing the container down.
        let state = context.sync.awaitHooksRan()
        if let error = Hooks.runAll(hooks?.createContainer, kind: "createContainer", state: state) {
            throw ApusError(error)
        }
        return state
    }

    /// Loads the filter; a notify listener fd goes to the runtime, which sends
    /// it to listenerPath, and init waits until that is done (runc's procSeccomp).
    static func loadSeccomp(_ filter: SeccompFilter, sync: InitEnd) throws(ApusError) {
        guard let listener = try filter.load() else { return }
        guard sync.seccompListener(listener.raw) else {
            throw ApusError("send seccomp listener fd to the runtime", errno: errno)
        }
        listener.close()
        sync.awaitListenerDelivered()
    }

    /// Default dispositions and an empty mask for the container process: only the ignored
    /// signals need it (execve resets caught ones); all of them when SigIgn was unreadable.
    static func resetSignals(ignored: UInt64?) {
        ProcessControl.resetSignals(ignored ?? .max)
    }

    /// `linux.sysctl`: only keys of namespaces the container owns are allowed
    /// (runc's rule), others would change the host.
    static func applySysctl(_ sysctl: [String: String], proc: borrowing ProcFS) throws(ApusError) {
        for (key, value) in sysctl.sorted(by: { $0.key < $1.key }) {
            let path = "sys/" + key.replacing(substring: ".", with: "/")
            try proc.write(path, value, step: "set sysctl \(key)=\(value) (config.json .linux.sysctl)")
        }
    }
}
