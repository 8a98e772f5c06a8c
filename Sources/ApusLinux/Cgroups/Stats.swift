import Glibc

/// The numbers `apus events --stats` reports, shaped and encoded like runc's
/// `types.Stats` (same JSON keys, zero values omitted where runc omits them).
public struct CgroupStats: Sendable, Equatable, Encodable {
    public struct Throttling: Sendable, Equatable, Encodable {
        public var periods: UInt64 = 0
        public var throttledPeriods: UInt64 = 0
        public var throttledTime: UInt64 = 0

        enum CodingKeys: String, CodingKey { case periods, throttledPeriods, throttledTime }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeNonZero(periods, forKey: .periods)
            try c.encodeNonZero(throttledPeriods, forKey: .throttledPeriods)
            try c.encodeNonZero(throttledTime, forKey: .throttledTime)
        }
    }

    public struct CPUUsage: Sendable, Equatable, Encodable {
        /// Nanoseconds.
        public var total: UInt64 = 0
        public var percpu: [UInt64] = []
        public var percpuKernel: [UInt64] = []
        public var percpuUser: [UInt64] = []
        public var kernel: UInt64 = 0
        public var user: UInt64 = 0

        enum CodingKeys: String, CodingKey {
            case total, percpu, percpuKernel = "percpu_kernel", percpuUser = "percpu_user", kernel, user
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeNonZero(total, forKey: .total)
            if !percpu.isEmpty { try c.encode(percpu, forKey: .percpu) }
            if !percpuKernel.isEmpty { try c.encode(percpuKernel, forKey: .percpuKernel) }
            if !percpuUser.isEmpty { try c.encode(percpuUser, forKey: .percpuUser) }
            try c.encode(kernel, forKey: .kernel)
            try c.encode(user, forKey: .user)
        }
    }

    public struct CPU: Sendable, Equatable, Encodable {
        public var usage = CPUUsage()
        public var throttling = Throttling()
    }

    public struct CPUSet: Sendable, Equatable, Encodable {
        public var cpus: [UInt16] = []
        public var mems: [UInt16] = []

        enum CodingKeys: String, CodingKey {
            case cpus, cpuExclusive = "cpu_exclusive", mems, memHardwall = "mem_hardwall",
                memExclusive = "mem_exclusive", memoryMigrate = "memory_migrate",
                memorySpreadPage = "memory_spread_page", memorySpreadSlab = "memory_spread_slab",
                memoryPressure = "memory_pressure", schedLoadBalance = "sched_load_balance",
                schedRelaxDomainLevel = "sched_relax_domain_level"
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            if !cpus.isEmpty { try c.encode(cpus, forKey: .cpus) }
            try c.encode(0, forKey: .cpuExclusive)
            if !mems.isEmpty { try c.encode(mems, forKey: .mems) }
            for key in [
                CodingKeys.memHardwall, .memExclusive, .memoryMigrate, .memorySpreadPage, .memorySpreadSlab,
                .memoryPressure, .schedLoadBalance, .schedRelaxDomainLevel,
            ] {
                try c.encode(0, forKey: key)
            }
        }
    }

    public struct MemoryEntry: Sendable, Equatable, Encodable {
        public var limit: UInt64 = 0
        public var usage: UInt64 = 0
        public var max: UInt64 = 0
        public var failcnt: UInt64 = 0

        enum CodingKeys: String, CodingKey { case limit, usage, max, failcnt }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(limit, forKey: .limit)
            try c.encodeNonZero(usage, forKey: .usage)
            try c.encodeNonZero(max, forKey: .max)
            try c.encode(failcnt, forKey: .failcnt)
        }
    }

    public struct Memory: Sendable, Equatable, Encodable {
        public var cache: UInt64 = 0
        public var usage = MemoryEntry()
        public var swap = MemoryEntry()
        public var kernel = MemoryEntry()
        public var kernelTCP = MemoryEntry()
        /// memory.stat, as is.
        public var raw: [String: UInt64] = [:]

        enum CodingKeys: String, CodingKey { case cache, usage, swap, kernel, kernelTCP, raw }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeNonZero(cache, forKey: .cache)
            try c.encode(usage, forKey: .usage)
            try c.encode(swap, forKey: .swap)
            try c.encode(kernel, forKey: .kernel)
            try c.encode(kernelTCP, forKey: .kernelTCP)
            if !raw.isEmpty { try c.encode(SortedMap(raw), forKey: .raw) }
        }
    }

    public struct Pids: Sendable, Equatable, Encodable {
        public var current: UInt64 = 0
        /// 0 is "max".
        public var limit: UInt64 = 0

        enum CodingKeys: String, CodingKey { case current, limit }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeNonZero(current, forKey: .current)
            try c.encodeNonZero(limit, forKey: .limit)
        }
    }

    public struct BlkioEntry: Sendable, Equatable, Encodable {
        public var major: UInt64 = 0
        public var minor: UInt64 = 0
        public var op: String = ""
        public var value: UInt64 = 0

        enum CodingKeys: String, CodingKey { case major, minor, op, value }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeNonZero(major, forKey: .major)
            try c.encodeNonZero(minor, forKey: .minor)
            if !op.isEmpty { try c.encode(op, forKey: .op) }
            try c.encodeNonZero(value, forKey: .value)
        }
    }

    public struct Blkio: Sendable, Equatable, Encodable {
        public var ioServiceBytesRecursive: [BlkioEntry] = []
        public var ioServicedRecursive: [BlkioEntry] = []
        public var ioQueuedRecursive: [BlkioEntry] = []
        public var ioServiceTimeRecursive: [BlkioEntry] = []
        public var ioWaitTimeRecursive: [BlkioEntry] = []
        public var ioMergedRecursive: [BlkioEntry] = []
        public var ioTimeRecursive: [BlkioEntry] = []
        public var sectorsRecursive: [BlkioEntry] = []

        enum CodingKeys: String, CodingKey {
            case ioServiceBytesRecursive, ioServicedRecursive, ioQueuedRecursive = "ioQueueRecursive",
                ioServiceTimeRecursive, ioWaitTimeRecursive, ioMergedRecursive, ioTimeRecursive, sectorsRecursive
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            let all: [(CodingKeys, [BlkioEntry])] = [
                (.ioServiceBytesRecursive, ioServiceBytesRecursive), (.ioServicedRecursive, ioServicedRecursive),
                (.ioQueuedRecursive, ioQueuedRecursive), (.ioServiceTimeRecursive, ioServiceTimeRecursive),
                (.ioWaitTimeRecursive, ioWaitTimeRecursive), (.ioMergedRecursive, ioMergedRecursive),
                (.ioTimeRecursive, ioTimeRecursive), (.sectorsRecursive, sectorsRecursive),
            ]
            for (key, entries) in all where !entries.isEmpty { try c.encode(entries, forKey: key) }
        }
    }

    public struct Hugetlb: Sendable, Equatable, Encodable {
        public var usage: UInt64 = 0
        public var max: UInt64 = 0
        public var failcnt: UInt64 = 0

        enum CodingKeys: String, CodingKey { case usage, max, failcnt }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeNonZero(usage, forKey: .usage)
            try c.encodeNonZero(max, forKey: .max)
            try c.encode(failcnt, forKey: .failcnt)
        }
    }

    public var cpu = CPU()
    public var cpuset = CPUSet()
    public var memory = Memory()
    public var pids = Pids()
    public var blkio = Blkio()
    /// Page size ("2MB") → numbers.
    public var hugetlb: [String: Hugetlb] = [:]

    public init() {}

    enum CodingKeys: String, CodingKey {
        case cpu, cpuset, memory, pids, blkio, hugetlb, intelRdt = "intel_rdt", networkInterfaces = "network_interfaces"
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(cpu, forKey: .cpu)
        try c.encode(cpuset, forKey: .cpuset)
        try c.encode(memory, forKey: .memory)
        try c.encode(pids, forKey: .pids)
        try c.encode(blkio, forKey: .blkio)
        try c.encode(SortedMap(hugetlb), forKey: .hugetlb)
        try c.encode([String: String](), forKey: .intelRdt)
        try c.encodeNil(forKey: .networkInterfaces)
    }
}

/// A string-keyed map written with its keys sorted, as Go's encoding/json writes maps
/// (runc's `events --stats`): the same statistics give the same line.
struct SortedMap<Value: Encodable>: Encodable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var map: [String: Value]
    init(_ map: [String: Value]) { self.map = map }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (key, value) in map.sorted(by: { $0.key < $1.key }) { try c.encode(value, forKey: Key(stringValue: key)) }
    }
}

extension KeyedEncodingContainer {
    fileprivate mutating func encodeNonZero(_ value: UInt64, forKey key: Key) throws {
        if value != 0 { try encode(value, forKey: key) }
    }
}

// MARK: - Reading

extension CgroupManager {
    /// Reads the container's numbers from whichever hierarchy each controller is on.
    /// Files the kernel does not have read as zero (as in runc); a cgroup that is gone
    /// is an error.
    public func stats() throws(ApusError) -> CgroupStats {
        guard let probe = processDirectory, CgroupFS.exists(probe) else {
            throw ApusError.cgroup("read statistics of \(path)", errno: ENOENT)
        }
        var stats = CgroupStats()
        if let (dir, version) = directory(for: "cpu") {
            switch version {
            case .v1:
                CgroupStatsReader.cpuV1(cpu: dir, cpuacct: paths["cpuacct"], into: &stats.cpu)
            case .v2:
                CgroupStatsReader.cpuV2(dir, into: &stats.cpu)
            }
        }
        if layout != .unified, let dir = paths["cpuset"] {
            stats.cpuset.cpus = CgroupStatsReader.parseList(CgroupFS.readLine(dir + "/cpuset.cpus") ?? "")
            stats.cpuset.mems = CgroupStatsReader.parseList(CgroupFS.readLine(dir + "/cpuset.mems") ?? "")
        }
        if let (dir, version) = directory(for: "memory") {
            stats.memory = version == .v1 ? CgroupStatsReader.memoryV1(dir) : CgroupStatsReader.memoryV2(dir)
        }
        if let (dir, _) = directory(for: "pids") {
            stats.pids.current = CgroupStatsReader.number(dir + "/pids.current")
            stats.pids.limit = CgroupStatsReader.number(dir + "/pids.max")
        }
        if let (dir, version) = directory(for: "blkio") {
            stats.blkio = version == .v1 ? CgroupStatsReader.blkioV1(dir) : CgroupStatsReader.ioV2(dir)
        }
        if let (dir, version) = directory(for: "hugetlb") {
            for size in CgroupHugetlb.hostPageSizes() {
                let prefix = dir + "/hugetlb." + size
                var entry = CgroupStats.Hugetlb()
                switch version {
                case .v1:
                    entry.usage = CgroupStatsReader.number(prefix + ".usage_in_bytes")
                    entry.max = CgroupStatsReader.number(prefix + ".max_usage_in_bytes")
                    entry.failcnt = CgroupStatsReader.number(prefix + ".failcnt")
                case .v2:
                    guard CgroupFS.exists(prefix + ".current") else { continue }
                    entry.usage = CgroupStatsReader.number(prefix + ".current")
                    entry.failcnt = CgroupStatsReader.keyed(prefix + ".events")["max"] ?? 0
                }
                stats.hugetlb[size] = entry
            }
        }
        return stats
    }

    /// How many times the kernel's OOM killer killed a process of the container (v2
    /// memory.events oom_kill, v1 memory.oom_control oom_kill, kernel 4.13+); nil when
    /// the kernel does not say.
    public func oomKillCount() -> UInt64? {
        guard let (dir, version) = directory(for: "memory") else { return nil }
        let values = CgroupStatsReader.keyed(dir + (version == .v1 ? "/memory.oom_control" : "/memory.events"))
        return values["oom_kill"]
    }
}

enum CgroupStatsReader {
    /// A single number; "max" and unreadable files are 0.
    static func number(_ path: String) -> UInt64 {
        CgroupFS.readLine(path).flatMap { UInt64($0.trimmingSpaces) } ?? 0
    }

    /// "key value" lines.
    static func keyed(_ path: String) -> [String: UInt64] {
        parseKeyed(CgroupFS.read(path) ?? "")
    }

    static func parseKeyed(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 2, let value = UInt64(parts[1]) { out[String(parts[0])] = value }
        }
        return out
    }

    /// "0-3,5" → [0, 1, 2, 3, 5].
    static func parseList(_ text: String) -> [UInt16] {
        var out: [UInt16] = []
        for part in text.trimmingSpaces.split(separator: ",") {
            let bounds = part.split(separator: "-")
            if bounds.count == 2, let low = UInt16(bounds[0]), let high = UInt16(bounds[1]), low <= high {
                out.append(contentsOf: low...high)
            } else if bounds.count == 1, let one = UInt16(bounds[0]) {
                out.append(one)
            }
        }
        return out
    }

    static func numbers(_ text: String) -> [UInt64] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
    }

    static func cpuV1(cpu: String, cpuacct: String?, into stats: inout CgroupStats.CPU) {
        let throttling = keyed(cpu + "/cpu.stat")
        stats.throttling.periods = throttling["nr_periods"] ?? 0
        stats.throttling.throttledPeriods = throttling["nr_throttled"] ?? 0
        stats.throttling.throttledTime = throttling["throttled_time"] ?? 0
        guard let cpuacct else { return }
        stats.usage.total = number(cpuacct + "/cpuacct.usage")
        stats.usage.percpu = numbers(CgroupFS.read(cpuacct + "/cpuacct.usage_percpu") ?? "")
        // cpuacct.stat is in USER_HZ ticks.
        let ticks = keyed(cpuacct + "/cpuacct.stat")
        let hz = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        stats.usage.user = (ticks["user"] ?? 0) * (1_000_000_000 / hz)
        stats.usage.kernel = (ticks["system"] ?? 0) * (1_000_000_000 / hz)
        // "cpu user system" header, then one line per cpu (kernel 4.7+).
        for line in (CgroupFS.read(cpuacct + "/cpuacct.usage_all") ?? "").split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ").compactMap { UInt64($0) }
            guard fields.count == 3 else { continue }
            stats.usage.percpuUser.append(fields[1])
            stats.usage.percpuKernel.append(fields[2])
        }
    }

    static func cpuV2(_ dir: String, into stats: inout CgroupStats.CPU) {
        let values = keyed(dir + "/cpu.stat")
        stats.usage.total = (values["usage_usec"] ?? 0) * 1000
        stats.usage.user = (values["user_usec"] ?? 0) * 1000
        stats.usage.kernel = (values["system_usec"] ?? 0) * 1000
        stats.throttling.periods = values["nr_periods"] ?? 0
        stats.throttling.throttledPeriods = values["nr_throttled"] ?? 0
        stats.throttling.throttledTime = (values["throttled_usec"] ?? 0) * 1000
    }

    static func memoryV1(_ dir: String) -> CgroupStats.Memory {
        var memory = CgroupStats.Memory()
        memory.raw = keyed(dir + "/memory.stat")
        memory.cache = memory.raw["cache"] ?? 0
        func entry(_ prefix: String) -> CgroupStats.MemoryEntry {
            guard CgroupFS.exists(dir + "/" + prefix + ".usage_in_bytes") else { return CgroupStats.MemoryEntry() }
            return CgroupStats.MemoryEntry(
                limit: number(dir + "/" + prefix + ".limit_in_bytes"),
                usage: number(dir + "/" + prefix + ".usage_in_bytes"),
                max: number(dir + "/" + prefix + ".max_usage_in_bytes"),
                failcnt: number(dir + "/" + prefix + ".failcnt"))
        }
        memory.usage = entry("memory")
        memory.swap = entry("memory.memsw")
        memory.kernel = entry("memory.kmem")
        memory.kernelTCP = entry("memory.kmem.tcp")
        return memory
    }

    static func memoryV2(_ dir: String) -> CgroupStats.Memory {
        var memory = CgroupStats.Memory()
        memory.raw = keyed(dir + "/memory.stat")
        memory.cache = memory.raw["file"] ?? 0
        func limit(_ file: String) -> UInt64 {
            let text = CgroupFS.readLine(dir + "/" + file) ?? ""
            return text == "max" ? UInt64.max : UInt64(text) ?? 0
        }
        memory.usage.usage = number(dir + "/memory.current")
        memory.usage.limit = limit("memory.max")
        memory.usage.max = number(dir + "/memory.peak")
        memory.usage.failcnt = keyed(dir + "/memory.events")["max"] ?? 0
        if CgroupFS.exists(dir + "/memory.swap.current") {
            // runc reports v1's memory+swap numbers on v2 too.
            memory.swap.usage = number(dir + "/memory.swap.current") + memory.usage.usage
            let swapLimit = limit("memory.swap.max")
            memory.swap.limit =
                swapLimit == UInt64.max || memory.usage.limit == UInt64.max
                ? UInt64.max : swapLimit &+ memory.usage.limit
        }
        return memory
    }

    static func blkioV1(_ dir: String) -> CgroupStats.Blkio {
        var blkio = CgroupStats.Blkio()
        // CFQ files (legacy block layer), then BFQ's, then the throttle controller's,
        // whichever the kernel fills (runc's order).
        for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
            blkio.ioServiceBytesRecursive = entries(dir + "/" + prefix + "io_service_bytes_recursive")
            blkio.ioServicedRecursive = entries(dir + "/" + prefix + "io_serviced_recursive")
            if prefix == "blkio." {
                blkio.ioQueuedRecursive = entries(dir + "/blkio.io_queued_recursive")
                blkio.ioServiceTimeRecursive = entries(dir + "/blkio.io_service_time_recursive")
                blkio.ioWaitTimeRecursive = entries(dir + "/blkio.io_wait_time_recursive")
                blkio.ioMergedRecursive = entries(dir + "/blkio.io_merged_recursive")
                blkio.ioTimeRecursive = entries(dir + "/blkio.time_recursive")
                blkio.sectorsRecursive = entries(dir + "/blkio.sectors_recursive")
            }
            if !blkio.ioServiceBytesRecursive.isEmpty || !blkio.ioServicedRecursive.isEmpty { break }
        }
        return blkio
    }

    /// "8:0 Read 4096" lines (the "Total" summary line is skipped); "8:0 4096" for files
    /// without an operation column.
    static func entries(_ path: String) -> [CgroupStats.BlkioEntry] {
        parseEntries(CgroupFS.read(path) ?? "")
    }

    static func parseEntries(_ text: String) -> [CgroupStats.BlkioEntry] {
        var out: [CgroupStats.BlkioEntry] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2 else { continue }
            let device = fields[0].split(separator: ":")
            guard device.count == 2, let major = UInt64(device[0]), let minor = UInt64(device[1]) else { continue }
            if fields.count == 3, let value = UInt64(fields[2]) {
                out.append(CgroupStats.BlkioEntry(major: major, minor: minor, op: String(fields[1]), value: value))
            } else if fields.count == 2, let value = UInt64(fields[1]) {
                out.append(CgroupStats.BlkioEntry(major: major, minor: minor, op: "", value: value))
            }
        }
        return out
    }

    static func ioV2(_ dir: String) -> CgroupStats.Blkio {
        parseIOStat(CgroupFS.read(dir + "/io.stat") ?? "")
    }

    /// io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
    static func parseIOStat(_ text: String) -> CgroupStats.Blkio {
        var blkio = CgroupStats.Blkio()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            let device = first.split(separator: ":")
            guard device.count == 2, let major = UInt64(device[0]), let minor = UInt64(device[1]) else { continue }
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=")
                guard pair.count == 2, let value = UInt64(pair[1]) else { continue }
                let entry = { (op: String) in CgroupStats.BlkioEntry(major: major, minor: minor, op: op, value: value) }
                switch pair[0] {
                case "rbytes": blkio.ioServiceBytesRecursive.append(entry("Read"))
                case "wbytes": blkio.ioServiceBytesRecursive.append(entry("Write"))
                case "rios": blkio.ioServicedRecursive.append(entry("Read"))
                case "wios": blkio.ioServicedRecursive.append(entry("Write"))
                default: continue
                }
            }
        }
        return blkio
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: String {
        var text = Substring(self)
        while let last = text.last, last == " " || last == "\n" || last == "\t" { text = text.dropLast() }
        while let first = text.first, first == " " || first == "\n" || first == "\t" { text = text.dropFirst() }
        return String(text)
    }
}
