import ApusLinux
import Glibc
import OCI

/// The systemd cgroup driver (`--systemd-cgroup`): systemd makes the container's cgroup as a
/// transient unit (`<prefix>-<name>.scope`, or a slice) and owns it; apus then writes what
/// systemd cannot express into it with the cgroupfs writers, and every later command
/// (exec, pause, ps, events, kill --all) uses the cgroup's files as with cgroupfs. The unit
/// is recorded in state.json so that update and delete find it.
struct SystemdDriver {
    let unit: SystemdUnit
    let manager: SystemdManager

    /// The driver of a new container: the unit its cgroupsPath names, on `bus`.
    init(unit: SystemdUnit, manager: SystemdManager) {
        self.unit = unit
        self.manager = manager
    }

    /// Where the unit's cgroup will be, before it exists: the unit's own path (its slice
    /// expanded, then the scope; a slice's name expanded), under the root for PID 1 and
    /// under the user manager's own cgroup on the user bus (rootless).
    func resolveCgroup() throws(ApusError) -> CgroupManager {
        let root = unit.bus == .user ? try manager.controlGroup() : "/"
        return CgroupManager(layout: try CgroupLayout.detect(), path: try unit.cgroupPath(under: root))
    }

    /// Connects to the bus the unit lives on (delete and update run in another process
    /// than create): the address recorded at create, else the environment's. The caller
    /// closes the connection.
    static func reconnect(_ unit: SystemdUnit) throws(ApusError) -> SystemdDriver {
        var bus = SystemdBus.choose(rootless: unit.bus == .user)
        if let recorded = unit.address { bus.address = recorded }
        let connection = try bus.connect()
        return SystemdDriver(unit: unit, manager: SystemdManager(connection))
    }

    func close() { manager.connection.close() }

    /// Starts the unit with `pid` (init, cloned and waiting for `proceed`/`inCgroup`) in it:
    /// runc starts it at the same point, after the child exists (systemd wants its pid)
    /// and before it runs anything of the container. Then the limits systemd cannot
    /// express go to the unit's cgroup, and the v1 hierarchies systemd does not manage are
    /// joined. Everything is undone by `rollback`: the cgroup's processes killed and the
    /// unit stopped, so a failed create leaves no unit behind.
    func start(
        pid: Int32, cgroup: CgroupManager, linux: Spec.Linux, annotations: [String: String]?, rollback: Rollback,
        warn: (String) -> Void
    ) throws(ApusError) {
        let version: CgroupVersion = cgroup.layout == .unified ? .v2 : .v1
        // A slice holds no processes of its own: init joins its cgroup through cgroupfs.
        let properties = try SystemdProperties.unit(
            unit, pid: unit.isSlice ? 0 : pid, resources: linux.resources, annotations: annotations, version: version)
        // A busy cgroup is someone else's (as with cgroupfs): refused before systemd is
        // asked, since the unit's cgroup then holds init itself.
        try cgroup.checkEmpty()
        try manager.startTransientUnit(unit.name, properties: properties)
        rollback.add { [manager, unit] in
            // StopUnit of a scope whose processes ignore SIGTERM (a pid namespace's init)
            // would wait for systemd's stop timeout: they are killed first.
            try? cgroup.killAll(signal: SIGKILL)
            try? manager.stopUnit(unit.name)
        }
        if version == .v2, !unit.isSlice { try checkPlacement(pid: pid, cgroup: cgroup) }
        // The cgroupfs writers over the same resources: what systemd expressed is written
        // again with the same values, the rest (devices, unified, hugetlb, rdma…) only here.
        // Directories systemd made already exist and are not recorded as apus's.
        // A user's manager runs unprivileged: attaching a device program needs
        // CAP_SYS_ADMIN over the cgroup, so rootless device rules are left out (as with
        // cgroupfs; the devices are bind mounts).
        var resources = linux.resources
        if unit.bus == .user { resources?.devices = nil }
        try cgroup.create(resources: resources, includeDevices: unit.bus == .system, warn: warn)
        rollback.add { try? cgroup.destroy() }
        if unit.isSlice || cgroup.layout != .unified {
            try cgroup.join(pid: pid, includingV1: true, includingUnified: unit.isSlice)
        }
    }

    /// systemd put `pid` where apus will write the limits: the unit's cgroup is the one
    /// cgroupsPath names (it is not, for instance, in a user instance's tree).
    func checkPlacement(pid: Int32, cgroup: CgroupManager) throws(ApusError) {
        // An init that died meanwhile has said why on the sync socket: that error is the
        // one to report (awaitReady), not where its zombie is.
        if ProcessStat.read(pid: pid)?.state ?? "Z" == "Z" { return }
        let unified = CgroupManager.unifiedPath(of: pid)
        guard unified == cgroup.path else {
            throw ApusError.cgroup(
                "systemd: start unit \(unit.name)",
                detail: "systemd placed the container in \(unified ?? "no cgroup v2 cgroup"), not in \(cgroup.path)",
                field: ".linux.cgroupsPath")
        }
    }

    /// `delete` (and a create that died before recording init): the unit stopped, waiting
    /// for its job; a unit systemd no longer knows (a scope goes away by itself once its
    /// processes are gone) is already stopped.
    static func stop(_ unit: SystemdUnit) throws(ApusError) {
        let driver = try reconnect(unit)
        defer { driver.close() }
        try driver.manager.stopUnit(unit.name)
    }

    /// `exec` where the runtime may not move the process into the unit's cgroup itself
    /// (rootless, run from outside the user manager's tree: the kernel wants write access
    /// to the common ancestor's cgroup.procs): systemd moves it (AttachProcessesToUnit).
    /// The cgroupfs join comes first, as with runc (clone3 into the cgroup): no round trip
    /// to systemd on the path where the runtime can do it.
    static func attach(_ unit: SystemdUnit, pid: Int32) throws(ApusError) {
        let driver = try reconnect(unit)
        defer { driver.close() }
        try driver.manager.attachProcesses(unit.name, pids: [pid])
    }

    /// `update`: the unit's properties at runtime, so that they hold across
    /// `systemctl daemon-reload`; the caller then writes the cgroup files.
    static func update(_ unit: SystemdUnit, resources: Spec.Linux.Resources, version: CgroupVersion)
        throws(ApusError)
    {
        let properties = try SystemdProperties.resources(resources, version: version)
        guard !properties.isEmpty else { return }
        let driver = try reconnect(unit)
        defer { driver.close() }
        try driver.manager.setUnitProperties(unit.name, properties: properties)
    }
}
