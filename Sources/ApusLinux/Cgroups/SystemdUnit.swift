/// The transient unit systemd makes for a container: `<prefix>-<name>.scope` in `slice`, or
/// the slice `name` itself when the name ends in `.slice` (runc's getUnitName).
public struct SystemdUnit: Sendable, Codable, Equatable {
    /// The unit's name, e.g. `apus-c1.scope`.
    public var name: String
    /// The parent slice, e.g. `system.slice`.
    public var slice: String
    public var containerID: String
    public var bus: SystemdBus.Kind
    /// The address of the bus the unit was started on, recorded at create: update, exec and
    /// delete reach the same manager without DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR in
    /// their environment (podman and containerd run them with another environment than
    /// create's). nil in the state of an older apus: the environment decides, as before.
    public var address: String? = nil

    public init(name: String, slice: String, containerID: String, bus: SystemdBus.Kind) {
        self.name = name
        self.slice = slice
        self.containerID = containerID
        self.bus = bus
    }

    public var isSlice: Bool { name.hasSuffix(".slice") }

    /// The unit's cgroup below its manager's (`root`: "/" for PID 1, a user manager's
    /// `user@<uid>.service` cgroup): the slice expanded into its ancestors, then the unit.
    public func cgroupPath(under root: String) throws(ApusError) -> String {
        let base = root == "/" ? "" : root
        if isSlice { return base + (try CgroupPath.expandSlice(name)) }
        return base + (try CgroupPath.expandSlice(slice)) + "/" + name
    }

    /// From `linux.cgroupsPath` in the `slice:prefix:name` form; empty parts take the
    /// defaults: `system.slice` (`user.slice` rootless), prefix `apus`, the container id.
    public static func from(cgroupsPath: String?, id: String, rootless: Bool) throws(ApusError) -> SystemdUnit {
        let raw = cgroupsPath ?? ""
        let parts = raw.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard raw.isEmpty || parts.count == 3 else {
            throw ApusError.invalidCgroup(
                "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got \"\(raw)\" instead",
                field: ".linux.cgroupsPath")
        }
        let slice = parts.count == 3 && !parts[0].isEmpty ? parts[0] : (rootless ? "user.slice" : "system.slice")
        let prefix = parts.count == 3 && !parts[1].isEmpty ? parts[1] : "apus"
        let name = parts.count == 3 && !parts[2].isEmpty ? parts[2] : id
        // The slice and the unit must be names systemd takes and cgroupfs paths apus can build.
        _ = try CgroupPath.expandSlice(slice)
        _ = try CgroupPath.systemdPath(slice: slice, prefix: prefix, name: name)
        let unit = name.hasSuffix(".slice") ? name : "\(prefix)-\(name).scope"
        return SystemdUnit(name: unit, slice: slice, containerID: id, bus: rootless ? .user : .system)
    }
}
