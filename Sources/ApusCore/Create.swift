import ApusLinux
import Glibc
import OCI

/// Options of `create` and `run`, with runc's names.
public struct CreateOptions: Sendable {
    public var bundle: String
    public var pidFile: String?
    public var consoleSocket: String?
    /// `--pidfd-socket` (runc 1.2): a unix socket that gets a pidfd of init (SCM_RIGHTS).
    public var pidfdSocket: String?
    public var noPivot = false
    public var noNewKeyring = false
    public var preserveFds: Int32 = 0

    public init(bundle: String) { self.bundle = bundle }
}

/// A container the parent has created: init is waiting for `start`.
public struct CreatedContainer {
    public var record: ContainerRecord
    public var sync: RuntimeEnd
    /// The pty master when `run` proxies the terminal itself.
    public var terminalMaster: Int32?
    /// `run` sent `start` before `ready` (`Runtime.startsBeforeReady`): init execs once ready.
    public var startSent = false
}

/// Undo list for `create`: everything taken is released if a later step fails,
/// so a failed create leaves the host as it was (design rule 4).
final class Rollback {
    private var actions: [() -> Void] = []
    func add(_ action: @escaping () -> Void) { actions.append(action) }
    func run() {
        for action in actions.reversed() { action() }
        actions.removeAll()
    }
    func disarm() { actions.removeAll() }
}

public struct Runtime {
    public var store: StateStore
    public var log: Logger
    /// Who this runtime is: not root, rootless for cgroups (see `Privilege`).
    public var privilege: Privilege
    /// The global `--systemd-cgroup`: systemd makes the container's cgroup (a transient unit).
    public var systemdCgroup = false

    public init(store: StateStore, log: Logger, privilege: Privilege) {
        self.store = store
        self.log = log
        self.privilege = privilege
    }

    /// Loads and checks the bundle; every problem names its JSON path.
    public func loadBundle(_ bundle: String) throws -> (spec: Spec, bundle: String, rootfs: String) {
        let (spec, bundlePath) = try parseBundle(bundle)
        return (spec, bundlePath, try checkBundle(spec, bundle: bundlePath))
    }

    /// config.json decoded, not validated yet (`checkBundle`).
    func parseBundle(_ bundle: String) throws -> (spec: Spec, bundle: String) {
        let bundlePath = absolutePath(bundle)
        do {
            return (try Spec.load(bundle: bundlePath), bundlePath)
        } catch {
            throw ApusError.wrapping(error)
        }
    }

    /// The spec's problems as one error, else the rootfs's canonical path.
    func checkBundle(_ spec: Spec, bundle bundlePath: String) throws -> String {
        let problems = spec.validate()
        if let first = problems.first {
            let more =
                problems.count > 1
                ? " (and \(problems.count - 1) more problem\(problems.count > 2 ? "s" : ""); run `apus validate` to list them)"
                : ""
            throw ApusError("invalid \(first)\(more)")
        }
        guard let root = spec.root else { throw ApusError("invalid config.json .root: missing") }
        let rootfs = root.path.hasPrefix("/") ? root.path : bundlePath + "/" + root.path
        // The kernel's name of the open directory is its canonical path: three calls,
        // where realpath reads every component as a link.
        guard let opened = OwnedFD.opening({ open(rootfs, OpenFlags.path | OpenFlags.directory | O_CLOEXEC) }) else {
            if errno == ENOTDIR { throw ApusError("rootfs \(rootfs): not a directory (config.json .root.path)") }
            throw ApusError("rootfs \(rootfs)", errno: errno, field: ".root.path")
        }
        let named = FileIO.readLink(procFD(opened.raw))
        return named.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? canonicalPath(rootfs)
    }

    /// `create`: the init process exists in its namespaces and cgroup, set up,
    /// and waits for `start` (or for the sync message when `run` starts it).
    public func create(id: String, options: CreateOptions, trigger: StartTrigger) throws -> CreatedContainer {
        try StateStore.validate(id: id)
        let (spec, bundle) = try parseBundle(options.bundle)
        let joinsPidNamespace = spec.linux?.namespaces?.contains { $0.type == .pid && $0.path?.isEmpty == false }
        try RuntimeBinary.protect(
            bounding: spec.process?.capabilities?.bounding, sharedPidNamespace: joinsPidNamespace == true)
        // A new network namespace in the runtime's user namespace is made while the rest of
        // create runs, from here on (NetnsHelper), config.json's validation included; init
        // joins it. With a user namespace, clone makes it. A create that fails before its
        // clone drops it (the helper's deinit).
        let plan = NamespacePlan(spec.linux?.namespaces ?? [])
        let netnsHelper =
            plan.newKinds.contains(.network) && !plan.has(.user) && !privilege.notRoot ? NetnsHelper.start() : nil
        let rootfs = try checkBundle(spec, bundle: bundle)
        if spec.process == nil && trigger == .syncMessage {
            // create accepts it (config.md: REQUIRED only for start); run starts at once.
            throw ApusError("config.json .process: missing: run starts the container, which needs a process")
        }
        // Before anything exists: without systemd, --systemd-cgroup is an error, never a
        // silent cgroupfs layout (runc: "systemd not running on this host").
        let systemd = systemdCgroup ? try connectSystemd(spec, id: id) : nil
        defer { systemd?.close() }
        let lock = try store.claim(id)
        let rollback = Rollback()
        rollback.add { [store] in store.remove(id) }
        crashPoint("claimed")
        do {
            let created = try createClaimed(
                id: id, spec: spec, bundle: bundle, rootfs: rootfs, options: options, trigger: trigger,
                systemd: systemd, netnsHelper: netnsHelper, lockFD: lock.fd, rollback: rollback)
            rollback.disarm()
            withExtendedLifetime(lock) {}
            return created
        } catch {
            rollback.run()
            throw error
        }
    }

    /// What `create` holds from its first phase to its last: the record and every
    /// descriptor opened for init. The descriptors are owned here: closed in `commit` once
    /// init has its copies, or when a failed create drops the work.
    private struct CreateWork: ~Copyable {
        var spec: Spec
        var linux: Spec.Linux
        var plan: NamespacePlan
        var lastCap: Int
        var capabilities: CapabilitySets
        /// One creation time for the hooks' state and the record.
        var createdAt: String
        var execFifo: OwnedFD?
        var cgroupChoice: Privilege.CgroupChoice
        var cgroup: CgroupManager?
        /// The part of the cgroup made after the clone (`beginCgroup`, `CgroupManager.finishCreate`).
        var pendingCgroup: CgroupManager.PendingCreate?
        /// With --systemd-cgroup: the unit that makes `cgroup`, started once init exists.
        var systemd: SystemdDriver?
        var record: ContainerRecord
        /// The record's file until the commit (`StateStore.saveCreating`).
        var creating: CreatingRecord?
        /// The connected --console-socket; nil without one.
        var consoleSocket: OwnedFD?
        var pidfdSocket: OwnedFD?
        /// The id-mapped trees and the namespace files to join (`idmappedTrees`, `joins`).
        var held: OwnedFDs
        var idmappedTrees: [Int: Int32]
        var joins: [(kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int)]
        /// The new network namespace is the helper's and its lo is up (NetnsHelper).
        var loopbackUp: Bool
        var parentEnd: RuntimeEnd
        var childEnd: InitEnd
    }

    /// create in its four phases: prepare (cgroup, record, sockets, namespace files),
    /// spawn (init cloned, mapped, placed), supervise (init's messages until `ready`),
    /// commit (the record gets init's pid; the pid file, `committed`). The handshake with
    /// init is in docs/architecture.md.
    private func createClaimed(
        id: String, spec: Spec, bundle: String, rootfs: String, options: CreateOptions, trigger: StartTrigger,
        systemd: SystemdDriver?, netnsHelper: NetnsHelper?, lockFD: Int32, rollback: Rollback
    ) throws -> CreatedContainer {
        var work = try prepare(
            id: id, spec: spec, bundle: bundle, rootfs: rootfs, options: options, trigger: trigger, systemd: systemd,
            netnsHelper: netnsHelper, rollback: rollback)
        let pid = try spawn(&work, options: options, lockFD: lockFD, rollback: rollback)
        // Read while init sets itself up, when the runtime has nothing else to do: init's
        // start time for the record, unless init forks again into a joined pid namespace.
        let bornStat = ProcessStat.read(pid: pid)
        // The committed record too (it only lacks init's pid), so that after `ready` only
        // its write and rename stand between init and its start (and nothing, for most `run`s).
        let started = bornStat.map { work.record.started(pid: pid, stat: $0) }
        let committed = started.flatMap { try? store.encode($0) }
        var startSent = false
        if let started, let committed,
            Self.startsBeforeReady(spec, trigger: trigger, plan: work.plan, joins: work.joins),
            let creating = work.creating.take()
        {
            // `run`, when nothing but `ready` is left to hear from init: the record is committed
            // and `start` queued while init sets up, so init execs right after `ready` with no
            // round trip. Killed before the send, init dies with the runtime; after it, the
            // container runs on, recorded, for `delete --force`. A failed send means init has
            // exited: `awaitReady` reads why.
            try store.commitCreating(creating, started, encoded: committed)
            crashPoint("saved")
            _ = work.parentEnd.start()
            startSent = true
        }
        let (initPid, terminalMaster) = try awaitReady(
            pid: pid, sync: work.parentEnd, spec: spec, id: id, bundle: bundle, rootfs: rootfs,
            created: work.createdAt, rootless: work.record.rootless, cgroup: work.cgroup,
            cgroupChoice: work.cgroupChoice, rollback: rollback)
        crashPoint("ready")
        return try commit(
            work, initPid: initPid, stat: initPid == pid ? bornStat : nil, encoded: initPid == pid ? committed : nil,
            terminalMaster: terminalMaster, options: options, startSent: startSent)
    }

    /// Whether `run` may send `start` before init is ready: init then expects no other message
    /// from the runtime. Hooks (`runHooks`), a seccomp notify filter (`listenerDelivered`) and
    /// a second fork into a joined pid namespace (`initPid`, joined to the cgroup) all need the
    /// runtime between the clone and `ready`.
    static func startsBeforeReady(
        _ spec: Spec, trigger: StartTrigger, plan: NamespacePlan,
        joins: [(kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int)]
    ) -> Bool {
        guard trigger == .syncMessage, !forksAgainForPid(plan, joins: joins), spec.hooks?.runBeforeStart != true
        else { return false }
        guard let seccomp = spec.linux?.seccomp else { return true }
        return seccomp.listenerPath == nil && seccomp.defaultAction != "SCMP_ACT_NOTIFY"
            && !(seccomp.syscalls ?? []).contains { $0.action == "SCMP_ACT_NOTIFY" }
    }

    /// Everything taken before init exists: the exec fifo, the cgroup (the process is
    /// placed there before it runs any code of the container), a record with pid 0, the
    /// sockets, id-mapped trees and the namespace files to join.
    private func prepare(
        id: String, spec: Spec, bundle: String, rootfs: String, options: CreateOptions, trigger: StartTrigger,
        systemd: SystemdDriver?, netnsHelper: NetnsHelper?, rollback: Rollback
    ) throws -> CreateWork {
        let linux = spec.linux ?? Spec.Linux()
        var plan = NamespacePlan(linux.namespaces ?? [])
        let lastCap = lastCapability()
        let capabilities = try CapabilitySets(spec.process?.capabilities, lastCap: lastCap, warn: { log.warn($0) })
        let createdAt = Timestamp.now().rfc3339
        let execFifo = trigger == .execFifo ? try makeExecFifo(id: id) : nil
        // With systemd, the cgroup is the unit's: systemd makes it once init exists (spawn);
        // until then only its place is known.
        let cgroupChoice =
            systemd != nil
            ? .required : privilege.cgroupChoice(cgroupsPath: linux.cgroupsPath, resources: linux.resources)
        // As root, without a user namespace: the v1 directories and the limits are made after
        // the clone, while init sets up its mounts (`CgroupManager.finishCreate`); a new cgroup
        // namespace is made once init is in them (`ContainerInit.awaitCgroup`).
        let defersCgroup =
            systemd == nil && cgroupChoice == .required && !plan.has(.user) && !privilege.rootlessCgroups
        var pendingCgroup: CgroupManager.PendingCreate? = nil
        let cgroup: CgroupManager?
        if let systemd {
            cgroup = try systemd.resolveCgroup()
        } else if defersCgroup {
            (cgroup, pendingCgroup) = try beginCgroup(linux: linux, id: id, rollback: rollback)
        } else {
            cgroup = try createCgroup(choice: cgroupChoice, linux: linux, id: id, rollback: rollback)
        }

        // A record before any process exists, with pid 0 ("creating"): if apus dies from
        // here on, delete finds the cgroup to remove; init exits on the sync socket's EOF.
        var record = ContainerRecord(
            id: id, pid: 0, pidStartTime: 0, bundle: bundle, rootfs: rootfs,
            created: createdAt, owner: "", annotations: spec.annotations,
            ociVersion: spec.ociVersion, cgroup: cgroup, hooks: spec.hooks,
            ownPidNamespace: plan.newKinds.contains(.pid), rootless: privilege.rootlessCgroups,
            namespaceKinds: plan.newKinds.map(\.rawValue).sorted())
        record.process = spec.process
        record.seccomp = linux.seccomp
        record.memoryPolicy = linux.memoryPolicy
        record.systemd = systemd?.unit
        let creating = try store.saveCreating(record)
        crashPoint("recorded")

        let consoleSocket = try connectConsole(spec, options: options, trigger: trigger)
        // Connected before anything runs, so a socket nobody listens on fails create at once.
        var pidfdSocket: OwnedFD? = nil
        if let path = options.pidfdSocket { pidfdSocket = try connectUnixSocket(path, purpose: "pidfd socket") }
        var held = OwnedFDs()
        let idmappedTrees = try IDMappedMounts.prepare(spec, bundle: bundle, into: &held)
        var joins = try openNamespaceFiles(plan, into: &held)
        try checkPtraceIntoJoinedPidNamespace(spec, joins: joins)
        let (parentEnd, childEnd) = try Handshake.pair()
        rollback.add { parentEnd.close() }
        var loopbackUp = false
        if let netnsHelper, let made = netnsHelper.finish(),
            let index = linux.namespaces?.firstIndex(where: { $0.type == .network && ($0.path ?? "").isEmpty })
        {
            joins.append((.network, held.hold(made), index))
            plan.cloneFlags &= ~Spec.Linux.Namespace.Kind.network.cloneFlag
            loopbackUp = netnsHelper.loopbackUp
        }
        return CreateWork(
            spec: spec, linux: linux, plan: plan, lastCap: lastCap, capabilities: capabilities, createdAt: createdAt,
            execFifo: execFifo,
            cgroupChoice: cgroupChoice, cgroup: cgroup, pendingCgroup: pendingCgroup, systemd: systemd,
            record: record, creating: creating,
            consoleSocket: consoleSocket,
            pidfdSocket: pidfdSocket, held: held, idmappedTrees: idmappedTrees, joins: joins,
            loopbackUp: loopbackUp, parentEnd: parentEnd, childEnd: childEnd)
    }

    /// Init cloned into its namespaces and cgroup, its id maps written and network devices
    /// moved, then `proceed`; the runtime's cgroup writes while init mounts its rootfs, then
    /// `inCgroup`. Returns the cloned pid.
    private func spawn(_ work: inout CreateWork, options: CreateOptions, lockFD: Int32, rollback: Rollback) throws
        -> Int32
    {
        let plan = work.plan
        let forkAgainForPid = Self.forksAgainForPid(plan, joins: work.joins)
        let ownPidNamespace = try joinPidNamespaceForClone(plan, joins: work.joins)
        var context = InitContext(
            spec: work.spec, bundle: work.record.bundle, rootfs: work.record.rootfs, plan: plan, joins: work.joins,
            sync: work.childEnd, execFifo: work.execFifo.rawOrNil, consoleSocket: work.consoleSocket.raw,
            cgroupView: work.cgroup?.mountView ?? CgroupMountView.withoutContainerCgroup(),
            noPivot: options.noPivot, preserveFds: options.preserveFds, lastCap: work.lastCap,
            capabilities: work.capabilities, forkAgainForPid: forkAgainForPid, lockFD: lockFD,
            idmappedTrees: work.idmappedTrees)
        // With systemd the cgroup does not exist before the unit, which needs init's pid:
        // init is cloned outside it and systemd moves it (`SystemdDriver.start`).
        var entry = CgroupEntry.decide(
            work.systemd == nil ? work.cgroup : nil, runtimeWrites: work.record.rootless,
            childJoinsV1: !plan.has(.user) && !forkAgainForPid)
        context.cgroupSelfJoin = entry.selfJoined
        context.setgroups = privilege.setgroupsRule(containerUserNamespace: plan.has(.user))
        context.cgroupMadeAfterClone = work.systemd != nil
        context.cgroupFinishedAfterClone = work.pendingCgroup != nil
        context.loopbackUp = work.loopbackUp
        context.bornUndumpable = !privilege.notRoot

        let (pid, bornInUnified) = try cloneInit(
            context, plan: plan, notRoot: privilege.notRoot, entry: &entry, ownPidNamespace: ownPidNamespace,
            childEnd: work.childEnd)
        crashPoint("cloned")
        rollback.add {
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        if plan.has(.user) && plan.newKinds.contains(.user) {
            try writeIDMappings(pid: pid, linux: work.linux, notRoot: privilege.notRoot)
        }
        try moveNetDevices(work.linux, plan: plan, joins: work.joins, initPid: pid)
        guard work.parentEnd.proceed() else {
            throw ApusError("container init exited before setup: \(reap(pid))")
        }
        crashPoint("proceeded")
        // While init mounts its rootfs: on cgroup v1 the first write to cgroup.procs can
        // wait for an RCU grace period (5 to 14 ms measured here after a few idle ms).
        // Init waits for `inCgroup` before anything that forks, execs or depends on its
        // cgroup (ContainerInit.setUp).
        if let cgroup = work.cgroup, let systemd = work.systemd {
            try systemd.start(
                pid: pid, cgroup: cgroup, linux: work.linux, annotations: work.spec.annotations, rollback: rollback,
                warn: { log.warn($0) })
        } else if let cgroup = work.cgroup {
            if let pending = work.pendingCgroup.take() {
                try cgroup.finishCreate(pending) { log.warn($0) }
            }
            let joins = entry.runtimeJoins(bornInUnified: bornInUnified)
            try joinCgroup(
                cgroup, pid: pid, choice: work.cgroupChoice, includingV1: joins.v1, includingUnified: joins.unified)
        }
        // A failed send means init has exited: the supervision reads why.
        _ = work.parentEnd.inCgroup()
        if context.cgroupFinishedAfterClone, var creating = work.creating.take() {
            // While init sets up: the record names the directories made since prepare.
            try store.rewriteCreating(&creating, work.record)
            work.creating = consume creating
        }
        crashPoint("placed")
        return pid
    }

    /// Init is ready: the descriptors it needed are closed, the record gets its pid, the
    /// pidfd and pid file are handed out, and a created init learns it is committed.
    private func commit(
        _ work: consuming CreateWork, initPid: Int32, stat early: ProcessStat?, encoded: [UInt8]?,
        terminalMaster: Int32?, options: CreateOptions, startSent: Bool
    ) throws -> CreatedContainer {
        // `create` (not `run`): init waits for `committed` below, then on the fifo.
        let waitsOnFifo = work.execFifo != nil
        work.held.closeAll()
        work.execFifo = nil
        work.consoleSocket = nil

        guard let stat = early ?? ProcessStat.read(pid: initPid) else {
            throw ApusError("container init \(initPid) vanished after setup")
        }
        let record = work.record.started(pid: initPid, stat: stat)
        if !startSent {
            // The whole record again: the cgroup directories made since prepare (the systemd
            // driver makes the v1 ones systemd leaves out once the unit exists) are in it now.
            guard let creating = work.creating.take() else {
                throw ApusError("create \(record.id): no record to commit")
            }
            try store.commitCreating(creating, record, encoded: encoded)
            crashPoint("saved")
        }
        if let pidfdSocket = work.pidfdSocket.take() {
            try sendPidfd(of: initPid, to: pidfdSocket.raw, name: "standard")
        }
        if let pidFile = options.pidFile {
            do {
                try FileIO.writeAtomically(absolutePath(pidFile), bytes: Array(String(initPid).utf8), mode: 0o644)
            } catch {
                throw ApusError("write pid file", cause: error)
            }
        }
        if waitsOnFifo, !work.parentEnd.committed() {
            throw ApusError("container init exited after setup, before start")
        }
        return CreatedContainer(
            record: record, sync: work.parentEnd, terminalMaster: terminalMaster, startSent: startSent)
    }

    /// The clone of init, which continues in `ContainerInit.run`; the parent restores its
    /// own pid namespace and dumpability. Returns init's pid and whether it was born in
    /// its v2 cgroup.
    private func cloneInit(
        _ context: InitContext, plan: NamespacePlan, notRoot: Bool, entry: inout CgroupEntry,
        ownPidNamespace: consuming OwnedFD?, childEnd: InitEnd
    ) throws -> (pid: Int32, bornInUnified: Bool) {
        // With a joined user namespace, the new namespaces are unshared in the
        // child after setns(user); otherwise clone creates them at once.
        let flags = plan.joinsUser ? 0 : plan.cloneFlags
        assertSingleThreaded()
        // The runtime's memory and /proc/<pid>/exe must not be reachable from
        // the container while init is still apus (CVE-2019-5736): non-dumpable
        // until execve. Not root, the parent must still write the child's
        // /proc files (uid_map), so the child turns it off itself right after. uid 0 of a
        // user namespace writes them with its capabilities there, so it hides itself too.
        if !notRoot { ProcessControl.setDumpable(false) }
        let (pid, bornInUnified) = CgroupManager.clone(
            flags: UInt32(bitPattern: flags), bornIn: entry.unifiedDirectory.raw)
        if pid == 0 {
            // The runtime's end goes with every other inherited fd (closeInheritedFiles).
            ContainerInit.run(context)
        }
        let cloneErrno = errno
        entry.closeDirectory()
        if !notRoot { ProcessControl.setDumpable(true) }
        leavePidNamespace(ownPidNamespace)
        childEnd.close()
        if pid < 0 {
            var hint = ""
            if cloneErrno == EPERM && notRoot && !plan.has(.user) {
                hint =
                    " (not root and no user namespace in config.json .linux.namespaces: `apus spec --rootless` writes one)"
            }
            throw ApusError(
                "clone init with namespaces \(plan.newKinds.map(\.rawValue).sorted()): \(errorString(cloneErrno))"
                    + hint)
        }
        return (pid, bornInUnified)
    }

    /// Serves init's messages until `ready`: warnings, its console, the hooks the runtime
    /// runs, the seccomp listener, the pid of a real init forked into its pid namespace.
    /// Returns init's pid and the pty master (without --console-socket).
    private func awaitReady(
        pid: Int32, sync parentEnd: RuntimeEnd, spec: Spec, id: String, bundle: String, rootfs: String,
        created createdAt: String, rootless: Bool, cgroup: CgroupManager?,
        cgroupChoice: Privilege.CgroupChoice, rollback: Rollback
    ) throws -> (initPid: Int32, terminalMaster: Int32?) {
        var initPid = pid
        var terminalMaster: Int32? = nil
        waiting: while true {
            guard let message = parentEnd.next() else {
                throw ApusError("container init exited during setup: \(reap(pid))")
            }
            switch message {
            case .ready: break waiting
            case .failure(let text): throw ApusError(text)
            case .warning(let text): log.warn(text)
            case .terminal(let fd): terminalMaster = fd
            case .runHooks:
                try runCreateHooks(
                    spec: spec, id: id, pid: initPid, bundle: bundle, rootfs: rootfs, created: createdAt,
                    rootless: rootless, sync: parentEnd, rollback: rollback)
            case .seccompListener(let fd):
                // init waits for this before it goes on (runc's procSeccomp).
                // The listener init sent is ours to close.
                try SeccompListener.send(
                    listener: OwnedFD(adopting: fd), spec: spec, id: id, initPid: initPid, bundle: bundle)
                guard parentEnd.listenerDelivered() else {
                    throw ApusError("container init exited during setup: \(reap(pid))")
                }
            case .initPid(let real):
                _ = reap(pid)
                initPid = real
                rollback.add { Glibc.kill(real, SIGKILL) }
                if let cgroup { try joinCgroup(cgroup, pid: real, choice: cgroupChoice) }
            default: throw ApusError("unexpected message from container init")
            }
        }
        return (initPid, terminalMaster)
    }

    /// `linux.netDevices` into init's network namespace before it goes on (runc 1.5 moves
    /// them at the same point): a new one exists since clone, a joined one is the fd opened
    /// for the join. A failed move leaves the device on the host.
    private func moveNetDevices(
        _ linux: Spec.Linux, plan: NamespacePlan, joins: [(kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int)],
        initPid: Int32
    )
        throws
    {
        guard let devices = linux.netDevices, !devices.isEmpty else { return }
        if let joined = joins.first(where: { $0.kind == .network }) {
            return try NetDevices.move(devices, into: joined.fd)
        }
        guard !plan.joinsUser else {
            // Its namespaces are made by init itself after joining the user namespace.
            throw ApusError(
                "move network devices", detail: "not supported with a joined user namespace",
                field: ".linux.netDevices")
        }
        let namespace = try OwnedFD.open("open init's network namespace", field: ".linux.netDevices") {
            open("/proc/\(initPid)/ns/net", O_RDONLY | O_CLOEXEC)
        }
        try NetDevices.move(devices, into: namespace.raw)
    }

    /// `--systemd-cgroup`: the unit cgroupsPath names (`slice:prefix:name`) and a connection
    /// to the bus systemd answers on; an error saying what to do when there is none.
    private func connectSystemd(_ spec: Spec, id: String) throws -> SystemdDriver {
        let rootless = privilege.rootlessCgroups
        let connection = try SystemdBus.choose(rootless: rootless).connect()
        do {
            var unit = try SystemdUnit.from(cgroupsPath: spec.linux?.cgroupsPath, id: id, rootless: rootless)
            unit.address = connection.address
            return SystemdDriver(unit: unit, manager: SystemdManager(connection))
        } catch {
            connection.close()
            throw error
        }
    }

    /// The exec fifo: `start` opens it for reading, which lets init exec.
    private func makeExecFifo(id: String) throws -> OwnedFD {
        let fifo = store.fifoPath(id)
        let oldMask = umask(0)
        let rc = mkfifo(fifo, 0o622)
        umask(oldMask)
        if rc < 0 { throw ApusError("create exec fifo \(fifo)", errno: errno) }
        return try OwnedFD.open("open exec fifo \(fifo)") { open(fifo, OpenFlags.path | O_CLOEXEC) }
    }

    /// The container's cgroup as `choice` says; nil without one. Rootless, a permission
    /// error is a warning when nothing needs the cgroup (runc's rootless cgroup manager),
    /// and an error naming the limit and what to change when one does.
    func createCgroup(choice: Privilege.CgroupChoice, linux: Spec.Linux, id: String, rollback: Rollback)
        throws -> CgroupManager?
    {
        if choice == .skipped { return nil }
        do {
            let manager = try CgroupManager.resolve(cgroupsPath: linux.cgroupsPath, id: id)
            // Rootless, device rules are not written (runc's rootless manager passes over
            // their errors): no one but root may, and a refused write would cost the
            // container its cgroup when it asked for a cgroupsPath.
            let rootless = choice != .required
            var resources = linux.resources
            if rootless { resources?.devices = nil }
            try manager.checkEmpty()
            try manager.create(resources: resources, includeDevices: !rootless) { log.warn($0) }
            rollback.add { try? manager.destroy() }
            return manager
        } catch {
            guard case .bestEffort(let limit) = choice, Privilege.isPermissionError(error.errno) else {
                throw error
            }
            if let limit { throw Self.rootlessLimitError(error, limit: limit) }
            log.warn("rootless: container runs without a cgroup of its own: \(error)")
            return nil
        }
    }

    /// As root: the cgroup checked and planned, its v2 directory made (init is cloned into
    /// it); the rest is `CgroupManager.finishCreate` after the clone.
    private func beginCgroup(linux: Spec.Linux, id: String, rollback: Rollback) throws -> (
        CgroupManager, CgroupManager.PendingCreate
    ) {
        let manager = try CgroupManager.resolve(cgroupsPath: linux.cgroupsPath, id: id)
        try manager.checkEmpty()
        let pending = try manager.beginCreate(resources: linux.resources)
        rollback.add { try? manager.destroy() }
        return (manager, pending)
    }

    static func rootlessLimitError(_ error: ApusError, limit: String) -> ApusError {
        var step = error
        step.field = nil
        return ApusError(
            "\(step): rootless apus cannot apply the limit of config.json \(limit) without a cgroup this "
                + "user may write: remove that limit, or set .linux.cgroupsPath to a cgroup delegated to "
                + "this user (cgroup v2)")
    }

    /// Places `pid` in the container's cgroup. Rootless (`.bestEffort`), a join refused
    /// for lack of permission (a cgroup that already existed, root's) is a warning when
    /// no limit needs the cgroup, as a refused create is, and the process runs outside
    /// that hierarchy's cgroup; with a limit it is the error naming it. runc's rootless
    /// manager passes such errors over only without cgroupsPath; apus treats a
    /// cgroupsPath without limits the same, as its create already does.
    func joinCgroup(
        _ cgroup: CgroupManager, pid: Int32, choice: Privilege.CgroupChoice, includingV1: Bool = true,
        includingUnified: Bool = true
    ) throws {
        guard case .bestEffort(let limit) = choice else {
            try cgroup.join(pid: pid, includingV1: includingV1, includingUnified: includingUnified)
            return
        }
        do {
            let passedOver = try cgroup.join(
                pid: pid, includingV1: includingV1, includingUnified: includingUnified,
                tolerating: { limit == nil && Privilege.isPermissionError($0) })
            for error in passedOver { log.warn("rootless: container runs outside its cgroup there: \(error)") }
        } catch {
            guard let limit, Privilege.isPermissionError(error.errno) else { throw error }
            throw Self.rootlessLimitError(error, limit: limit)
        }
    }

    /// The connected --console-socket for `terminal: true`, or nil; runc's refusals.
    private func connectConsole(_ spec: Spec, options: CreateOptions, trigger: StartTrigger) throws -> OwnedFD? {
        if spec.process?.terminal == true {
            if let path = options.consoleSocket {
                return try connectUnixSocket(path)
            } else if trigger == .execFifo {
                throw ApusError("cannot allocate tty if runc will detach without setting console socket")
                    .replacingRunc()
            }
        } else if options.consoleSocket != nil {
            throw ApusError("cannot use console socket if apus will not detach or allocate tty")
        }
        return nil
    }

    /// A container with CAP_SYS_PTRACE may not join a pid namespace where apus runs
    /// (CVE-2019-5736). The namespace checked is the one joined: the fd, not the path,
    /// which may change.
    private func checkPtraceIntoJoinedPidNamespace(
        _ spec: Spec, joins: [(kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int)]
    ) throws {
        guard let pidJoin = joins.first(where: { $0.kind == .pid }),
            RuntimeBinary.allowsPtrace(spec.process?.capabilities?.bounding)
        else { return }
        let field = ".linux.namespaces[\(pidJoin.index)].path"
        let path = spec.linux?.namespaces?[pidJoin.index].path ?? ""
        guard let target = FileIdentity(fd: pidJoin.fd) else {
            throw ApusError("stat pid namespace \(path)", errno: errno, field: field)
        }
        try RuntimeBinary.admitPtrace(intoPidNamespace: target, store: store) { found in
            ApusError(
                "join pid namespace \(path): \(found.reason); a container with CAP_SYS_PTRACE could reach "
                    + "the runtime binary through that process's /proc/PID/exe (CVE-2019-5736) (config.json \(field))"
            )
        }
    }

    /// Joining a pid namespace only sets the namespace of our children: it is set on the
    /// parent around clone (returns our own to restore, or nil), or, with a joined user
    /// namespace, init forks again into it (`forkAgainForPid`).
    private func joinPidNamespaceForClone(
        _ plan: NamespacePlan, joins: [(kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int)]
    ) throws -> OwnedFD? {
        guard let pidJoin = joins.first(where: { $0.kind == .pid }), !plan.joinsUser else { return nil }
        let ownPidNamespace = OwnedFD.opening { open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC) }
        try sys("join pid namespace", field: ".linux.namespaces[\(pidJoin.index)].path") {
            NamespaceCall.enter(pidJoin.fd, NamespaceCall.newPID)
        }
        return ownPidNamespace
    }

    /// Whether init forks again to be in its pid namespace: a pid namespace it makes after
    /// joining a user namespace, or one it joins itself from inside a joined user namespace.
    private static func forksAgainForPid(
        _ plan: NamespacePlan, joins: [(kind: Spec.Linux.Namespace.Kind, fd: Int32, index: Int)]
    ) -> Bool {
        guard joins.contains(where: { $0.kind == .pid }) else { return plan.joinsUser && plan.newKinds.contains(.pid) }
        return plan.joinsUser
    }

    /// prestart and createRuntime hooks, in the runtime namespace, once init
    /// has its namespaces and mounts and waits before pivot_root; then init gets
    /// the state for the hooks it runs itself. From here on a failure runs the
    /// poststop hooks: the spec continues the lifecycle at its poststop step.
    func runCreateHooks(
        spec: Spec, id: String, pid: Int32, bundle: String, rootfs: String, created: String, rootless: Bool,
        sync: RuntimeEnd, rollback: Rollback
    ) throws {
        let creating = ContainerRecord(
            id: id, pid: pid, pidStartTime: 0, bundle: bundle, rootfs: rootfs, created: created,
            owner: "", annotations: spec.annotations, ociVersion: spec.ociVersion,
            cgroup: nil, hooks: spec.hooks, ownPidNamespace: false, rootless: rootless, namespaceKinds: nil)
        rollback.add { [self] in
            Glibc.kill(pid, SIGKILL)
            runHooks(spec.hooks?.poststop, kind: "poststop", record: creating, status: .stopped, fatal: false)
        }
        let state = stateJSON(creating, status: .creating, pretty: false)
        if let error = Hooks.runAll(spec.hooks?.prestart, kind: "prestart", state: state) {
            throw ApusError(error)
        }
        if let error = Hooks.runAll(spec.hooks?.createRuntime, kind: "createRuntime", state: state) {
            throw ApusError(error)
        }
        guard sync.hooksRan(state: state) else {
            throw ApusError("container init exited during setup: \(reap(pid))")
        }
    }

    /// uid_map/gid_map of the child, written from outside its user namespace. A user who
    /// is not root and maps more than its own id goes through newuidmap/newgidmap, which
    /// check /etc/subuid and /etc/subgid (runc does the same).
    func writeIDMappings(pid: Int32, linux: Spec.Linux, notRoot: Bool) throws {
        let uids = linux.uidMappings ?? []
        let gids = linux.gidMappings ?? []
        let uidHelper = notRoot && Self.needsHelper(uids, own: geteuid()) ? IDMapHelper.find("newuidmap") : nil
        let gidHelper = notRoot && Self.needsHelper(gids, own: getegid()) ? IDMapHelper.find("newgidmap") : nil
        if notRoot && gidHelper == nil {
            // An unprivileged writer must deny setgroups before writing gid_map. uid 0 of
            // a user namespace has CAP_SETGID there, which is what the kernel asks;
            // newgidmap, setuid root, has it over the parent namespace.
            try FileIO.write("/proc/\(pid)/setgroups", "deny", step: "deny setgroups in the user namespace")
        }
        for (kind, maps, own, helper) in [("uid", uids, geteuid(), uidHelper), ("gid", gids, getegid(), gidHelper)]
        where !maps.isEmpty {
            let field = ".linux.\(kind)Mappings"
            do {
                if let helper {
                    try IDMapHelper.run(
                        helper, pid: pid, mappings: maps.map { ($0.containerID, $0.hostID, $0.size) },
                        step: "write \(kind) mappings with", field: field)
                } else {
                    try FileIO.write(
                        "/proc/\(pid)/\(kind)_map",
                        maps.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joinedText(),
                        step: "write \(kind) mappings (config.json \(field))")
                }
            } catch {
                throw Self.explainUnprivilegedMapping(
                    error, kind: kind, own: own, notRoot: notRoot, helper: helper != nil)
            }
        }
    }

    /// More than the writer's own id, once: what only a privileged writer may map.
    static func needsHelper(_ maps: [Spec.Linux.IDMapping], own: UInt32) -> Bool {
        !maps.isEmpty && !(maps.count == 1 && maps[0].hostID == own && maps[0].size == 1)
    }

    /// What to change when a user who is not root could not map its ids: the ranges
    /// newuidmap/newgidmap refused (none in /etc/subuid for this user, or ids outside
    /// them), or no helper installed.
    static func explainUnprivilegedMapping(
        _ error: ApusError, kind: String, own: UInt32, notRoot: Bool, helper: Bool
    ) -> ApusError {
        guard notRoot else { return error }
        var explained = error
        let file = "/etc/sub\(kind)"
        if helper {
            let said = error.detail.map { $0 + ": " } ?? ""
            explained.detail =
                said + "the ids mapped must lie in this user's ranges in \(file) (add one, e.g. "
                + "usermod --add-sub\(kind)s 100000-165535 USER) or map only \(kind) \(own)"
        } else if error.errno == EPERM {
            explained.detail =
                "a user other than root may map only its own \(kind) (\(own)) with size 1 unless new\(kind)map "
                + "is installed (apt-get install uidmap) and \(file) gives it a range: map only \(kind) \(own), "
                + "or install uidmap"
        }
        return explained
    }
}

extension ApusError {
    func replacingRunc() -> ApusError {
        ApusError(description.replacing(substring: "runc", with: "apus"))
    }
}

/// Waits for a child that died during setup and describes how it ended.
func reap(_ pid: Int32) -> String {
    var status: Int32 = 0
    if retryingEINTR({ waitpid(pid, &status, 0) }) < 0 { return "unknown status" }
    return describe(waitStatus: status)
}

func describe(waitStatus status: Int32) -> String {
    if status & 0x7f == 0 { return "exit status \((status >> 8) & 0xff)" }
    return "killed by signal \(status & 0x7f)"
}

/// Exit code of a finished process the way shells report it.
public func exitCode(waitStatus status: Int32) -> Int32 {
    if status & 0x7f == 0 { return (status >> 8) & 0xff }
    return 128 + (status & 0x7f)
}

/// A pidfd of `pid` sent over `socket` as runc sends it: SCM_RIGHTS with the process's kind
/// as the message ("standard" for init, "setns" for an exec'd process).
func sendPidfd(of pid: Int32, to socket: Int32, name: String) throws {
    let pidfd = try OwnedFD.open("open a pidfd of process \(pid) for --pidfd-socket") { RawSyscall.pidfdOpen(pid) }
    if !DescriptorPassing.send(pidfd.raw, over: socket, message: name) {
        throw ApusError("send the pidfd of process \(pid) to --pidfd-socket", errno: errno)
    }
}

func connectUnixSocket(_ path: String, purpose: String = "console socket") throws(ApusError) -> OwnedFD {
    let fd = try OwnedFD.open("\(purpose) \(path)") {
        socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        throw ApusError("\(purpose) \(path): path too long")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
    }
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd.raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    if rc < 0 { throw ApusError("connect to \(purpose) \(path)", errno: errno) }
    return fd
}

public func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buffer = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    let cwd = String(cString: buffer)
    if path == "." || path.isEmpty { return cwd }
    return cwd + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
}

func canonicalPath(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// User name for `list`'s OWNER column, read from /etc/passwd (static glibc
/// cannot use NSS).
public func userName(uid: uid_t) -> String {
    FileIO.passwdEntry(uid: uid).map { String($0[0]) } ?? String(uid)
}

/// Rule 1 of the design: no threads before clone. Checked in debug builds.
func assertSingleThreaded() {
    #if DEBUG
        if let status = FileIO.readString("/proc/self/status"),
            let threads = ProcFS.statusField("Threads", in: status), threads != "1"
        {
            printError("apus: internal error: more than one thread before clone (Threads: \(threads))")
            _exit(70)
        }
    #endif
}
