import ApusCore
import ArgumentParser
import OCI

struct UpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Update a running container's resource limits.",
        discussion: """
            With --resources (a file, or - for stdin, holding linux.resources JSON) all other \
            options are ignored, as in runc. Memory sizes take suffixes: 512m, 1g, 100MiB.
            """)
    @Option(name: Flags.resources.names, help: "File with the resources to set, or - for stdin.")
    var resources: String?
    @Option(name: Flags.blkioWeight.names, help: "Block I/O weight, 10 to 1000.") var blkioWeight: String?
    @Option(name: Flags.cpuPeriod.names, help: "CPU CFS period (µs).") var cpuPeriod: String?
    @Option(name: Flags.cpuQuota.names, help: "CPU CFS quota (µs per period; -1: none).") var cpuQuota: String?
    @Option(name: Flags.cpuBurst.names, help: "CPU CFS burst (µs).") var cpuBurst: String?
    @Option(name: Flags.cpuShares.names, help: "CPU shares.") var cpuShares: String?
    @Option(name: Flags.cpuRtPeriod.names, help: "CPU realtime period (µs).") var cpuRtPeriod: String?
    @Option(name: Flags.cpuRtRuntime.names, help: "CPU realtime runtime (µs).") var cpuRtRuntime: String?
    @Option(name: Flags.cpusetCpus.names, help: "CPUs to use.") var cpusetCpus: String?
    @Option(name: Flags.cpusetMems.names, help: "Memory nodes to use.") var cpusetMems: String?
    @Option(name: Flags.kernelMemory.names, help: "Kernel memory limit (ignored by kernels 5.4+).")
    var kernelMemory: String?
    @Option(name: Flags.kernelMemoryTCP.names, help: "Kernel TCP buffer memory limit.")
    var kernelMemoryTCP: String?
    @Option(name: Flags.memory.names, help: "Memory limit.") var memory: String?
    @Option(name: Flags.memoryReservation.names, help: "Memory soft limit.") var memoryReservation: String?
    @Option(name: Flags.memorySwap.names, help: "Memory + swap limit; -1 for unlimited swap.")
    var memorySwap: String?
    @Option(name: Flags.pidsLimit.names, help: "Maximum number of processes.") var pidsLimit: String?
    @Option(name: Flags.l3CacheSchema.names, help: "Intel RDT/CAT L3 cache schema.") var l3CacheSchema: String?
    @Option(name: Flags.memBwSchema.names, help: "Intel RDT/MBA memory bandwidth schema.") var memBwSchema: String?
    @Argument(help: "Container id.") var id: String

    func run() throws {
        let request = try makeRequest()
        try GlobalOptions.current.runtime().update(id: id, request)
    }

    func makeRequest() throws -> UpdateRequest {
        if let resources { return try UpdateRequest(resourcesFile: resources) }
        var r = Spec.Linux.Resources()
        var memory = Spec.Linux.Resources.Memory()
        var hasMemory = false
        func size(_ value: String?, _ flag: String) throws -> Int64? {
            guard let value else { return nil }
            hasMemory = true
            if value == "-1" { return -1 }
            guard let bytes = parseMemorySize(value) else {
                throw ValidationError("invalid value for \(flag): \(value)")
            }
            return bytes
        }
        memory.limit = try size(self.memory, "memory")
        memory.swap = try size(memorySwap, "memory-swap")
        memory.kernel = try size(kernelMemory, "kernel-memory")
        memory.kernelTCP = try size(kernelMemoryTCP, "kernel-memory-tcp")
        memory.reservation = try size(memoryReservation, "memory-reservation")
        if hasMemory { r.memory = memory }

        func unsigned(_ value: String?, _ flag: String) throws -> UInt64? {
            guard let value else { return nil }
            guard let n = UInt64(value) else { throw ValidationError("invalid value for \(flag): \(value)") }
            return n
        }
        func signed(_ value: String?, _ flag: String) throws -> Int64? {
            guard let value else { return nil }
            guard let n = Int64(value) else { throw ValidationError("invalid value for \(flag): \(value)") }
            return n
        }
        var cpu = Spec.Linux.Resources.CPU()
        cpu.period = try unsigned(cpuPeriod, "cpu-period")
        cpu.quota = try signed(cpuQuota, "cpu-quota")
        cpu.burst = try unsigned(cpuBurst, "cpu-burst")
        cpu.shares = try unsigned(cpuShares, "cpu-share")
        cpu.realtimePeriod = try unsigned(cpuRtPeriod, "cpu-rt-period")
        cpu.realtimeRuntime = try signed(cpuRtRuntime, "cpu-rt-runtime")
        cpu.cpus = cpusetCpus
        cpu.mems = cpusetMems
        if cpu != Spec.Linux.Resources.CPU() { r.cpu = cpu }
        if let limit = try signed(pidsLimit, "pids-limit") { r.pids = .init(limit: limit) }
        if let weight = try unsigned(blkioWeight, "blkio-weight") {
            guard let w = UInt16(exactly: weight) else {
                throw ValidationError("invalid value for blkio-weight: \(weight)")
            }
            r.blockIO = .init(weight: w)
        }
        return UpdateRequest(resources: r, l3CacheSchema: l3CacheSchema, memBwSchema: memBwSchema)
    }
}
