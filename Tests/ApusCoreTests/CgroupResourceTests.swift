import OCI
import Testing

@testable import ApusLinux

typealias Resources = Spec.Linux.Resources

@Suite("Cgroup writes per controller")
struct CgroupResourceTests {
    // MARK: conversions

    // runc 1.5.1's and crun 1.27.1's values (the quadratic mapping).
    @Test(
        arguments: [
            (2, 1), (3, 2), (10, 4), (100, 17), (512, 59), (1000, 99), (1024, 100), (2048, 174), (10_000, 627),
            (262_143, 10000), (262_144, 10000),
        ] as [(UInt64, UInt64)])
    func sharesToWeight(_ shares: UInt64, _ weight: UInt64) {
        #expect(CgroupCPU.weight(fromShares: shares) == weight)
    }

    @Test(arguments: [(10, 1), (100, 910), (500, 4950), (1000, 10000)] as [(UInt16, UInt64)])
    func blkioWeightToIOWeight(_ weight: UInt16, _ ioWeight: UInt64) {
        #expect(CgroupBlockIO.ioWeight(fromBlkioWeight: weight) == ioWeight)
    }

    @Test(
        arguments: [
            (0, 0, 0), (0, 1000, 0), (-1, 0, -1), (-1, 1000, -1), (1000, 1000, 0), (3000, 1000, 2000), (0, -1, -1),
        ] as [(Int64, Int64, Int64)])
    func swapToV2(_ swap: Int64, _ limit: Int64, _ expected: Int64) throws {
        #expect(try CgroupMemory.v2SwapMax(swap: swap, limit: limit) == expected)
    }

    @Test(arguments: [(1000, 0), (1000, -1), (500, 1000)] as [(Int64, Int64)])
    func swapToV2Errors(_ swap: Int64, _ limit: Int64) {
        #expect(throws: ApusError.self) { try CgroupMemory.v2SwapMax(swap: swap, limit: limit) }
    }

    // MARK: memory

    @Test func memoryV1() throws {
        let memory = Resources.Memory(
            limit: 536_870_912, reservation: 268_435_456, swap: 1_073_741_824, swappiness: 30, disableOOMKiller: true)
        let out = try CgroupMemory.writes(memory, version: .v1)
        #expect(
            out.pairs == [
                "memory.limit_in_bytes=536870912", "memory.memsw.limit_in_bytes=1073741824",
                "memory.soft_limit_in_bytes=268435456", "memory.oom_control=1", "memory.swappiness=30",
            ])
        // Raising the limit past the current memsw fails with EINVAL until memsw is raised.
        #expect(out.writes[0].retryAfter == "memory.memsw.limit_in_bytes")
        #expect(out.writes[1].ifMissing == .fail)
        #expect(out.writes.allSatisfy { $0.controller == "memory" && $0.version == .v1 })
        #expect(out.writes[0].field == ".linux.resources.memory.limit")
        #expect(out.warnings.isEmpty)
    }

    @Test func memoryV1Unlimited() throws {
        let out = try CgroupMemory.writes(Resources.Memory(limit: -1), version: .v1)
        #expect(out.pairs == ["memory.limit_in_bytes=-1", "memory.memsw.limit_in_bytes=-1"])
        #expect(out.writes[1].ifMissing == .skip)
        #expect(out.writes[0].retryAfter == "memory.memsw.limit_in_bytes")
    }

    @Test func memoryV1LimitOnly() throws {
        let out = try CgroupMemory.writes(Resources.Memory(limit: 1000, reservation: 0, swap: 0), version: .v1)
        #expect(out.pairs == ["memory.limit_in_bytes=1000"])
        #expect(out.writes[0].retryAfter == nil)
    }

    @Test func memoryV1KernelAndHierarchy() throws {
        let out = try CgroupMemory.writes(
            Resources.Memory(kernel: 1 << 30, kernelTCP: 1 << 20, useHierarchy: true), version: .v1)
        #expect(
            out.pairs == [
                "memory.kmem.limit_in_bytes=1073741824", "memory.kmem.tcp.limit_in_bytes=1048576",
                "memory.use_hierarchy=1",
            ])
        if case .warn = out.writes[0].ifMissing {
        } else {
            Issue.record("kernel memory must only warn when the file is gone")
        }
    }

    @Test func memoryV2() throws {
        let memory = Resources.Memory(limit: 536_870_912, reservation: 268_435_456, swap: 1_073_741_824)
        let out = try CgroupMemory.writes(memory, version: .v2)
        #expect(out.pairs == ["memory.swap.max=536870912", "memory.max=536870912", "memory.low=268435456"])
        #expect(out.writes[0].ifMissing == .fail)
    }

    @Test func memoryV2Swap() throws {
        #expect(
            try CgroupMemory.writes(Resources.Memory(limit: 1000, swap: 1000), version: .v2).pairs == [
                "memory.swap.max=0", "memory.max=1000",
            ])
        #expect(
            try CgroupMemory.writes(Resources.Memory(limit: 1000, swap: -1), version: .v2).pairs == [
                "memory.swap.max=max", "memory.max=1000",
            ])
        #expect(
            try CgroupMemory.writes(Resources.Memory(limit: -1), version: .v2).pairs == [
                "memory.swap.max=max", "memory.max=max",
            ])
        #expect(try CgroupMemory.writes(Resources.Memory(limit: 1000), version: .v2).pairs == ["memory.max=1000"])
        #expect(try CgroupMemory.writes(Resources.Memory(reservation: -1), version: .v2).pairs == ["memory.low=max"])
        // No swap accounting: "max" and "0" are what the kernel does anyway.
        #expect(
            try CgroupMemory.writes(Resources.Memory(limit: 1000, swap: 1000), version: .v2).writes[0].ifMissing
                == .skip)
        #expect(throws: ApusError.self) { try CgroupMemory.writes(Resources.Memory(swap: 1000), version: .v2) }
        #expect(throws: ApusError.self) {
            try CgroupMemory.writes(Resources.Memory(limit: 2000, swap: 1000), version: .v1)
        }
        #expect(throws: ApusError.self) { try CgroupMemory.writes(Resources.Memory(limit: -2), version: .v1) }
    }

    @Test func memoryV2Refusals() throws {
        let kernel = try CgroupMemory.writes(Resources.Memory(kernel: 1000, kernelTCP: 1000), version: .v2)
        #expect(kernel.writes.isEmpty)
        #expect(kernel.warnings.count == 1)
        for memory in [
            Resources.Memory(swappiness: 10), Resources.Memory(disableOOMKiller: true),
            Resources.Memory(useHierarchy: false),
        ] {
            let error = #expect(throws: ApusError.self) { try CgroupMemory.writes(memory, version: .v2) }
            #expect(error?.field?.hasPrefix(".linux.resources.memory.") == true)
        }
        // Values that are what v2 does anyway are fine.
        #expect(
            try CgroupMemory.writes(Resources.Memory(disableOOMKiller: false, useHierarchy: true), version: .v2).writes
                .isEmpty)
        #expect(throws: ApusError.self) { try CgroupMemory.writes(Resources.Memory(swappiness: 101), version: .v1) }
    }

    // MARK: cpu

    static let fullCPU = Resources.CPU(
        shares: 1024, quota: 50000, burst: 1000, period: 100_000, realtimeRuntime: 95000, realtimePeriod: 1_000_000,
        idle: 1)

    @Test func cpuV1() throws {
        let out = try CgroupCPU.writes(Self.fullCPU, version: .v1)
        #expect(
            out.pairs == [
                "cpu.shares=1024", "cpu.cfs_period_us=100000", "cpu.cfs_burst_us=1000", "cpu.cfs_quota_us=50000",
                "cpu.idle=1",
                "cpu.rt_period_us=1000000", "cpu.rt_runtime_us=95000",
            ])
        #expect(
            out.writes.map(\.retryAfter) == [
                nil, "cpu.cfs_quota_us", "cpu.cfs_quota_us", nil, nil, "cpu.rt_runtime_us", nil,
            ])
        #expect(out.writes[1].field == ".linux.resources.cpu.period")
    }

    @Test func cpuV2() throws {
        var cpu = Self.fullCPU
        cpu.realtimeRuntime = nil
        cpu.realtimePeriod = nil
        let out = try CgroupCPU.writes(cpu, version: .v2)
        #expect(out.pairs == ["cpu.weight=100", "cpu.idle=1", "cpu.max.burst=1000", "cpu.max=50000 100000"])
        #expect(out.writes[2].retryAfter == "cpu.max")
        let error = #expect(throws: ApusError.self) { try CgroupCPU.writes(Self.fullCPU, version: .v2) }
        #expect(error?.field == ".linux.resources.cpu.realtimeRuntime")
    }

    @Test func cpuMax() throws {
        func max(_ quota: Int64?, _ period: UInt64?) throws -> [String] {
            try CgroupCPU.writes(Resources.CPU(quota: quota, period: period), version: .v2).pairs
        }
        #expect(try max(-1, 100_000) == ["cpu.max=max 100000"])
        #expect(try max(nil, 100_000) == ["cpu.max=max 100000"])
        #expect(try max(50000, nil) == ["cpu.max=50000"])
        #expect(try max(0, 0) == [])
        #expect(try CgroupCPU.writes(Resources.CPU(quota: 50000), version: .v1).writes[0].retryAfter == nil)
    }

    @Test func cpuLimits() throws {
        #expect(throws: ApusError.self) { try CgroupCPU.writes(Resources.CPU(shares: 1), version: .v1) }
        #expect(throws: ApusError.self) { try CgroupCPU.writes(Resources.CPU(shares: 262_145), version: .v2) }
        #expect(throws: ApusError.self) { try CgroupCPU.writes(Resources.CPU(quota: -5), version: .v1) }
        #expect(try CgroupCPU.writes(Resources.CPU(shares: 0, realtimeRuntime: 0), version: .v2).pairs == [])
        // A kernel without the burst knob behaves as burst 0.
        #expect(try CgroupCPU.writes(Resources.CPU(burst: 0), version: .v1).writes[0].ifMissing == .skip)
        #expect(try CgroupCPU.writes(Resources.CPU(burst: 5), version: .v2).writes[0].ifMissing == .fail)
    }

    @Test func cpuset() throws {
        let cpu = Resources.CPU(cpus: "0-1,3", mems: "0")
        #expect(try CgroupCPUSet.writes(cpu, version: .v1).pairs == ["cpuset.cpus=0-1,3", "cpuset.mems=0"])
        #expect(
            try CgroupCPUSet.writes(cpu, version: .v2).writes.allSatisfy {
                $0.controller == "cpuset" && $0.version == .v2
            })
        #expect(try CgroupCPUSet.writes(Resources.CPU(cpus: "", mems: nil), version: .v1).pairs == [])
        #expect(throws: ApusError.self) { try CgroupCPUSet.writes(Resources.CPU(cpus: "0\n1"), version: .v1) }
    }

    // MARK: pids, blkio, hugetlb, network, rdma, unified

    @Test(arguments: [(100, "100"), (0, "max"), (-1, "max")] as [(Int64, String)])
    func pids(_ limit: Int64, _ value: String) {
        for version in [CgroupVersion.v1, .v2] {
            #expect(CgroupPids.writes(Resources.Pids(limit: limit), version: version).pairs == ["pids.max=" + value])
        }
    }

    static let blockIO = Resources.BlockIO(
        weight: 500, leafWeight: 300, weightDevice: [.init(major: 8, minor: 0, weight: 200, leafWeight: 100)],
        throttleReadBpsDevice: [.init(major: 8, minor: 0, rate: 1_048_576)],
        throttleWriteBpsDevice: [.init(major: 8, minor: 16, rate: 2048)],
        throttleReadIOPSDevice: [.init(major: 8, minor: 0, rate: 100)],
        throttleWriteIOPSDevice: [.init(major: 8, minor: 0, rate: 0)])

    @Test func blockIOV1() throws {
        let out = try CgroupBlockIO.writes(Self.blockIO, version: .v1)
        #expect(
            out.pairs == [
                "blkio.weight=500", "blkio.leaf_weight=300", "blkio.weight_device=8:0 200",
                "blkio.leaf_weight_device=8:0 100",
                "blkio.throttle.read_bps_device=8:0 1048576", "blkio.throttle.write_bps_device=8:16 2048",
                "blkio.throttle.read_iops_device=8:0 100", "blkio.throttle.write_iops_device=8:0 0",
            ])
        #expect(out.writes[0].ifMissing == .fallback(file: "blkio.bfq.weight", value: "500"))
        #expect(out.writes[2].ifMissing == .fallback(file: "blkio.bfq.weight_device", value: "8:0 200"))
        #expect(out.writes[2].field == ".linux.resources.blockIO.weightDevice[0].weight")
    }

    @Test func blockIOV2() throws {
        var blockIO = Self.blockIO
        blockIO.leafWeight = nil
        blockIO.weightDevice = [.init(major: 8, minor: 0, weight: 200)]
        let out = try CgroupBlockIO.writes(blockIO, version: .v2)
        #expect(
            out.pairs == [
                "io.bfq.weight=500", "io.bfq.weight=8:0 200", "io.max=8:0 rbps=1048576", "io.max=8:16 wbps=2048",
                "io.max=8:0 riops=100", "io.max=8:0 wiops=max",
            ])
        #expect(out.writes[0].ifMissing == .fallback(file: "io.weight", value: "4950"))
        #expect(throws: ApusError.self) { try CgroupBlockIO.writes(Self.blockIO, version: .v2) }
        #expect(throws: ApusError.self) { try CgroupBlockIO.writes(Resources.BlockIO(weight: 5), version: .v1) }
        #expect(throws: ApusError.self) {
            try CgroupBlockIO.writes(
                Resources.BlockIO(throttleReadBpsDevice: [.init(major: -1, minor: 0, rate: 1)]), version: .v1)
        }
    }

    @Test func hugetlb() throws {
        let limits = [Resources.HugepageLimit(pageSize: "2MB", limit: 209_715_200), .init(pageSize: "1GB", limit: 0)]
        let v1 = try CgroupHugetlb.writes(limits, version: .v1)
        #expect(
            v1.pairs == [
                "hugetlb.2MB.limit_in_bytes=209715200", "hugetlb.2MB.rsvd.limit_in_bytes=209715200",
                "hugetlb.1GB.limit_in_bytes=0", "hugetlb.1GB.rsvd.limit_in_bytes=0",
            ])
        #expect(v1.writes.map(\.ifMissing) == [.fail, .skip, .fail, .skip])
        let v2 = try CgroupHugetlb.writes(limits, version: .v2)
        #expect(
            v2.pairs == [
                "hugetlb.2MB.max=209715200", "hugetlb.2MB.rsvd.max=209715200", "hugetlb.1GB.max=0",
                "hugetlb.1GB.rsvd.max=0",
            ])
        for bad in ["2M", "../2MB", "MB", "2 MB", "2mB"] {
            #expect(throws: ApusError.self) {
                try CgroupHugetlb.writes([.init(pageSize: bad, limit: 1)], version: .v1)
            }
        }
        #expect(CgroupHugetlb.pageSize(directory: "hugepages-2048kB") == "2MB")
        #expect(CgroupHugetlb.pageSize(directory: "hugepages-1048576kB") == "1GB")
        #expect(CgroupHugetlb.pageSize(directory: "hugepages-64kB") == "64KB")
        #expect(CgroupHugetlb.pageSize(directory: "hugepages-32768kB") == "32MB")
        #expect(CgroupHugetlb.pageSize(directory: "other") == nil)
    }

    @Test func network() throws {
        let network = Resources.Network(
            classID: 0x10_0001, priorities: [.init(name: "eth0", priority: 5), .init(name: "lo", priority: 2)])
        let out = try CgroupNetwork.writes(network, version: .v1)
        #expect(out.pairs == ["net_cls.classid=1048577", "net_prio.ifpriomap=eth0 5", "net_prio.ifpriomap=lo 2"])
        #expect(out.writes.map(\.controller) == ["net_cls", "net_prio", "net_prio"])
        #expect(throws: ApusError.self) { try CgroupNetwork.writes(network, version: .v2) }
        #expect(try CgroupNetwork.writes(Resources.Network(priorities: []), version: .v2).writes.isEmpty)
        #expect(throws: ApusError.self) {
            try CgroupNetwork.writes(
                Resources.Network(priorities: [.init(name: "eth0 1\nlo", priority: 1)]), version: .v1)
        }
    }

    @Test func rdma() throws {
        let rdma: [String: Resources.Rdma] = [
            "mlx5_1": .init(hcaHandles: 3, hcaObjects: 10000), "mlx4_0": .init(hcaHandles: 2), "none": .init(),
        ]
        for version in [CgroupVersion.v1, .v2] {
            #expect(
                try CgroupRdma.writes(rdma, version: version).pairs == [
                    "rdma.max=mlx4_0 hca_handle=2", "rdma.max=mlx5_1 hca_handle=3 hca_object=10000",
                ])
        }
    }

    @Test func unified() throws {
        let unified = ["memory.high": "1000000", "io.max": "8:0 rbps=1\n8:16 wbps=2\n", "cgroup.max.depth": "3"]
        let out = try CgroupUnified.writes(unified, layout: .unified, v2Controllers: nil)
        #expect(out.pairs == ["cgroup.max.depth=3", "io.max=8:0 rbps=1", "io.max=8:16 wbps=2", "memory.high=1000000"])
        #expect(out.writes.map(\.controller) == ["cgroup", "io", "io", "memory"])
        #expect(out.writes[1].field == ".linux.resources.unified[\"io.max\"]")
        let v1 = #expect(throws: ApusError.self) {
            try CgroupUnified.writes(unified, layout: .v1, v2Controllers: nil)
        }
        #expect(v1?.description.contains("cannot use unified on cgroup v1") == true)
        // Hybrid: only what the v2 hierarchy has.
        let hybrid = #expect(throws: ApusError.self) {
            try CgroupUnified.writes(unified, layout: .hybrid, v2Controllers: ["hugetlb"])
        }
        #expect(hybrid?.description.contains("io controller") == true)
        #expect(
            try CgroupUnified.writes(
                ["hugetlb.2MB.max": "0", "cgroup.max.depth": "2"], layout: .hybrid, v2Controllers: ["hugetlb"]
            ).pairs == [
                "cgroup.max.depth=2", "hugetlb.2MB.max=0",
            ])
        for bad in ["../memory.max", "memory", ".max", "a/b.c"] {
            #expect(throws: ApusError.self) {
                try CgroupUnified.writes([bad: "1"], layout: .unified, v2Controllers: nil)
            }
        }
        #expect(try CgroupUnified.writes([:], layout: .v1, v2Controllers: nil).writes.isEmpty)
    }

    // MARK: plans

    static let hybrid = CgroupPlacement(
        layout: .hybrid, v1Controllers: ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"],
        v2Controllers: ["hugetlb"])

    @Test func hybridPlacement() throws {
        let resources = Resources(
            memory: .init(limit: 1 << 30), pids: .init(limit: 10), hugepageLimits: [.init(pageSize: "2MB", limit: 0)],
            unified: ["hugetlb.1GB.max": "0"])
        let plan = try CgroupPlan.make(resources: resources, placement: Self.hybrid, includeDevices: true)
        #expect(
            plan.writes.map { "\($0.version):\($0)" } == [
                "v1:memory.limit_in_bytes=1073741824", "v1:pids.max=10", "v2:hugetlb.2MB.max=0",
                "v2:hugetlb.2MB.rsvd.max=0",
                "v2:hugetlb.1GB.max=0",
            ])
        #expect(plan.devicesVersion == .v1)
        #expect(plan.devices?.defaultAllow == false)
        #expect(plan.v2Controllers == ["hugetlb"])
    }

    @Test func missingControllers() throws {
        var placement = Self.hybrid
        placement.v2Controllers = []
        let hugetlb = #expect(throws: ApusError.self) {
            try CgroupPlan.make(
                resources: Resources(hugepageLimits: [.init(pageSize: "2MB", limit: 0)]), placement: placement,
                includeDevices: false)
        }
        #expect(hugetlb?.description.contains("the hugetlb controller is not available") == true)
        #expect(hugetlb?.field == ".linux.resources.hugepageLimits[0].limit")
        let net = #expect(throws: ApusError.self) {
            try CgroupPlan.make(
                resources: Resources(network: .init(classID: 1)), placement: Self.hybrid, includeDevices: false)
        }
        #expect(net?.description.contains("net_cls") == true)
        // Nothing to write: no error even without the controller.
        let quiet = try CgroupPlan.make(
            resources: Resources(hugepageLimits: [], network: .init(), rdma: [:]), placement: placement,
            includeDevices: false)
        #expect(quiet.writes.isEmpty && quiet.devices == nil)
        let v1 = CgroupPlacement(layout: .v1, v1Controllers: ["memory"])
        #expect(throws: ApusError.self) { try CgroupPlan.make(resources: nil, placement: v1, includeDevices: true) }
        #expect(try CgroupPlan.make(resources: nil, placement: v1, includeDevices: false).writes.isEmpty)
    }

    @Test func unifiedPlacement() throws {
        let unified = CgroupPlacement(layout: .unified)
        let resources = Resources(
            memory: .init(limit: 1000), cpu: .init(shares: 1024, cpus: "0"), blockIO: .init(weight: 100),
            unified: ["memory.high": "900"])
        let plan = try CgroupPlan.make(resources: resources, placement: unified, includeDevices: true)
        #expect(
            plan.writes.map(\.description) == [
                "cpuset.cpus=0", "memory.max=1000", "cpu.weight=100", "io.bfq.weight=100", "memory.high=900",
            ])
        #expect(plan.writes.allSatisfy { $0.version == .v2 })
        #expect(plan.devicesVersion == .v2)
        #expect(plan.v2Controllers == ["cpuset", "memory", "cpu", "io"])
    }
}
