import ApusDBus
import ApusLinux
import OCI
import Testing

/// config.json → systemd unit properties (no systemd needed): runc's conversions.
@Suite("systemd unit properties")
struct SystemdPropertyTests {
    typealias Resources = Spec.Linux.Resources

    func value(_ properties: [SystemdProperty], _ name: String) -> DBusValue? {
        properties.last { $0.name == name }?.value
    }

    @Test("unit names and slices: runc's slice:prefix:name, apus defaults")
    func unitNames() throws {
        let root = try SystemdUnit.from(cgroupsPath: nil, id: "c1", rootless: false)
        #expect(root == SystemdUnit(name: "apus-c1.scope", slice: "system.slice", containerID: "c1", bus: .system))
        let user = try SystemdUnit.from(cgroupsPath: "::", id: "c1", rootless: true)
        #expect(user.name == "apus-c1.scope" && user.slice == "user.slice" && user.bus == .user)
        let named = try SystemdUnit.from(cgroupsPath: "a-b.slice:docker:x", id: "c1", rootless: false)
        #expect(named.name == "docker-x.scope" && named.slice == "a-b.slice")
        let slice = try SystemdUnit.from(cgroupsPath: "system.slice:p:pod1.slice", id: "c1", rootless: false)
        #expect(slice.name == "pod1.slice" && slice.isSlice)
        #expect(throws: ApusError.self) { try SystemdUnit.from(cgroupsPath: "/abs/path", id: "c1", rootless: false) }
        #expect(throws: ApusError.self) { try SystemdUnit.from(cgroupsPath: "bad:p:n", id: "c1", rootless: false) }
    }

    @Test("the unit's cgroup: below / for PID 1 (runc's translation), below a user manager's own cgroup")
    func unitCgroupPaths() throws {
        let root = try SystemdUnit.from(cgroupsPath: "a-b.slice:docker:x", id: "c1", rootless: false)
        #expect(try root.cgroupPath(under: "/") == "/a.slice/a-b.slice/docker-x.scope")
        #expect(
            try root.cgroupPath(under: "/")
                == CgroupPath.resolve(cgroupsPath: "a-b.slice:docker:x", id: "c1", systemd: true))
        let user = try SystemdUnit.from(cgroupsPath: nil, id: "c1", rootless: true)
        let manager = "/user.slice/user-1000.slice/user@1000.service"
        #expect(try user.cgroupPath(under: manager) == manager + "/user.slice/apus-c1.scope")
        let slice = try SystemdUnit.from(cgroupsPath: "system.slice:p:pod-1.slice", id: "c1", rootless: true)
        #expect(try slice.cgroupPath(under: manager) == manager + "/pod.slice/pod-1.slice")
    }

    @Test("a scope: Slice, Delegate, PIDs, accounting, DefaultDependencies=no")
    func scopeProperties() throws {
        let unit = try SystemdUnit.from(cgroupsPath: nil, id: "c1", rootless: false)
        let properties = try SystemdProperties.unit(unit, pid: 42, resources: nil, annotations: nil, version: .v2)
        #expect(
            properties.map(\.name) == [
                "Description", "Slice", "Delegate", "PIDs", "MemoryAccounting", "CPUAccounting", "IOAccounting",
                "TasksAccounting", "DefaultDependencies",
            ])
        #expect(value(properties, "Slice") == .string("system.slice"))
        #expect(value(properties, "Delegate") == .boolean(true))
        #expect(value(properties, "PIDs") == .array(element: .uint32, [.uint32(42)]))
        #expect(value(properties, "DefaultDependencies") == .boolean(false))
    }

    @Test("a slice: Wants= its parent, no Delegate")
    func sliceProperties() throws {
        let unit = try SystemdUnit.from(cgroupsPath: "system.slice:p:pod1.slice", id: "c1", rootless: false)
        let properties = try SystemdProperties.unit(unit, pid: 0, resources: nil, annotations: nil, version: .v2)
        #expect(value(properties, "Wants") == .array(element: .string, [.string("system.slice")]))
        #expect(value(properties, "Delegate") == nil && value(properties, "PIDs") == nil)
    }

    @Test("memory: MemoryMax, MemoryLow, MemorySwapMax as swap alone; -1 is infinity")
    func memory() throws {
        var resources = Resources()
        resources.memory = Resources.Memory(limit: 512 << 20, reservation: 256 << 20, swap: 768 << 20)
        let properties = try SystemdProperties.resources(resources, version: .v2)
        #expect(value(properties, "MemoryMax") == .uint64(512 << 20))
        #expect(value(properties, "MemoryLow") == .uint64(256 << 20))
        #expect(value(properties, "MemorySwapMax") == .uint64(256 << 20))
        resources.memory = Resources.Memory(limit: -1)
        let unlimited = try SystemdProperties.resources(resources, version: .v2)
        #expect(value(unlimited, "MemoryMax") == .uint64(.max))
        #expect(value(unlimited, "MemorySwapMax") == .uint64(.max))
        resources.memory = Resources.Memory(limit: 100 << 20, swap: 50 << 20)
        #expect(throws: ApusError.self) { try SystemdProperties.resources(resources, version: .v2) }
    }

    @Test(
        "cpu quota → CPUQuotaPerSecUSec, rounded up to 10 ms as runc does",
        arguments: [
            (Int64(50_000), UInt64(100_000), UInt64(500_000)), (12_345, 100_000, 130_000), (-1, 100_000, .max),
            (100_000, 0, 1_000_000), (1_000, 3_000, 340_000),
        ])
    func quota(_ quota: Int64, _ period: UInt64, _ expected: UInt64) throws {
        var cpu = Resources.CPU()
        cpu.quota = quota
        cpu.period = period
        let properties = try SystemdProperties.resources(Resources(cpu: cpu), version: .v2)
        #expect(value(properties, "CPUQuotaPerSecUSec") == .uint64(expected))
        #expect(value(properties, "CPUQuotaPeriodUSec") == (period == 0 ? nil : .uint64(period)))
    }

    @Test("shares → CPUWeight with the cgroupfs driver's conversion; CPUShares on v1")
    func shares() throws {
        var cpu = Resources.CPU()
        cpu.shares = 1024
        #expect(value(try SystemdProperties.resources(Resources(cpu: cpu), version: .v2), "CPUWeight") == .uint64(100))
        #expect(value(try SystemdProperties.resources(Resources(cpu: cpu), version: .v1), "CPUShares") == .uint64(1024))
    }

    @Test("cpus and mems → AllowedCPUs / AllowedMemoryNodes byte-array bitmasks")
    func cpuset() throws {
        #expect(
            try SystemdProperties.bitmask("0-3,8", field: "f") == .array(element: .byte, [.byte(0x0f), .byte(0x01)]))
        #expect(try SystemdProperties.bitmask("1", field: "f") == .array(element: .byte, [.byte(0x02)]))
        #expect(throws: ApusError.self) { try SystemdProperties.bitmask("3-1", field: "f") }
        #expect(throws: ApusError.self) { try SystemdProperties.bitmask("x", field: "f") }
        var cpu = Resources.CPU()
        cpu.cpus = "0-1"
        cpu.mems = "0"
        let properties = try SystemdProperties.resources(Resources(cpu: cpu), version: .v2)
        #expect(value(properties, "AllowedCPUs") == .array(element: .byte, [.byte(3)]))
        #expect(value(properties, "AllowedMemoryNodes") == .array(element: .byte, [.byte(1)]))
    }

    @Test("pids, io weight and limits, OOMPolicy from memory.oom.group")
    func others() throws {
        var resources = Resources(pids: Resources.Pids(limit: 100))
        var blockIO = Resources.BlockIO()
        blockIO.weight = 500
        blockIO.throttleReadBpsDevice = [Resources.ThrottleDevice(major: 8, minor: 0, rate: 1_048_576)]
        resources.blockIO = blockIO
        resources.unified = ["memory.oom.group": "1"]
        let properties = try SystemdProperties.resources(resources, version: .v2)
        #expect(value(properties, "TasksMax") == .uint64(100))
        #expect(value(properties, "IOWeight") == .uint64(CgroupBlockIO.ioWeight(fromBlkioWeight: 500)))
        #expect(
            value(properties, "IOReadBandwidthMax")
                == .array(
                    element: .structure([.string, .uint64]),
                    [.structure([.string("/dev/block/8:0"), .uint64(1_048_576)])]
                ))
        #expect(value(properties, "OOMPolicy") == .string("kill"))
        #expect(properties.first { $0.name == "TasksMax" }?.field == ".linux.resources.pids.limit")
        let unlimited = try SystemdProperties.resources(Resources(pids: Resources.Pids(limit: -1)), version: .v2)
        #expect(value(unlimited, "TasksMax") == .uint64(.max))
    }

    @Test("org.systemd.property. annotations: GVariant text, Sec → USec, bad names and values refused")
    func annotations() throws {
        let properties = try SystemdAnnotations.properties([
            "org.systemd.property.TimeoutStopUSec": "uint64 123456789",
            "org.systemd.property.CollectMode": "'inactive-or-failed'",
            "org.systemd.property.RuntimeMaxSec": "2",
            "org.systemd.property.IOAccounting": "true",
            "org.systemd.property.Environment": "['A=1', 'B=2']",
            "org.systemd.property.ExecStop": "@as []",
            "io.other": "ignored",
        ])
        #expect(value(properties, "TimeoutStopUSec") == .uint64(123_456_789))
        #expect(value(properties, "CollectMode") == .string("inactive-or-failed"))
        #expect(value(properties, "RuntimeMaxUSec") == .uint64(2_000_000))
        #expect(value(properties, "IOAccounting") == .boolean(true))
        #expect(value(properties, "Environment") == .array(element: .string, [.string("A=1"), .string("B=2")]))
        #expect(value(properties, "ExecStop") == .array(element: .string, []))
        #expect(properties.count == 6)
        #expect(throws: ApusError.self) { try SystemdAnnotations.properties(["org.systemd.property.a-b": "1"]) }
        #expect(throws: ApusError.self) { try SystemdAnnotations.properties(["org.systemd.property.Xy": "1"]) }
        #expect(throws: ApusError.self) { try SystemdAnnotations.properties(["org.systemd.property.Foo": "'open"]) }
        #expect(throws: ApusError.self) { try SystemdAnnotations.properties(["org.systemd.property.FooSec": "'x'"]) }
    }
}
