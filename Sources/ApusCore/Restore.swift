import ApusLinux
import CRIU
import Glibc
import OCI

/// `restore`'s options, with runc's names.
public struct RestoreOptions: Sendable {
    public var imagePath: String
    public var workPath: String?
    public var bundle: String
    public var detach = false
    public var pidFile: String?
    public var consoleSocket: String?
    public var noSubreaper = false
    public var noPivot = false
    public var tcpEstablished = false
    public var extUnixSk = false
    public var shellJob = false
    public var fileLocks = false
    public var manageCgroupsMode: String?
    public var emptyNamespaces: [String] = []
    public var autoDedup = false
    public var lsmProfile: String?
    public var lsmMountContext: String?
    public var criu: String?

    public init(imagePath: String, bundle: String) {
        self.imagePath = imagePath
        self.bundle = bundle
    }
}

extension Runtime {
    /// `restore`: a new container `id` from the bundle, its processes restored by criu from
    /// the image directory. The state handling is create's: the id is claimed, the cgroup
    /// made and a `creating` record saved before criu runs, and all of it rolled back when
    /// criu fails. Returns init's exit code when not detached (it is waited for, then the
    /// container deleted, as `run` does), else nil.
    public func restore(id: String, options: RestoreOptions) throws -> Int32? {
        try StateStore.validate(id: id)
        if FileIO.exists(store.directory(id)) { throw ApusError("container \"\(id)\" already exists") }
        let imagePath = absolutePath(options.imagePath)
        guard FileIO.exists(imagePath + "/inventory.img") else {
            throw ApusError(
                "restore from \(imagePath)",
                detail: FileIO.isDirectory(imagePath)
                    ? "not a checkpoint image directory (no inventory.img)" : "no such directory")
        }
        let criu = try Binary.find(explicit: options.criu)
        _ = try criu.checkedVersion()
        let (spec, bundle, rootfs) = try loadBundle(options.bundle)
        if spec.process?.terminal == true && options.consoleSocket == nil {
            throw ApusError("restore \(id)", detail: "terminal: true needs --console-socket for the restored pty")
        }
        if !options.detach && !options.noSubreaper { _ = ProcessControl.becomeChildSubreaper() }
        let lock = try store.claim(id)
        let rollback = Rollback()
        rollback.add { [store] in store.remove(id) }
        let record: ContainerRecord
        do {
            record = try restoreClaimed(
                id: id, spec: spec, bundle: bundle, rootfs: rootfs, criu: criu, options: options,
                imagePath: imagePath, rollback: rollback)
            rollback.disarm()
        } catch {
            rollback.run()
            throw error
        }
        // Released before waiting: the container is another command's to kill or delete
        // meanwhile, and the delete below takes the lock again.
        lock.unlock()
        lock.release()
        guard !options.detach else { return nil }
        var status: Int32 = 0
        _ = retryingEINTR { waitpid(record.pid, &status, 0) }
        try delete(id: id, force: true)
        return exitCode(waitStatus: status)
    }

    private func restoreClaimed(
        id: String, spec: Spec, bundle: String, rootfs: String, criu: Binary, options: RestoreOptions,
        imagePath: String, rollback: Rollback
    ) throws -> ContainerRecord {
        let linux = spec.linux ?? Spec.Linux()
        let plan = NamespacePlan(linux.namespaces ?? [])
        let cgroupChoice = privilege.cgroupChoice(cgroupsPath: linux.cgroupsPath, resources: linux.resources)
        let cgroup = try createCgroup(choice: cgroupChoice, linux: linux, id: id, rollback: rollback)
        var record = ContainerRecord(
            id: id, pid: 0, pidStartTime: 0, bundle: bundle, rootfs: rootfs,
            created: Timestamp.now().rfc3339, owner: "", annotations: spec.annotations,
            ociVersion: spec.ociVersion, cgroup: cgroup, hooks: spec.hooks,
            ownPidNamespace: plan.newKinds.contains(.pid), rootless: privilege.rootlessCgroups,
            namespaceKinds: plan.newKinds.map(\.rawValue).sorted())
        record.process = spec.process
        record.seccomp = linux.seccomp
        record.memoryPolicy = linux.memoryPolicy
        try store.save(record)

        var consoleSocket: OwnedFD? = nil
        if let path = options.consoleSocket { consoleSocket = try connectUnixSocket(absolutePath(path)) }
        // criu wants the restore root to be a mount point: the rootfs bound onto a
        // directory of the state dir, detached again once criu is done.
        try createMountPoints(CRIUPlan(spec: spec, bundle: bundle, cgroup: cgroup), rootfs: rootfs)
        let shared = try shareImages(imagePath, withRootOf: linux)
        defer { if shared { chmod(imagePath, 0o700) } }
        let root = store.directory(id) + "/criu-root"
        guard mkdir(root, 0o700) == 0 else { throw ApusError("create \(root)", errno: errno) }
        try HostMount.bindPrivately(rootfs, onto: root)
        defer { HostMount.detach(root) }

        let pid = try runRestore(
            record, spec: spec, criu: criu, options: options, imagePath: imagePath, root: root,
            consoleSocket: consoleSocket.rawOrNil, cgroupChoice: cgroupChoice, rollback: rollback)
        guard let stat = ProcessStat.read(pid: pid) else {
            throw ApusError("restored container init \(pid) vanished")
        }
        record = record.started(pid: pid, stat: stat)
        try store.save(record)
        if let pidFile = options.pidFile {
            do {
                try FileIO.writeAtomically(absolutePath(pidFile), bytes: Array(String(pid).utf8), mode: 0o644)
            } catch {
                throw ApusError("write pid file", cause: error)
            }
        }
        return record
    }
}

extension Runtime {
    /// The RESTORE request: criu is placed in the container's cgroup first (its restored
    /// tasks land in the same cgroups, named to criu as cg_root, runc's way), inherits the
    /// new stdio for the pipes the image names and the namespaces the container joins, and
    /// tells apus about the restored tree through notifications. Returns init's pid.
    private func runRestore(
        _ record: ContainerRecord, spec: Spec, criu: Binary, options: RestoreOptions, imagePath: String, root: String,
        consoleSocket: Int32?, cgroupChoice: Privilege.CgroupChoice, rollback: Rollback
    ) throws -> Int32 {
        let workPath = absolutePath(options.workPath ?? options.imagePath)
        if workPath != imagePath { _ = try? FileIO.makeDirectories(workPath, mode: 0o700) }
        let images = try openDirectory(imagePath, purpose: "image directory")
        let work = try openDirectory(workPath, purpose: "work directory")
        let plan = CRIUPlan(spec: spec, bundle: record.bundle, cgroup: record.cgroup)
        var namespaceFDs = OwnedFDs()
        for joined in plan.joinedNamespaces {
            namespaceFDs.hold(
                try OwnedFD.open("open \(joined.kind.rawValue) namespace \(joined.path)") {
                    open(joined.path, O_RDONLY | O_CLOEXEC)
                })
        }
        var opts = try restoreOptions(record, spec: spec, options: options, imagesFD: images.raw, workFD: work.raw)
        opts.root = root
        opts.externalMounts = plan.externalMounts.map { ($0.destination, $0.source) }
        for device in CRIUPlan.hostDeviceSources(spec)
        where !opts.externalMounts.contains(where: { $0.key == device.destination }) {
            opts.externalMounts.append((device.destination, device.source))
        }
        for (index, joined) in plan.joinedNamespaces.enumerated() {
            opts.inheritFDs.append((joined.tag, Int32(4 + index)))
        }
        opts.inheritFDs += Self.inheritedPipes(imagePath: imagePath)

        let session = try Swrk(criu: criu.path, inherit: namespaceFDs.raw)
        defer { session.finish() }
        if let cgroup = record.cgroup {
            try joinCgroup(cgroup, pid: session.pid, choice: cgroupChoice)
            opts.cgroupRoots = Self.cgroupRoots(of: session.pid)
        }
        var restored: Int32? = nil
        let response = try session.call(Request(type: .restore, options: opts)) { notification in
            try handleRestoreNotification(
                notification, record: record, consoleSocket: consoleSocket, restored: &restored)
        }
        guard response.success, let pid = restored ?? response.restoredPid else {
            throw criuFailure("restore \(record.id)", response: response, log: workPath + "/restore.log")
        }
        rollback.add {
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        return pid
    }

    private func restoreOptions(
        _ record: ContainerRecord, spec: Spec, options: RestoreOptions, imagesFD: Int32, workFD: Int32
    ) throws -> Options {
        var opts = Options()
        opts.imagesDirFD = imagesFD
        opts.workDirFD = workFD
        opts.logLevel = 4
        opts.logFile = "restore.log"
        opts.manageCgroups = true
        opts.manageCgroupsMode = try CRIUPlan.cgroupMode(options.manageCgroupsMode)
        opts.notifyScripts = true
        // The restored init becomes our child, not criu's (which exits).
        opts.restoreSibling = true
        opts.shellJob = options.shellJob
        opts.tcpEstablished = options.tcpEstablished
        opts.extUnixSk = options.extUnixSk
        opts.fileLocks = options.fileLocks
        opts.autoDedup = options.autoDedup ? true : nil
        opts.emptyNamespaces = try CRIUPlan.emptyNamespaceBits(options.emptyNamespaces)
        opts.orphanPtsMaster = spec.process?.terminal == true ? true : nil
        opts.lsmProfile = options.lsmProfile
        opts.lsmMountContext = options.lsmMountContext
        opts.configFile = CRIUPlan.configFile(annotations: spec.annotations)
        return opts
    }

    /// What criu asks on the way: the runtime's hooks once the namespaces exist
    /// (prestart, createRuntime: runc runs them at this point), the restored pid, and the
    /// pty master of a terminal, which goes to --console-socket as create sends it.
    private func handleRestoreNotification(
        _ notification: Notification, record: ContainerRecord, consoleSocket: Int32?, restored: inout Int32?
    ) throws {
        // The descriptor that came with the notification is ours.
        let passed: OwnedFD? = if let fd = notification.fd { OwnedFD(adopting: fd) } else { nil }
        switch notification.script {
        case "setup-namespaces":
            var creating = record
            creating.pid = notification.pid
            let state = stateJSON(creating, status: .creating, pretty: false)
            if let error = Hooks.runAll(record.hooks?.prestart, kind: "prestart", state: state) {
                throw ApusError(error)
            }
            if let error = Hooks.runAll(record.hooks?.createRuntime, kind: "createRuntime", state: state) {
                throw ApusError(error)
            }
        case "post-restore":
            restored = notification.pid
        case "orphan-pts-master":
            guard let fd = passed.rawOrNil else { throw ApusError("criu sent no pty master") }
            guard let consoleSocket else { throw ApusError("restored terminal: no --console-socket") }
            if !DescriptorPassing.send(fd, over: consoleSocket, message: "/dev/ptmx") {
                throw ApusError("send the restored pty master to --console-socket", errno: errno)
            }
        default:
            break
        }
    }

    /// With a user namespace, criu restores files from inside it, as the container's root:
    /// a host uid that may not read root's 0700 image directory ("Unable to open
    /// tty-info.img: Permission denied"). The images (the container's own memory and files)
    /// are given to that uid; runc leaves them root's and fails the same way.
    ///
    /// criu's new task also opens timens-0.img before its uid map is written, as the
    /// overflow uid, so for the restore the directory is 0711 and timens-*.img (clock offsets
    /// only) 0644, every other image 0600: the rest stays the container root's alone. The
    /// directory is 0700 again once criu is done. Returns whether anything was changed.
    func shareImages(_ imagePath: String, withRootOf linux: Spec.Linux) throws -> Bool {
        guard NamespacePlan(linux.namespaces ?? []).has(.user),
            let uid = linux.uidMappings?.first(where: { $0.containerID == 0 })?.hostID,
            let gid = linux.gidMappings?.first(where: { $0.containerID == 0 })?.hostID
        else { return false }
        for name in FileIO.listDirectory(imagePath) {
            let path = imagePath + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if lchown(path, uid, gid) < 0 {
                throw ApusError("give the image \(path) to the container's root (uid \(uid))", errno: errno)
            }
            guard info.st_mode & S_IFMT == S_IFREG else { continue }
            if chmod(path, name.hasPrefix("timens-") ? 0o644 : 0o600) < 0 {
                throw ApusError("set the mode of the image \(path)", errno: errno)
            }
        }
        if lchown(imagePath, uid, gid) < 0 || chmod(imagePath, 0o711) < 0 {
            throw ApusError("give the image directory \(imagePath) to the container's root (uid \(uid))", errno: errno)
        }
        return true
    }

    /// The destinations of the external mounts, made in the rootfs when missing (a new
    /// rootfs, as after podman's --import, lacks /etc/hosts and the like): criu binds onto
    /// them and does not create them (runc's prepareCriuRestoreMounts). Resolved in the root.
    func createMountPoints(_ plan: CRIUPlan, rootfs: String) throws {
        let root = try RootfsDirectory(path: rootfs)
        for mount in plan.externalMounts {
            let file = !FileIO.isDirectory(mount.source)
            try root.create(mount.destination, file: file, step: "create mount point \(mount.destination)").close()
        }
    }

    /// inherit_fd for the pipes init had as stdio at checkpoint (descriptors.json):
    /// criu's own stdio, which is ours, takes their place.
    static func inheritedPipes(imagePath: String) -> [(key: String, fd: Int32)] {
        guard let bytes = FileIO.read(imagePath + "/descriptors.json"),
            let names = try? TreeJSON.decode([String].self, from: bytes)
        else { return [] }
        var out: [(key: String, fd: Int32)] = []
        for (index, name) in names.prefix(3).enumerated() where name.hasPrefix("pipe:") {
            out.append((name, Int32(index)))
        }
        return out
    }

    /// cg_root from criu's own /proc/PID/cgroup once it is in the container's cgroups:
    /// each v1 hierarchy by its controllers, the v2 one as the default.
    static func cgroupRoots(of pid: Int32) -> [(controller: String?, path: String)] {
        guard let text = FileIO.readString("/proc/\(pid)/cgroup") else { return [] }
        var roots: [(controller: String?, path: String)] = []
        for line in FileIO.lines(text) {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            roots.append((fields[1].isEmpty ? nil : String(fields[1]), String(fields[2])))
        }
        return roots
    }
}
