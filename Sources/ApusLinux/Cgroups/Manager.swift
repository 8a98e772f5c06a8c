import CApus
import Glibc
import OCI

/// A container's cgroups on this host: where they are, which directories its create made
/// (so delete removes exactly those), and the operations the lifecycle needs. Codable:
/// it is stored in state.json between `create` and `delete`, which are different processes.
public struct CgroupManager: Sendable, Codable, Equatable {
    public var layout: CgroupLayoutKind
    /// The cgroup path inside every hierarchy, e.g. `/apus-<id>`.
    public var path: String
    /// Controller (v1; co-mounted ones share a directory, `name=systemd` included) or
    /// "unified" → absolute directory of the container's cgroup.
    public var paths: [String: String]
    /// Same keys → mountpoint of the hierarchy.
    public var mountpoints: [String: String]
    /// Directories `create` made, outermost first per hierarchy; `destroy` removes these
    /// and nothing else. Kept in a box so that `create` can stay non-mutating (the manager
    /// is resolved into a `let` and captured by rollback closures before create runs);
    /// copies share it, which is what those closures need.
    public var created: [String] {
        get { createdBox.dirs }
        nonmutating set { createdBox.dirs = newValue }
    }
    private var createdBox = CreatedDirectories()
    /// v1 mountpoints in mountinfo order (known at resolve time; not persisted).
    public var mountOrder: [String] = []

    public init(layout: CgroupLayout, path: String) {
        self.layout = layout.kind
        self.path = path
        var paths: [String: String] = [:]
        var mountpoints: [String: String] = [:]
        if layout.kind != .unified {
            for (controller, mountpoint) in layout.v1 {
                paths[controller] = mountpoint + path
                mountpoints[controller] = mountpoint
            }
        }
        if let unified = layout.unified {
            paths["unified"] = unified + path
            mountpoints["unified"] = unified
        }
        self.paths = paths
        self.mountpoints = mountpoints
        self.mountOrder = layout.v1Order
    }

    enum CodingKeys: String, CodingKey { case layout, path, paths, mountpoints, created }

    /// A manager as state.json records it (the fields `init(from:)` reads).
    public init(
        layout: CgroupLayoutKind, path: String, paths: [String: String], mountpoints: [String: String],
        created: [String]
    ) {
        self.layout = layout
        self.path = path
        self.paths = paths
        self.mountpoints = mountpoints
        self.createdBox = CreatedDirectories(created)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layout = try c.decode(CgroupLayoutKind.self, forKey: .layout)
        path = try c.decode(String.self, forKey: .path)
        paths = try c.decode([String: String].self, forKey: .paths)
        mountpoints = try c.decode([String: String].self, forKey: .mountpoints)
        createdBox = CreatedDirectories(try c.decodeIfPresent([String].self, forKey: .created) ?? [])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layout, forKey: .layout)
        try c.encode(path, forKey: .path)
        try c.encode(paths, forKey: .paths)
        try c.encode(mountpoints, forKey: .mountpoints)
        try c.encode(created, forKey: .created)
    }

    public static func == (a: CgroupManager, b: CgroupManager) -> Bool {
        a.layout == b.layout && a.path == b.path && a.paths == b.paths && a.mountpoints == b.mountpoints
            && a.created == b.created
    }

    /// Detects the host layout (one access(2) on v2 hosts, one mountinfo read otherwise) and
    /// computes the container's directories. Touches nothing.
    public static func resolve(cgroupsPath: String?, id: String, systemd: Bool = false) throws(ApusError)
        -> CgroupManager
    {
        let path = try CgroupPath.resolve(cgroupsPath: cgroupsPath, id: id, systemd: systemd)
        return CgroupManager(layout: try CgroupLayout.detect(), path: path)
    }

    // MARK: Where things are

    /// Each distinct directory (co-mounted controllers share one) with its mountpoint:
    /// v1 hierarchies sorted by path, the v2 one last.
    var hierarchies: [(dir: String, mountpoint: String)] {
        var seen = Set<String>()
        var out: [(dir: String, mountpoint: String)] = []
        for key in paths.keys.sorted() where key != "unified" {
            guard let dir = paths[key], let mountpoint = mountpoints[key], seen.insert(dir).inserted else { continue }
            out.append((dir, mountpoint))
        }
        out.sort { $0.dir < $1.dir }
        if let dir = paths["unified"], let mountpoint = mountpoints["unified"] { out.append((dir, mountpoint)) }
        return out
    }

    var placement: CgroupPlacement {
        CgroupPlacement(
            layout: layout, v1Controllers: Set(paths.keys.filter { $0 != "unified" && $0 != "name=systemd" }))
    }

    /// Directory of a controller's files for the given version.
    func directory(_ controller: String, _ version: CgroupVersion) -> String? {
        version == .v2 ? paths["unified"] : paths[controller]
    }

    /// The hierarchy a controller is used from for reading (stats, pids, freezer).
    func directory(for controller: String) -> (dir: String, version: CgroupVersion)? {
        if layout != .unified, let dir = paths[controller] { return (dir, .v1) }
        if let dir = paths["unified"] { return (dir, .v2) }
        return nil
    }

    /// The container's cgroups as `"type": "cgroup"` mounts show them.
    public var mountView: CgroupMountView {
        var v1: [(name: String, hostDirectory: String)] = []
        if layout != .unified {
            var seen = Set<String>()
            for key in paths.keys.sorted() where key != "unified" {
                guard let mountpoint = mountpoints[key], let dir = paths[key], seen.insert(mountpoint).inserted else {
                    continue
                }
                let name = mountpoint.split(separator: "/").last.map(String.init) ?? key
                v1.append((name, dir))
            }
            let order = mountOrder
            v1.sort { a, b in
                let ia = order.firstIndex { $0.hasSuffix("/" + a.name) } ?? Int.max
                let ib = order.firstIndex { $0.hasSuffix("/" + b.name) } ?? Int.max
                return ia == ib ? a.name < b.name : ia < ib
            }
        }
        return CgroupMountView(v1: v1, unified: layout == .unified ? paths["unified"] : nil)
    }

    // MARK: create / join / destroy

    /// Creates the container's cgroup in every hierarchy (remembering each directory it
    /// made) and writes the limits. On failure everything it made is removed again.
    /// `includeDevices: false` leaves the device rules out (a rootless runtime, which the
    /// kernel does not let write them; its devices are bind mounts). A container's own
    /// cgroup is checked empty first (`checkEmpty`) by the caller: before create with
    /// cgroupfs, before starting the unit with systemd, whose cgroup then holds init.
    public func create(
        resources: Spec.Linux.Resources?, includeDevices: Bool = true, warn: (String) -> Void
    ) throws(ApusError) {
        let plan = try makePlan(resources, includeDevices: includeDevices)
        do {
            try makeDirectories(plan: plan, which: .all)
            try apply(plan, creating: true, warn: warn)
        } catch {
            removeCreated()
            created = []
            throw error
        }
    }

    /// `create` in two steps, for a create that overlaps the second with init's own setup:
    /// `beginCreate` checks the resources (every error about them comes before any process
    /// exists) and makes the v2 directory, which clone3's CLONE_INTO_CGROUP needs;
    /// `finishCreate` makes the v1 directories and writes every limit.
    public struct PendingCreate {
        let plan: CgroupPlan
    }

    public func beginCreate(resources: Spec.Linux.Resources?, includeDevices: Bool = true) throws(ApusError)
        -> PendingCreate
    {
        let plan = try makePlan(resources, includeDevices: includeDevices)
        do {
            try makeDirectories(plan: plan, which: .unified)
        } catch {
            removeCreated()
            created = []
            throw error
        }
        return PendingCreate(plan: plan)
    }

    /// On failure what was made stays in `created`: init may be in the v2 directory, so the
    /// caller removes it all (`destroy`) once init is gone.
    public func finishCreate(_ pending: PendingCreate, warn: (String) -> Void) throws(ApusError) {
        try makeDirectories(plan: pending.plan, which: .v1)
        try apply(pending.plan, creating: true, warn: warn)
    }

    /// A container's cgroup that already holds processes belongs to someone else (a
    /// container of the same id under another --root, or a cgroupsPath naming a busy
    /// cgroup): refused before anything is made or written, as runc 1.5 does ("container's
    /// cgroup is not empty"). Sharing it would let this container's limits, pause and
    /// `delete` (cgroup.kill) reach the other's processes. One hierarchy is read, as runc
    /// reads one: a container's processes are in its cgroup of every hierarchy (the v2 one
    /// on a unified host, else the devices one, which every runtime joins). A directory
    /// that does not exist yet holds nothing.
    public func checkEmpty() throws(ApusError) {
        let dir = layout == .unified ? paths["unified"] : (paths["devices"] ?? paths.values.sorted().first)
        guard let dir, let text = FileIO.readString(dir + "/cgroup.procs") else { return }
        let count = text.split(separator: "\n").count
        if count > 0 {
            throw ApusError.cgroup(
                "create \(dir)", detail: "container's cgroup is not empty: \(count) process(es) found",
                field: ".linux.cgroupsPath")
        }
    }

    /// Places `pid` in the container's cgroup of every hierarchy. `includingV1: false` when
    /// the process joined those itself (`joinSelf`); `includingUnified: false` when
    /// clone3(CLONE_INTO_CGROUP) already put it in the v2 one.
    /// A failure whose errno `tolerated` accepts does not stop the others: it is returned,
    /// and `pid` stays outside that hierarchy's cgroup (a rootless runtime's best effort).
    @discardableResult
    public func join(
        pid: Int32, includingV1: Bool = true, includingUnified: Bool = true, besideInit initPid: Int32? = nil,
        tolerating tolerated: (Int32) -> Bool = { _ in false }
    ) throws(ApusError) -> [ApusError] {
        let unified = paths["unified"]
        var passedOver: [ApusError] = []
        for (dir, _) in hierarchies where dir == unified ? includingUnified : includingV1 {
            var code = CgroupFS.write(dir + "/cgroup.procs", String(pid))
            if code == EBUSY, dir == unified, let initPid, let current = unifiedCgroup(of: initPid), current != dir {
                code = CgroupFS.write(current + "/cgroup.procs", String(pid))
            }
            if code == 0 { continue }
            let error = ApusError.cgroup("write \(pid) to \(dir)/cgroup.procs", errno: code)
            guard tolerated(code) else { throw error }
            passedOver.append(error)
        }
        return passedOver
    }

    /// The v2 cgroup directory `pid` is in now, when it lies inside the container's: where an
    /// exec'd process goes when the container's own cgroup refuses it (EBUSY). A container
    /// that made child cgroups and enabled controllers for them (systemd as its PID 1 moves
    /// itself to init.scope) may keep no process at its root ("no internal processes");
    /// runc then uses init's cgroup too.
    func unifiedCgroup(of pid: Int32) -> String? {
        guard let unified = paths["unified"], let mountpoint = mountpoints["unified"],
            let path = Self.unifiedPath(of: pid), path.hasPrefix("/")
        else { return nil }
        let dir = mountpoint + path
        return dir.hasPrefix(unified + "/") ? dir : nil
    }

    /// `pid`'s cgroup v2 cgroup as /proc/PID/cgroup names it (its "0::" line, relative to the
    /// hierarchy's root); nil when it cannot be read or has no v2 line.
    public static func unifiedPath(of pid: Int32) -> String? {
        let text = FileIO.readString("/proc/\(pid)/cgroup") ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
    }

    /// The container's directories in the v1 hierarchies (none on a pure v2 host).
    public var v1Directories: [String] {
        let unified = paths["unified"]
        return hierarchies.map(\.dir).filter { $0 != unified }
    }

    /// Moves the calling thread into each of `dirs` (v1 hierarchies) by writing 0 to its
    /// `tasks` file. A thread moving itself is the one migration the kernel does without its
    /// global threadgroup lock (cgroup_procs_write_start); a write to cgroup.procs takes it,
    /// and its first taker after ~20 ms without one waits for an RCU grace period: 7-12 ms
    /// here, against 0.04 ms. Only the calling thread moves: the caller must be
    /// single-threaded (a freshly cloned init or exec child).
    public static func joinSelf(_ dirs: [String]) throws(ApusError) {
        for dir in dirs {
            let code = CgroupFS.write(dir + "/tasks", "0")
            if code != 0 { throw ApusError.cgroup("join \(dir) (write 0 to its tasks file)", errno: code) }
        }
    }

    /// A child with fork semantics and namespace `flags`, born in the v2 cgroup open as
    /// `unified` when one is given (not -1) and the kernel can place it there (clone3
    /// CLONE_INTO_CGROUP, Linux 5.7); else a plain clone. Returns the pid (0 in the child,
    /// -1 with errno) and whether the child was born in that cgroup.
    public static func clone(flags: UInt32, bornIn unified: Int32) -> (pid: pid_t, placed: Bool) {
        if unified >= 0 {
            let pid = apus_clone3(UInt64(flags), unified, nil)
            if pid >= 0 { return (pid, true) }
        }
        return (apus_clone(UInt(flags)), false)
    }

    /// O_PATH directory fd of the v2 cgroup for clone3(CLONE_INTO_CGROUP); nil without one.
    public func openUnifiedDirectory() -> OwnedFD? {
        guard let dir = paths["unified"] else { return nil }
        return OwnedFD.opening { open(dir, CgroupFS.openPath | O_DIRECTORY | O_CLOEXEC) }
    }

    /// Removes what `create` made, deepest first: the container's directories (with any
    /// child cgroups the container made inside them), then the parents it made if nothing
    /// else lives in them now.
    public func destroy() throws(ApusError) {
        var firstError: ApusError?
        let leaves = Set(paths.values)
        for dir in created.sorted(by: { $0.count > $1.count }) {
            if leaves.contains(dir) {
                if let error = Self.removeTree(dir), firstError == nil { firstError = error }
            } else if rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EBUSY {
                // A parent another container still uses stays (ENOTEMPTY, EBUSY).
                if firstError == nil { firstError = ApusError.cgroup("remove \(dir)", errno: errno) }
            }
        }
        removeEmptyDefaultParents()
        if let firstError { throw firstError }
    }

    /// The default parent (/apus) is apus's own: whoever deletes the last
    /// container under it removes it, whether or not that container's create
    /// made it, so concurrent containers leave nothing behind. A parent still
    /// in use fails with ENOTEMPTY/EBUSY and stays.
    private func removeEmptyDefaultParents() {
        let parent = CgroupPath.defaultParent
        guard path.hasPrefix(parent + "/") else { return }
        for mountpoint in Set(mountpoints.values) {
            var dir = mountpoint + path
            while let slash = dir.lastIndex(of: "/") {
                dir = String(dir[..<slash])
                if dir.count < (mountpoint + parent).count || rmdir(dir) < 0 { break }
            }
        }
    }

    // MARK: processes

    /// Pids of every process in the container's cgroup and its child cgroups.
    public func pids() throws(ApusError) -> [Int32] {
        guard let dir = processDirectory else {
            throw ApusError.cgroup("list processes", detail: "no cgroup directory")
        }
        var pids: [Int32] = []
        try Self.collectPids(dir, into: &pids)
        return pids
    }

    /// Sends `signal` to every process of the container. SIGKILL on cgroup v2 (kernel
    /// 5.14+) is one write to cgroup.kill, which also catches processes forking meanwhile;
    /// otherwise the cgroup is frozen (when it can be) so the set cannot change under the
    /// loop, as runc does.
    public func killAll(signal: Int32) throws(ApusError) {
        if signal == SIGKILL, let unified = paths["unified"], CgroupFS.write(unified + "/cgroup.kill", "1") == 0 {
            return
        }
        let freezer = directory(for: "freezer")
        var frozen = false
        if let freezer, !CgroupFreezer.isFrozen(dir: freezer.dir, version: freezer.version) {
            frozen = (try? CgroupFreezer.freeze(dir: freezer.dir, version: freezer.version)) != nil
        }
        defer {
            if frozen, let freezer { try? CgroupFreezer.thaw(dir: freezer.dir, version: freezer.version) }
        }
        for pid in try pids() where kill(pid, signal) < 0 && errno != ESRCH {
            throw ApusError.cgroup("send signal \(signal) to \(pid)", errno: errno)
        }
    }

    public func freeze() throws(ApusError) {
        guard let freezer = directory(for: "freezer") else {
            throw ApusError.cgroup(
                "freeze \(path)", detail: "the host has neither a v1 freezer hierarchy nor cgroup v2")
        }
        try CgroupFreezer.freeze(dir: freezer.dir, version: freezer.version)
    }

    public func thaw() throws(ApusError) {
        guard let freezer = directory(for: "freezer") else {
            throw ApusError.cgroup("thaw \(path)", detail: "the host has neither a v1 freezer hierarchy nor cgroup v2")
        }
        try CgroupFreezer.thaw(dir: freezer.dir, version: freezer.version)
    }

    public func isFrozen() -> Bool {
        guard let freezer = directory(for: "freezer") else { return false }
        return CgroupFreezer.isFrozen(dir: freezer.dir, version: freezer.version)
    }

    // MARK: update

    /// Applies new limits to a live container (`apus update`). Device rules are only
    /// touched when the resources have some, and then with the least disruptive change.
    public func update(
        resources: Spec.Linux.Resources, warn: (String) -> Void
    ) throws(ApusError) {
        let plan = try makePlan(resources, includeDevices: false)
        if layout == .hybrid, let unified = paths["unified"], let mountpoint = mountpoints["unified"] {
            enableControllers(plan.v2Controllers, dir: unified, mountpoint: mountpoint)
        }
        if let memory = resources.memory, memory.checkBeforeUpdate == true, placement.version(of: "memory") == .v2,
            let dir = paths["unified"]
        {
            try Self.checkMemoryUsage(memory, dir: dir)
        }
        try checkFilesExist(plan.writes)
        try apply(plan, creating: false, warn: warn)
    }

    /// `update` writes into a live container's cgroup and has no undo: a file the kernel
    /// lacks (blkio weights without BFQ/CFQ, realtime knobs, swap accounting off) fails
    /// the command before the first write, not after the memory limit already changed.
    /// runc 1.5.1 writes until the failure and then writes the old values back, which
    /// restores nothing that was unset before.
    func checkFilesExist(_ writes: [CgroupWrite]) throws(ApusError) {
        for write in writes {
            guard let dir = directory(write.controller, write.version) else {
                throw CgroupPlan.missing(write.controller, placement: placement, field: write.field)
            }
            if CgroupFS.exists(dir + "/" + write.file) { continue }
            switch write.ifMissing {
            case .skip, .warn:
                continue
            case .fail:
                throw failure(write, dir: dir, errno: ENOENT)
            case .fallback(let file, let value):
                if !CgroupFS.exists(dir + "/" + file) { throw neither(write, fallback: file, value: value, dir: dir) }
            }
        }
    }

    // MARK: - Steps

    func makePlan(_ resources: Spec.Linux.Resources?, includeDevices: Bool) throws(ApusError) -> CgroupPlan {
        var placement = self.placement
        var plan = try CgroupPlan.make(resources: resources, placement: placement, includeDevices: includeDevices)
        // Hybrid hosts: only when something goes to the v2 hierarchy is it worth reading
        // which controllers that hierarchy has.
        if layout == .hybrid, !plan.v2Controllers.isEmpty || resources?.unified?.isEmpty == false,
            let mountpoint = mountpoints["unified"]
        {
            placement.v2Controllers = Self.controllers(of: mountpoint)
            plan = try CgroupPlan.make(resources: resources, placement: placement, includeDevices: includeDevices)
        }
        return plan
    }

    static func controllers(of dir: String) -> Set<String> {
        let text = CgroupFS.read(dir + "/cgroup.controllers") ?? ""
        return Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    private enum Hierarchies { case all, unified, v1 }

    private func makeDirectories(plan: CgroupPlan, which: Hierarchies) throws(ApusError) {
        let cpusetDir = layout != .unified ? paths["cpuset"] : nil
        for (dir, mountpoint) in hierarchies {
            if which != .all && (dir == paths["unified"]) != (which == .unified) { continue }
            try makeDirectory(dir, mountpoint: mountpoint, cpuset: dir == cpusetDir, isLeaf: true)
            if dir == paths["unified"] {
                // Pure v2: every controller the host has, as runc does, so later updates and
                // stats find their files. Hybrid: only what this plan puts on v2.
                let wanted = layout == .unified ? Self.controllers(of: mountpoint) : plan.v2Controllers
                enableControllers(wanted, dir: dir, mountpoint: mountpoint)
            }
        }
    }

    /// mkdir of the container's directory first: its parent (/apus) usually exists, so
    /// that is one syscall per hierarchy; missing parents are made on ENOENT. Returns
    /// whether `dir` was made by this call.
    @discardableResult
    private func makeDirectory(_ dir: String, mountpoint: String, cpuset: Bool, isLeaf: Bool) throws(ApusError)
        -> Bool
    {
        if mkdir(dir, 0o755) == 0 {
            created.append(dir)
            if cpuset { try Self.prepareCpuset(dir, isLeaf: isLeaf, parentCreated: false) }
            return true
        }
        switch errno {
        case EEXIST:
            return false
        case ENOENT where dir.count > mountpoint.count:
            // Another container's delete can remove an empty shared parent between our
            // mkdirs: make it again, a few times.
            for _ in 0..<3 {
                let parentCreated = try makeDirectory(
                    dir.cgroupParent, mountpoint: mountpoint, cpuset: cpuset, isLeaf: false)
                if mkdir(dir, 0o755) == 0 {
                    created.append(dir)
                    if cpuset { try Self.prepareCpuset(dir, isLeaf: isLeaf, parentCreated: parentCreated) }
                    return true
                }
                if errno == EEXIST { return false }
                if errno != ENOENT { break }
            }
            throw ApusError.cgroup("create \(dir)", errno: errno)
        default:
            throw ApusError.cgroup("create \(dir)", errno: errno)
        }
    }

    /// A new v1 cpuset cgroup starts with empty cpus and mems and refuses tasks until they
    /// are set. With cgroup.clone_children set on the parent the kernel copies them at
    /// mkdir, so apus sets it on every intermediate directory it makes: later containers
    /// under the same parent cost no extra syscalls. Under a parent apus did not make, the
    /// values are copied by hand when they came out empty (runc always copies). The kernel
    /// copies cpus and mems together, so cpuset.cpus alone says whether it did.
    private static func prepareCpuset(_ dir: String, isLeaf: Bool, parentCreated: Bool) throws(ApusError) {
        if !parentCreated, (CgroupFS.readLine(dir + "/cpuset.cpus") ?? "").isEmpty {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                // The nearest ancestor with a value (pre-existing ones can be empty too).
                var source = dir.cgroupParent
                var value = ""
                var chain: [String] = []
                while source != "/" {
                    value = CgroupFS.readLine(source + "/" + file) ?? ""
                    if !value.isEmpty { break }
                    chain.append(source)
                    source = source.cgroupParent
                }
                for target in chain.reversed() + [dir] {
                    let code = CgroupFS.write(target + "/" + file, value)
                    if code != 0 { throw ApusError.cgroup("write \(value) to \(target)/\(file)", errno: code) }
                }
            }
        }
        if !isLeaf {
            let code = CgroupFS.write(dir + "/cgroup.clone_children", "1")
            if code != 0 { throw ApusError.cgroup("write 1 to \(dir)/cgroup.clone_children", errno: code) }
        }
    }

    /// Enables `controllers` in cgroup.subtree_control from the hierarchy's root down to the
    /// container's parent. Failures are not fatal here (a parent with processes of its own
    /// cannot enable domain controllers): a write that needs a missing controller reports it.
    private func enableControllers(_ controllers: Set<String>, dir: String, mountpoint: String) {
        guard !controllers.isEmpty else { return }
        let all = controllers.sorted().map { "+" + $0 }
        var current = mountpoint
        let components = path.split(separator: "/", omittingEmptySubsequences: true).dropLast()
        var levels = [current]
        for component in components {
            current += "/" + component
            levels.append(current)
        }
        for level in levels {
            let file = level + "/cgroup.subtree_control"
            if CgroupFS.write(file, all.joinedText(separator: " ")) != 0 {
                for one in all { _ = CgroupFS.write(file, one) }
            }
        }
    }

    private func apply(_ plan: CgroupPlan, creating: Bool, warn: (String) -> Void) throws(ApusError) {
        for warning in plan.warnings { warn(warning) }
        if let target = plan.devices {
            switch plan.devicesVersion {
            case .v1:
                guard let dir = paths["devices"] else {
                    throw CgroupPlan.missing("devices", placement: placement, field: CgroupDevices.field)
                }
                var current: DeviceEmulator? = nil
                if !creating {
                    guard let list = CgroupFS.read(dir + "/devices.list") else {
                        throw ApusError.cgroup("read \(dir)/devices.list", errno: errno, field: CgroupDevices.field)
                    }
                    current = try DeviceEmulator.fromDevicesList(list)
                }
                try execute(CgroupDevices.v1Writes(target: target, current: current).writes, warn: warn)
            case .v2:
                guard let dir = paths["unified"] else {
                    throw CgroupPlan.missing("devices", placement: placement, field: CgroupDevices.field)
                }
                try CgroupBPF.attachDeviceFilter(CgroupDeviceFilter.program(for: target), to: dir, replacing: !creating)
            }
        }
        try execute(plan.writes, warn: warn)
    }

    /// Runs writes in order, with their missing-file and EINVAL-retry rules.
    func execute(_ writes: [CgroupWrite], warn: (String) -> Void) throws(ApusError) {
        var pending: [String: [(write: CgroupWrite, errno: Int32)]] = [:]
        var writer = CgroupFS.Writer()
        for write in writes {
            guard let dir = directory(write.controller, write.version) else {
                throw CgroupPlan.missing(write.controller, placement: placement, field: write.field)
            }
            let code = writer.write(dir + "/" + write.file, write.value)
            switch code {
            case 0:
                for retry in pending.removeValue(forKey: write.file) ?? [] {
                    let again = writer.write(dir + "/" + retry.write.file, retry.write.value)
                    if again != 0 { throw failure(retry.write, dir: dir, errno: again) }
                }
            case ENOENT:
                switch write.ifMissing {
                case .fail:
                    throw failure(write, dir: dir, errno: code)
                case .skip:
                    continue
                case .warn(let message):
                    warn(message)
                case .fallback(let file, let value):
                    let again = writer.write(dir + "/" + file, value)
                    if again == ENOENT { throw neither(write, fallback: file, value: value, dir: dir) }
                    if again != 0 {
                        var fallback = write
                        fallback.file = file
                        fallback.value = value
                        throw failure(fallback, dir: dir, errno: again)
                    }
                }
            case EINVAL where write.retryAfter != nil:
                pending[write.retryAfter ?? "", default: []].append((write, code))
            default:
                throw failure(write, dir: dir, errno: code)
            }
        }
        if let first = pending.values.flatMap({ $0 }).first,
            let dir = directory(first.write.controller, first.write.version)
        {
            throw failure(first.write, dir: dir, errno: first.errno)
        }
    }

    /// A write whose file and fallback file the kernel both lacks.
    private func neither(_ write: CgroupWrite, fallback file: String, value: String, dir: String) -> ApusError {
        ApusError.cgroup(
            "write \(value) to \(dir)/\(file)", errno: ENOENT,
            detail: "this kernel has neither \(write.file) nor \(file)", field: write.field)
    }

    /// The error for a failed write, with what the kernel's errno means for that file.
    private func failure(_ write: CgroupWrite, dir: String, errno code: Int32) -> ApusError {
        var detail: String? = nil
        if code == ENOENT {
            if write.version == .v2 {
                detail =
                    "no \(write.file) in \(dir): the \(CgroupPlacement.v2Name(write.controller)) controller is not available there (see \(dir.cgroupParent)/cgroup.subtree_control) or this kernel does not have the file"
            } else if write.file.hasPrefix("memory.memsw.") {
                detail = "this kernel does not account swap (boot with swapaccount=1)"
            } else {
                detail = "this kernel's \(write.controller) controller has no \(write.file)"
            }
        } else if code == EINVAL, write.file == "memory.use_hierarchy" {
            // Linux 5.11 deprecated the non-hierarchical mode: the file reads 1 and refuses 0.
            detail = "this kernel keeps every memory cgroup hierarchical (use_hierarchy is always 1)"
        } else if code == EBUSY, write.file == "memory.limit_in_bytes" || write.file == "memory.max" {
            let usage = CgroupFS.readLine(dir + (write.version == .v1 ? "/memory.usage_in_bytes" : "/memory.current"))
            if let usage { detail = "the cgroup already uses \(usage) bytes" }
        }
        return ApusError.cgroup(
            "write \(write.value) to \(dir)/\(write.file)", errno: code, detail: detail, field: write.field)
    }

    /// runc's checkBeforeUpdate (v2 only: v1 refuses a limit under the usage by itself).
    static func checkMemoryUsage(_ memory: Spec.Linux.Resources.Memory, dir: String) throws(ApusError) {
        let limit = memory.limit ?? 0
        let swap = memory.swap ?? 0
        guard limit > 0 || swap > 0, let usage = CgroupFS.readLine(dir + "/memory.current").flatMap({ UInt64($0) })
        else {
            return
        }
        if swap > 0, UInt64(swap) <= usage {
            throw ApusError.invalidCgroup(
                "rejecting memory+swap limit \(swap): the container already uses \(usage) bytes",
                field: CgroupMemory.field + ".swap")
        }
        if limit > 0, UInt64(limit) <= usage {
            throw ApusError.invalidCgroup(
                "rejecting memory limit \(limit): the container already uses \(usage) bytes",
                field: CgroupMemory.field + ".limit")
        }
    }

    /// Best-effort removal of everything `create` made so far (failure path).
    private func removeCreated() {
        for dir in created.sorted(by: { $0.count > $1.count }) { _ = rmdir(dir) }
    }

    /// rmdir of a container cgroup and its child cgroups. Right after the last process
    /// exits the kernel can still report the cgroup busy for a moment: retry briefly
    /// (runc waits up to ~300 ms as well).
    static func removeTree(_ dir: String) -> ApusError? {
        if rmdir(dir) == 0 || errno == ENOENT { return nil }
        // Child cgroups the container made (nested runtimes, systemd inside) go first.
        for child in CgroupFS.subdirectories(dir) {
            if let error = removeTree(dir + "/" + child) { return error }
        }
        var delay = 5
        for attempt in 0..<7 {
            if rmdir(dir) == 0 || errno == ENOENT { return nil }
            let code = errno
            if code != EBUSY || attempt == 6 { return ApusError.cgroup("remove \(dir)", errno: code) }
            CgroupFS.sleep(milliseconds: delay)
            delay *= 2
        }
        return nil
    }

    var processDirectory: String? {
        if layout == .unified { return paths["unified"] }
        return paths["pids"] ?? paths["memory"] ?? paths["freezer"] ?? paths["unified"] ?? hierarchies.first?.dir
    }

    static func collectPids(_ dir: String, into pids: inout [Int32]) throws(ApusError) {
        guard let text = CgroupFS.read(dir + "/cgroup.procs") else {
            throw ApusError.cgroup("read \(dir)/cgroup.procs", errno: errno)
        }
        for line in text.split(separator: "\n") {
            if let pid = Int32(line) { pids.append(pid) }
        }
        for child in CgroupFS.subdirectories(dir) {
            try collectPids(dir + "/" + child, into: &pids)
        }
    }
}

/// The created-directory list of a `CgroupManager`. apus is single-threaded until exec
/// (design rule 1) and only create/destroy touch it, hence unchecked.
final class CreatedDirectories: @unchecked Sendable {
    var dirs: [String]
    init(_ dirs: [String] = []) { self.dirs = dirs }
}
