import ApusCore
import OCI

enum UpdateCommand {
    static let decl = CommandDecl(
        name: "update", abstract: "Update a running container's resource limits.",
        discussion: """
            With --resources (a file, or - for stdin, holding linux.resources JSON) all other \
            options are ignored, as in runc. Memory sizes take suffixes: 512m, 1g, 100MiB.
            """,
        options: [
            OptionDecl(Flags.resources, "File with the resources to set, or - for stdin."),
            OptionDecl(Flags.blkioWeight, "Block I/O weight, 10 to 1000."),
            OptionDecl(Flags.cpuPeriod, "CPU CFS period (µs)."),
            OptionDecl(Flags.cpuQuota, "CPU CFS quota (µs per period; -1: none)."),
            OptionDecl(Flags.cpuBurst, "CPU CFS burst (µs)."),
            OptionDecl(Flags.cpuShares, "CPU shares."),
            OptionDecl(Flags.cpuRtPeriod, "CPU realtime period (µs)."),
            OptionDecl(Flags.cpuRtRuntime, "CPU realtime runtime (µs)."),
            OptionDecl(Flags.cpusetCpus, "CPUs to use."),
            OptionDecl(Flags.cpusetMems, "Memory nodes to use."),
            OptionDecl(Flags.kernelMemory, "Kernel memory limit (ignored by kernels 5.4+)."),
            OptionDecl(Flags.kernelMemoryTCP, "Kernel TCP buffer memory limit."),
            OptionDecl(Flags.memory, "Memory limit."),
            OptionDecl(Flags.memoryReservation, "Memory soft limit."),
            OptionDecl(Flags.memorySwap, "Memory + swap limit; -1 for unlimited swap."),
            OptionDecl(Flags.pidsLimit, "Maximum number of processes."),
            OptionDecl(Flags.l3CacheSchema, "Intel RDT/CAT L3 cache schema."),
            OptionDecl(Flags.memBwSchema, "Intel RDT/MBA memory bandwidth schema."),
        ], arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        let request = try makeRequest(parsed)
        try GlobalOptions.current.runtime().update(id: parsed.positionals[0], request)
        return 0
    }

    /// A bad value is reported with the root's usage line, as ArgumentParser did for errors
    /// thrown while the command ran.
    static func makeRequest(_ parsed: ParsedCommand) throws -> UpdateRequest {
        if let resources = parsed.value(Flags.resources) { return try UpdateRequest(resourcesFile: resources) }
        var r = Spec.Linux.Resources()
        var memory = Spec.Linux.Resources.Memory()
        var hasMemory = false
        func size(_ value: String?, _ flag: String) throws -> Int64? {
            guard let value else { return nil }
            hasMemory = true
            if value == "-1" { return -1 }
            guard let bytes = parseMemorySize(value) else {
                throw UsageError(message: "invalid value for \(flag): \(value)", command: nil)
            }
            return bytes
        }
        memory.limit = try size(parsed.value(Flags.memory), "memory")
        memory.swap = try size(parsed.value(Flags.memorySwap), "memory-swap")
        memory.kernel = try size(parsed.value(Flags.kernelMemory), "kernel-memory")
        memory.kernelTCP = try size(parsed.value(Flags.kernelMemoryTCP), "kernel-memory-tcp")
        memory.reservation = try size(parsed.value(Flags.memoryReservation), "memory-reservation")
        if hasMemory { r.memory = memory }

        func unsigned(_ value: String?, _ flag: String) throws -> UInt64? {
            guard let value else { return nil }
            guard let n = UInt64(value) else {
                throw UsageError(message: "invalid value for \(flag): \(value)", command: nil)
            }
            return n
        }
        func signed(_ value: String?, _ flag: String) throws -> Int64? {
            guard let value else { return nil }
            guard let n = Int64(value) else {
                throw UsageError(message: "invalid value for \(flag): \(value)", command: nil)
            }
            return n
        }
        var cpu = Spec.Linux.Resources.CPU()
        cpu.period = try unsigned(parsed.value(Flags.cpuPeriod), "cpu-period")
        cpu.quota = try signed(parsed.value(Flags.cpuQuota), "cpu-quota")
        cpu.burst = try unsigned(parsed.value(Flags.cpuBurst), "cpu-burst")
        cpu.shares = try unsigned(parsed.value(Flags.cpuShares), "cpu-share")
        cpu.realtimePeriod = try unsigned(parsed.value(Flags.cpuRtPeriod), "cpu-rt-period")
        cpu.realtimeRuntime = try signed(parsed.value(Flags.cpuRtRuntime), "cpu-rt-runtime")
        cpu.cpus = parsed.value(Flags.cpusetCpus)
        cpu.mems = parsed.value(Flags.cpusetMems)
        if cpu != Spec.Linux.Resources.CPU() { r.cpu = cpu }
        if let limit = try signed(parsed.value(Flags.pidsLimit), "pids-limit") { r.pids = .init(limit: limit) }
        if let weight = try unsigned(parsed.value(Flags.blkioWeight), "blkio-weight") {
            guard let w = UInt16(exactly: weight) else {
                throw UsageError(message: "invalid value for blkio-weight: \(weight)", command: nil)
            }
            r.blockIO = .init(weight: w)
        }
        return UpdateRequest(
            resources: r, l3CacheSchema: parsed.value(Flags.l3CacheSchema), memBwSchema: parsed.value(Flags.memBwSchema)
        )
    }
}
