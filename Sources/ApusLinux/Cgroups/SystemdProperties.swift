import ApusDBus
import OCI

/// One property of a systemd unit as StartTransientUnit and SetUnitProperties take it
/// (`(sv)`), with the config.json field it came from, so that systemd's refusal names it.
public struct SystemdProperty: Equatable, Sendable {
    public var name: String
    public var value: DBusValue
    public var field: String?

    public init(_ name: String, _ value: DBusValue, field: String? = nil) {
        self.name = name
        self.value = value
        self.field = field
    }

    var wire: DBusValue { .structure([.string(name), .variant(value)]) }
}

/// config.json → unit properties: pure, unit-tested. The same values are also written to
/// the cgroup files afterwards (as runc does), so what systemd cannot express still applies,
/// and what it can express survives `systemctl daemon-reload`, which re-applies a unit's
/// properties to its cgroup.
public enum SystemdProperties {
    /// The unit's own properties for StartTransientUnit: placement, delegation, the init pid,
    /// accounting, then the resources, then the `org.systemd.property.*` annotations (last,
    /// so they override, as in runc).
    public static func unit(
        _ unit: SystemdUnit, pid: Int32, resources: Spec.Linux.Resources?, annotations: [String: String]?,
        version: CgroupVersion
    ) throws(ApusError) -> [SystemdProperty] {
        var properties = [SystemdProperty("Description", .string("apus container \(unit.containerID)"))]
        if unit.isSlice {
            // A slice is placed by Wants= of its parent; it takes no processes or delegation.
            properties.append(SystemdProperty("Wants", .array(element: .string, [.string(unit.slice)])))
        } else {
            properties.append(SystemdProperty("Slice", .string(unit.slice)))
            properties.append(SystemdProperty("Delegate", .boolean(true)))
        }
        if pid > 0 { properties.append(SystemdProperty("PIDs", .array(element: .uint32, [.uint32(UInt32(pid))]))) }
        // Always account: the same files as the cgroupfs driver, and a memory cgroup joined
        // later has problems the kernel does not fix (runc's reason too).
        for name in ["MemoryAccounting", "CPUAccounting", "IOAccounting", "TasksAccounting"] {
            properties.append(SystemdProperty(name, .boolean(true)))
        }
        properties.append(SystemdProperty("DefaultDependencies", .boolean(false)))
        properties += try self.resources(resources, version: version)
        properties += try SystemdAnnotations.properties(annotations)
        return properties
    }

    /// The resources systemd can express, for StartTransientUnit and for `update`
    /// (SetUnitProperties).
    public static func resources(_ resources: Spec.Linux.Resources?, version: CgroupVersion) throws(ApusError)
        -> [SystemdProperty]
    {
        guard let resources else { return [] }
        var out: [SystemdProperty] = []
        if let memory = resources.memory { out += try self.memory(memory, version: version) }
        if let cpu = resources.cpu { out += try self.cpu(cpu, version: version) }
        if let limit = resources.pids?.limit, limit > 0 || limit == -1 {
            out.append(
                SystemdProperty(
                    "TasksMax", .uint64(limit == -1 ? .max : UInt64(limit)), field: ".linux.resources.pids.limit"))
        }
        if let blockIO = resources.blockIO { out += blockIOProperties(blockIO, version: version) }
        if version == .v2, let group = resources.unified?["memory.oom.group"] {
            // memory.oom.group=1: the kernel kills the whole cgroup on OOM, which is what
            // OOMPolicy=kill asks systemd to do; 0 is systemd's default, continue.
            let trimmed = group.split(whereSeparator: \.isWhitespace).joined()
            out.append(
                SystemdProperty(
                    "OOMPolicy", .string(trimmed == "1" ? "kill" : "continue"),
                    field: ".linux.resources.unified[\"memory.oom.group\"]"))
        }
        return out
    }

    static func memory(_ memory: Spec.Linux.Resources.Memory, version: CgroupVersion) throws(ApusError)
        -> [SystemdProperty]
    {
        let field = ".linux.resources.memory"
        func bytes(_ value: Int64) -> DBusValue { .uint64(value < 0 ? .max : UInt64(value)) }
        var out: [SystemdProperty] = []
        let limit = memory.limit ?? 0
        if version == .v1 {
            if limit != 0 { out.append(SystemdProperty("MemoryLimit", bytes(limit), field: field + ".limit")) }
            return out
        }
        if limit != 0 { out.append(SystemdProperty("MemoryMax", bytes(limit), field: field + ".limit")) }
        if let low = memory.reservation, low != 0 {
            out.append(SystemdProperty("MemoryLow", bytes(low), field: field + ".reservation"))
        }
        let swap = try CgroupMemory.v2SwapMax(swap: memory.swap ?? 0, limit: limit)
        if swap != 0 { out.append(SystemdProperty("MemorySwapMax", bytes(swap), field: field + ".swap")) }
        return out
    }

    static func cpu(_ cpu: Spec.Linux.Resources.CPU, version: CgroupVersion) throws(ApusError) -> [SystemdProperty] {
        let field = ".linux.resources.cpu"
        var out: [SystemdProperty] = []
        if let shares = cpu.shares, shares != 0 {
            // The cgroupfs driver's conversion, so the unit and the file agree.
            out.append(
                version == .v1
                    ? SystemdProperty("CPUShares", .uint64(shares), field: field + ".shares")
                    : SystemdProperty(
                        "CPUWeight", .uint64(CgroupCPU.weight(fromShares: shares)), field: field + ".shares"))
        }
        out += quota(cpu.quota ?? 0, period: cpu.period ?? 0)
        if version == .v2 {
            if let cpus = cpu.cpus, !cpus.isEmpty {
                out.append(
                    SystemdProperty("AllowedCPUs", try bitmask(cpus, field: field + ".cpus"), field: field + ".cpus"))
            }
            if let mems = cpu.mems, !mems.isEmpty {
                out.append(
                    SystemdProperty(
                        "AllowedMemoryNodes", try bitmask(mems, field: field + ".mems"), field: field + ".mems"))
            }
        }
        return out
    }

    /// runc's addCpuQuota: CPUQuotaPerSecUSec is quota per second of one CPU, and systemd
    /// keeps it as a whole percentage, so a fraction is rounded up to the next 10 ms: the
    /// cgroup file then still allows at least the quota asked for.
    static func quota(_ quota: Int64, period: UInt64) -> [SystemdProperty] {
        let field = ".linux.resources.cpu"
        var out: [SystemdProperty] = []
        if period != 0 { out.append(SystemdProperty("CPUQuotaPeriodUSec", .uint64(period), field: field + ".period")) }
        guard quota != 0 || period != 0 else { return out }
        var perSecond = UInt64.max
        if quota > 0 {
            let effectivePeriod = period == 0 ? 100_000 : period
            let (scaled, overflow) = UInt64(quota).multipliedReportingOverflow(by: 1_000_000)
            perSecond = overflow ? .max : scaled / effectivePeriod
            if perSecond % 10_000 != 0 { perSecond = (perSecond / 10_000 + 1) * 10_000 }
        }
        out.append(SystemdProperty("CPUQuotaPerSecUSec", .uint64(perSecond), field: field + ".quota"))
        return out
    }

    /// A cpuset list ("0-3,8") as systemd's byte-array bitmask: bit n of byte n/8 for CPU n.
    public static func bitmask(_ list: String, field: String) throws(ApusError) -> DBusValue {
        var bytes: [UInt8] = []
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            let numbers = bounds.map { Int($0.trimmingWhitespace) }
            guard (1...2).contains(numbers.count), let low = numbers.first ?? nil, let high = numbers.last ?? nil,
                low >= 0, low <= high, high < 1 << 16
            else {
                throw ApusError.invalidCgroup("\"\(list)\" is not a list of numbers and ranges", field: field)
            }
            if bytes.count <= high / 8 { bytes += [UInt8](repeating: 0, count: high / 8 + 1 - bytes.count) }
            for n in low...high { bytes[n / 8] |= 1 << UInt8(n % 8) }
        }
        return .array(element: .byte, bytes.map(DBusValue.byte))
    }

    static func blockIOProperties(_ blockIO: Spec.Linux.Resources.BlockIO, version: CgroupVersion) -> [SystemdProperty]
    {
        let field = ".linux.resources.blockIO"
        guard version == .v2 else {
            return blockIO.weight.map {
                [SystemdProperty("BlockIOWeight", .uint64(UInt64($0)), field: field + ".weight")]
            } ?? []
        }
        var out: [SystemdProperty] = []
        if let weight = blockIO.weight, weight != 0 {
            out.append(
                SystemdProperty(
                    "IOWeight", .uint64(CgroupBlockIO.ioWeight(fromBlkioWeight: weight)), field: field + ".weight"))
        }
        func device(_ major: Int64, _ minor: Int64) -> DBusValue { .string("/dev/block/\(major):\(minor)") }
        let weights = (blockIO.weightDevice ?? []).compactMap { entry -> DBusValue? in
            guard let weight = entry.weight else { return nil }
            return .structure([
                device(entry.major, entry.minor), .uint64(CgroupBlockIO.ioWeight(fromBlkioWeight: weight)),
            ])
        }
        if !weights.isEmpty {
            out.append(
                SystemdProperty(
                    "IODeviceWeight", .array(element: .structure([.string, .uint64]), weights),
                    field: field + ".weightDevice"))
        }
        let limits: [(String, [Spec.Linux.Resources.ThrottleDevice]?, String)] = [
            ("IOReadBandwidthMax", blockIO.throttleReadBpsDevice, "throttleReadBpsDevice"),
            ("IOWriteBandwidthMax", blockIO.throttleWriteBpsDevice, "throttleWriteBpsDevice"),
            ("IOReadIOPSMax", blockIO.throttleReadIOPSDevice, "throttleReadIOPSDevice"),
            ("IOWriteIOPSMax", blockIO.throttleWriteIOPSDevice, "throttleWriteIOPSDevice"),
        ]
        for (name, devices, key) in limits {
            guard let devices, !devices.isEmpty else { continue }
            let entries = devices.map { DBusValue.structure([device($0.major, $0.minor), .uint64($0.rate)]) }
            out.append(
                SystemdProperty(
                    name, .array(element: .structure([.string, .uint64]), entries), field: field + "." + key))
        }
        return out
    }
}

extension Substring {
    var trimmingWhitespace: Substring {
        var text = self
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }
}
