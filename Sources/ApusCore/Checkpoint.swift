import ApusLinux
import CRIU
import Glibc
import OCI

/// `checkpoint`'s options, with runc's names.
public struct CheckpointOptions: Sendable {
    public var imagePath: String
    public var workPath: String?
    public var parentPath: String?
    public var leaveRunning = false
    public var tcpEstablished = false
    public var tcpSkipInFlight = false
    public var linkRemap = false
    public var extUnixSk = false
    public var shellJob = false
    public var fileLocks = false
    public var preDump = false
    public var manageCgroupsMode: String?
    public var emptyNamespaces: [String] = []
    public var autoDedup = false
    public var lazyPages = false
    public var statusFD: Int32?
    /// `ADDRESS:PORT` of a criu page server.
    public var pageServer: String?
    /// `--criu`: the criu binary; nil: `criu` on $PATH.
    public var criu: String?

    public init(imagePath: String) { self.imagePath = imagePath }
}

extension Runtime {
    /// `checkpoint`: criu dumps the container's processes into the image directory. Without
    /// --leave-running (and --pre-dump) the container is then gone, as runc destroys it:
    /// cgroup and state removed, poststop hooks run. A failure leaves it running as it was,
    /// and an image directory this command created is removed again.
    public func checkpoint(id: String, options: CheckpointOptions) throws {
        try StateStore.validate(id: id)
        let lock = try store.lock(id, exclusive: true)
        defer { withExtendedLifetime(lock) {} }
        let record = try store.load(id)
        let status = record.status(store: store)
        guard status == .running || status == .paused else {
            throw ApusError("cannot checkpoint container \(id)", detail: "it is \(status.rawValue), not running")
        }
        let spec = try loadSpecForCRIU(record)
        let criu = try Binary.find(explicit: options.criu)
        _ = try criu.checkedVersion()
        try checkKernelFeatures(criu, options)

        let imagePath = absolutePath(options.imagePath)
        let createdImageDirectory = try makeDirectory(imagePath, purpose: "image directory")
        let workPath = absolutePath(options.workPath ?? options.imagePath)
        if workPath != imagePath { _ = try makeDirectory(workPath, purpose: "work directory") }
        do {
            try dump(record, spec: spec, criu: criu, options: options, imagePath: imagePath, workPath: workPath)
        } catch {
            // criu resumes the tasks it froze; a cgroup it froze it thaws. What it wrote is
            // no image a later checkpoint or restore should find.
            if createdImageDirectory { FileIO.removeTree(imagePath) }
            if status == .running, let cgroup = record.cgroup, cgroup.isFrozen() { try? cgroup.thaw() }
            throw error
        }
        if !options.leaveRunning && !options.preDump {
            try killAndWait(record)
            try destroy(record)
        }
    }

    /// The config of a created container, re-read from its bundle (the mounts and
    /// annotations criu needs are not in the record).
    func loadSpecForCRIU(_ record: ContainerRecord) throws -> Spec {
        do {
            return try Spec.load(bundle: record.bundle)
        } catch {
            throw ApusError("read config.json of container \(record.id) from \(record.bundle)", cause: error)
        }
    }

    /// Pre-dumps and dumps on top of a parent need the kernel to track which pages changed
    /// (soft-dirty bits); lazy pages need userfaultfd. Asked of criu before anything is
    /// touched, so the container stays as it was.
    private func checkKernelFeatures(_ criu: Binary, _ options: CheckpointOptions) throws {
        if options.lazyPages && options.pageServer == nil {
            // criu then serves the pages itself and waits for a lazy-pages daemon to
            // connect: without an address nobody can, and the dump would never end.
            throw ApusError(
                "checkpoint --lazy-pages", detail: "give --page-server ADDRESS:PORT for the lazy-pages daemon")
        }
        let tracking = options.preDump || options.parentPath != nil
        guard tracking || options.lazyPages else { return }
        let found = try criu.features(memTrack: tracking, lazyPages: options.lazyPages)
        if tracking && found.memTrack != true {
            let flag = options.preDump ? "--pre-dump" : "--parent-path"
            throw ApusError(
                "checkpoint \(flag)",
                detail: "this kernel cannot track memory changes (soft-dirty bits, CONFIG_MEM_SOFT_DIRTY; "
                    + "criu: \"Dirty tracking is OFF\"): checkpoint without \(flag)")
        }
        if options.lazyPages && found.lazyPages != true {
            throw ApusError(
                "checkpoint --lazy-pages",
                detail: "this kernel or criu cannot serve lazy pages (userfaultfd, CONFIG_USERFAULTFD)")
        }
    }

    /// mkdir -p with mode 0700 (runc's); whether the last component was made here.
    private func makeDirectory(_ path: String, purpose: String) throws -> Bool {
        if FileIO.exists(path) { return false }
        do {
            _ = try FileIO.makeDirectories(path, mode: 0o700)
        } catch {
            throw ApusError("create \(purpose) \(path)", cause: error)
        }
        return true
    }

    /// The DUMP (or PRE_DUMP) request and its reply. The stdio of init is recorded first
    /// (descriptors.json, runc's file): a restore reconnects the pipes named there.
    private func dump(
        _ record: ContainerRecord, spec: Spec, criu: Binary, options: CheckpointOptions, imagePath: String,
        workPath: String
    ) throws {
        let descriptors = (0...2).map { FileIO.readLink("/proc/\(record.pid)/fd/\($0)") ?? "" }
        let images = try openDirectory(imagePath, purpose: "image directory")
        let work = try openDirectory(workPath, purpose: "work directory")
        let imagesFD = images.raw
        let workFD = work.raw
        let plan = CRIUPlan(spec: spec, bundle: record.bundle, cgroup: record.cgroup)

        var opts = Options()
        opts.imagesDirFD = imagesFD
        opts.workDirFD = workFD
        opts.logLevel = 4
        opts.logFile = options.preDump ? "pre-dump.log" : "dump.log"
        opts.pid = record.pid
        opts.root = record.rootfs
        opts.manageCgroups = true
        opts.manageCgroupsMode = try CRIUPlan.cgroupMode(options.manageCgroupsMode)
        opts.notifyScripts = true
        opts.leaveRunning = options.leaveRunning || options.preDump ? true : nil
        opts.shellJob = options.shellJob
        opts.tcpEstablished = options.tcpEstablished
        opts.tcpSkipInFlight = options.tcpSkipInFlight ? true : nil
        opts.extUnixSk = options.extUnixSk
        opts.fileLocks = options.fileLocks
        opts.linkRemap = options.linkRemap ? true : nil
        opts.autoDedup = options.autoDedup ? true : nil
        opts.lazyPages = options.lazyPages ? true : nil
        opts.statusFD = options.statusFD
        opts.emptyNamespaces = try CRIUPlan.emptyNamespaceBits(options.emptyNamespaces)
        opts.orphanPtsMaster = record.process?.terminal == true ? true : nil
        opts.parentImage = options.parentPath
        opts.trackMemory = options.preDump || options.parentPath != nil ? true : nil
        opts.configFile = CRIUPlan.configFile(annotations: spec.annotations)
        opts.externalMounts = plan.externalMounts.map { ($0.destination, $0.destination) }
        for device in CRIUPlan.hostDeviceMounts(pid: record.pid)
        where !opts.externalMounts.contains(where: { $0.key == device.destination }) {
            opts.externalMounts.append((device.destination, device.id))
        }
        opts.external = try plan.externalNamespaces()
        opts.pageServer = try options.pageServer.map(Self.parsePageServer)
        // criu freezes the whole cgroup, not task by task: a forking container cannot escape.
        opts.freezeCgroup = record.cgroup.flatMap { $0.paths["freezer"] ?? $0.paths["unified"] }

        let session = try Swrk(criu: criu.path)
        defer { session.finish() }
        let response = try session.call(Request(type: options.preDump ? .preDump : .dump, options: opts))
        guard response.success else {
            throw criuFailure("checkpoint \(record.id)", response: response, log: workPath + "/" + (opts.logFile ?? ""))
        }
        let json = JSONNode.array(descriptors.map { .string($0) }).compactText
        try FileIO.writeAtomically(imagePath + "/descriptors.json", bytes: Array(json.utf8), mode: 0o600)
    }

    static func parsePageServer(_ text: String) throws -> (address: String, port: Int32) {
        guard let colon = text.lastIndex(of: ":"), let port = Int32(text[text.index(after: colon)...]),
            colon > text.startIndex
        else {
            throw ApusError("--page-server \(text)", detail: "give ADDRESS:PORT")
        }
        return (String(text[..<colon]), port)
    }
}
