import OCI

/// Which hierarchy (v1 or v2) each controller's settings go to for one container.
public struct CgroupPlacement: Sendable, Equatable {
    public var layout: CgroupLayoutKind
    /// Controllers with a v1 hierarchy (and a directory for this container).
    public var v1Controllers: Set<String>
    /// Controllers of the cgroup v2 hierarchy when known (read from cgroup.controllers
    /// on hybrid hosts); nil leaves the check to the write.
    public var v2Controllers: Set<String>?

    public init(layout: CgroupLayoutKind, v1Controllers: Set<String> = [], v2Controllers: Set<String>? = nil) {
        self.layout = layout
        self.v1Controllers = v1Controllers
        self.v2Controllers = v2Controllers
    }

    /// The v2 name of a controller (blkio is "io" there).
    static func v2Name(_ controller: String) -> String { controller == "blkio" ? "io" : controller }

    /// nil when the host has the controller on no hierarchy apus can use.
    public func version(of controller: String) -> CgroupVersion? {
        switch layout {
        case .unified:
            return .v2
        case .v1:
            return v1Controllers.contains(controller) ? .v1 : nil
        case .hybrid:
            if v1Controllers.contains(controller) { return .v1 }
            // Devices (eBPF) and freezer (cgroup.freeze) are part of cgroup v2 itself.
            if controller == "devices" || controller == "freezer" { return .v2 }
            if let v2Controllers, !v2Controllers.contains(Self.v2Name(controller)) { return nil }
            return .v2
        }
    }
}

/// Everything `linux.resources` asks of the cgroup files, computed before anything is
/// touched: a bad or unsupported value fails the container with nothing to undo.
public struct CgroupPlan: Sendable, Equatable {
    public var writes: [CgroupWrite] = []
    public var warnings: [String] = []
    /// Target state of the devices controller; nil leaves it alone (an update without
    /// device rules).
    public var devices: DeviceEmulator?
    public var devicesVersion: CgroupVersion = .v1

    public init() {}

    /// - `includeDevices`: apply the device rules (with runc's defaults) even when the
    ///   config has none, as every create does; an update only touches them when asked.
    public static func make(
        resources: Spec.Linux.Resources?, placement: CgroupPlacement, includeDevices: Bool
    ) throws(ApusError) -> CgroupPlan {
        var plan = CgroupPlan()
        let resources = resources ?? Spec.Linux.Resources()

        func add(
            _ controller: String, field: String, _ make: (CgroupVersion) throws(ApusError) -> CgroupWrites
        ) throws(ApusError) {
            guard let version = placement.version(of: controller) else {
                // Unavailable is fine when there is nothing to write.
                let wanted = try make(.v1)
                if wanted.writes.isEmpty { return }
                throw missing(controller, placement: placement, field: wanted.writes.first?.field ?? field)
            }
            plan.append(try make(version))
        }

        if let cpu = resources.cpu {
            try add("cpuset", field: ".linux.resources.cpu") { v throws(ApusError) in
                try CgroupCPUSet.writes(cpu, version: v)
            }
        }
        if includeDevices || resources.devices != nil {
            let rules = try CgroupDevices.rules(resources.devices)
            guard let version = placement.version(of: "devices") else {
                throw missing("devices", placement: placement, field: CgroupDevices.field)
            }
            plan.devices = try CgroupDevices.emulate(rules)
            plan.devicesVersion = version
        }
        if let memory = resources.memory {
            try add("memory", field: CgroupMemory.field) { v throws(ApusError) in
                try CgroupMemory.writes(memory, version: v)
            }
        }
        if let cpu = resources.cpu {
            try add("cpu", field: CgroupCPU.field) { v throws(ApusError) in try CgroupCPU.writes(cpu, version: v) }
        }
        if let pids = resources.pids {
            try add("pids", field: ".linux.resources.pids") { v in CgroupPids.writes(pids, version: v) }
        }
        if let blockIO = resources.blockIO {
            try add("blkio", field: CgroupBlockIO.field) { v throws(ApusError) in
                try CgroupBlockIO.writes(blockIO, version: v)
            }
        }
        if let hugepageLimits = resources.hugepageLimits, !hugepageLimits.isEmpty {
            try add("hugetlb", field: ".linux.resources.hugepageLimits") { v throws(ApusError) in
                try CgroupHugetlb.writes(hugepageLimits, version: v)
            }
        }
        if let network = resources.network {
            if placement.layout == .unified {
                plan.append(try CgroupNetwork.writes(network, version: .v2))
            } else {
                // net_cls and net_prio are separate v1 controllers (often co-mounted).
                let writes = try CgroupNetwork.writes(network, version: .v1)
                for write in writes.writes where !placement.v1Controllers.contains(write.controller) {
                    throw missing(write.controller, placement: placement, field: write.field)
                }
                plan.append(writes)
            }
        }
        if let rdma = resources.rdma, !rdma.isEmpty {
            try add("rdma", field: ".linux.resources.rdma") { v throws(ApusError) in
                try CgroupRdma.writes(rdma, version: v)
            }
        }
        if let unified = resources.unified, !unified.isEmpty {
            // Unknown v2 controllers (nil) defer the check: the manager reads them and plans
            // again whenever something goes to v2 on a hybrid host.
            plan.append(
                try CgroupUnified.writes(unified, layout: placement.layout, v2Controllers: placement.v2Controllers))
        }
        return plan
    }

    mutating func append(_ writes: CgroupWrites) {
        self.writes.append(contentsOf: writes.writes)
        warnings.append(contentsOf: writes.warnings)
    }

    /// Controllers the v2 writes of this plan need enabled (hybrid hosts enable only these;
    /// "cgroup" files are core, not a controller).
    var v2Controllers: Set<String> {
        var out = Set<String>()
        for write in writes where write.version == .v2 && write.controller != "cgroup" {
            out.insert(CgroupPlacement.v2Name(write.controller))
        }
        return out
    }

    static func missing(_ controller: String, placement: CgroupPlacement, field: String) -> ApusError {
        let why: String
        switch placement.layout {
        case .v1:
            why = "no cgroup v1 hierarchy has it mounted (see /proc/self/mountinfo) and this host has no cgroup v2"
        case .hybrid:
            let v2 =
                placement.v2Controllers.map { $0.isEmpty ? "none" : $0.sorted().joined(separator: " ") } ?? "unknown"
            why = "no cgroup v1 hierarchy has it mounted and the cgroup v2 hierarchy does not offer it (it has: \(v2))"
        case .unified:
            why = "the cgroup v2 hierarchy does not offer it"
        }
        return ApusError.invalidCgroup("the \(controller) controller is not available: \(why)", field: field)
    }
}
