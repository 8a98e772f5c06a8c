import OCI

/// `linux.resources.network`: the v1 net_cls and net_prio controllers. cgroup v2 has
/// neither (eBPF programs do that job there).
public enum CgroupNetwork {
    static let field = ".linux.resources.network"

    public static func writes(_ network: Spec.Linux.Resources.Network, version: CgroupVersion) throws(ApusError)
        -> CgroupWrites
    {
        let priorities = network.priorities ?? []
        var out = CgroupWrites()
        if version == .v2 {
            if network.classID != nil || !priorities.isEmpty {
                throw ApusError.invalidCgroup(
                    "net_cls and net_prio exist only on cgroup v1",
                    field: field + (network.classID != nil ? ".classID" : ".priorities"))
            }
            return out
        }
        if let classID = network.classID {
            out.writes.append(
                CgroupWrite("net_cls", .v1, "net_cls.classid", String(classID), field: field + ".classID"))
        }
        for (index, priority) in priorities.enumerated() {
            let name = priority.name
            guard !name.isEmpty, !name.utf8.contains(where: { $0 <= 0x20 || $0 == UInt8(ascii: "/") }) else {
                throw ApusError.invalidCgroup(
                    "\"\(name)\" is not an interface name", field: field + ".priorities[\(index)].name")
            }
            // One "ifname prio" per write, as the kernel parses it.
            out.writes.append(
                CgroupWrite(
                    "net_prio", .v1, "net_prio.ifpriomap", "\(name) \(priority.priority)",
                    field: field + ".priorities[\(index)]"))
        }
        return out
    }
}
