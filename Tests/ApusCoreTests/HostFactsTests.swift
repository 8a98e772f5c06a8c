import ApusCore
import ApusLinux
import Foundation
import OCI
import Testing

/// `apus info`'s probes and the tables `apus features` lists, checked against this host
/// and against the code that applies them (no root needed).
struct HostFactsTests {
    // MARK: - Cgroup placement, without a host

    static let hybrid = CgroupLayout(
        kind: .hybrid,
        v1: [
            "cpu": "/sys/fs/cgroup/cpu", "memory": "/sys/fs/cgroup/memory", "devices": "/sys/fs/cgroup/devices",
            "freezer": "/sys/fs/cgroup/freezer", "pids": "/sys/fs/cgroup/pids",
            "name=systemd": "/sys/fs/cgroup/systemd",
        ],
        unified: "/sys/fs/cgroup/unified",
        v1Order: [
            "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/devices", "/sys/fs/cgroup/freezer",
            "/sys/fs/cgroup/pids", "/sys/fs/cgroup/systemd",
        ])

    static let cases: [(name: String, layout: CgroupLayout, v2: [String], expected: [String: CgroupVersion?])] = [
        (
            "hybrid: v1 first, then what cgroup v2 offers", hybrid, ["hugetlb"],
            [
                "memory": .v1, "cpu": .v1, "devices": .v1, "freezer": .v1, "hugetlb": .v2, "cpuset": nil,
                "blkio": nil, "rdma": nil, "net_cls": nil,
            ]
        ),
        (
            "unified: only what cgroup.controllers lists, plus devices and freezer",
            CgroupLayout(kind: .unified, unified: "/sys/fs/cgroup"), ["cpuset", "cpu", "io", "memory", "pids"],
            [
                "memory": .v2, "blkio": .v2, "devices": .v2, "freezer": .v2, "hugetlb": nil, "rdma": nil,
                "net_cls": nil, "net_prio": nil,
            ]
        ),
        (
            "v1 only: nothing falls back",
            CgroupLayout(kind: .v1, v1: ["memory": "/m", "cpu": "/c"], v1Order: ["/m", "/c"]), [],
            ["memory": .v1, "cpu": .v1, "pids": nil, "devices": nil, "freezer": nil]
        ),
    ]

    @Test("resources go where the cgroup plan puts them", arguments: cases.indices)
    func placement(index: Int) {
        let c = Self.cases[index]
        let facts = HostFacts.cgroups(layout: c.layout, v2Controllers: c.v2)
        for (controller, version) in c.expected {
            let placement = facts.placements.first { $0.controller == controller }
            #expect(placement != nil, "\(c.name): no line for \(controller)")
            #expect(placement?.version == version, "\(c.name): \(controller)")
            if version == .v1 { #expect(placement?.mountpoint == c.layout.v1[controller]) }
            if version == .v2 { #expect(placement?.mountpoint == c.layout.unified) }
            if version == nil { #expect(placement?.mountpoint == nil) }
        }
        #expect(facts.hierarchies.map(\.mountpoint) == c.layout.v1Order + (c.layout.unified.map { [$0] } ?? []))
    }

    // MARK: - This host

    /// "6.18.44-fc" → (6, 18).
    static func kernelVersion(_ release: String) -> (Int, Int) {
        let parts = release.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return (parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
    }

    static func atLeast(_ major: Int, _ minor: Int) -> Bool {
        let (a, b) = kernelVersion(HostFacts.probe().kernel.release)
        return (a, b) >= (major, minor)
    }

    @Test("the probed cgroup layout is the one the cgroup manager detects")
    func cgroupLayout() throws {
        let facts = HostFacts.probe()
        let detected = try CgroupLayout.detect()
        #expect(facts.cgroups.layout == detected.kind)
        #expect(
            Set(facts.cgroups.hierarchies.filter { $0.version == .v1 }.map(\.mountpoint)) == Set(detected.v1.values))
        if let unified = detected.unified {
            let v2 = try #require(facts.cgroups.hierarchies.first { $0.version == .v2 })
            #expect(v2.mountpoint == unified)
            let file = (try? String(contentsOfFile: unified + "/cgroup.controllers", encoding: .utf8)) ?? ""
            #expect(
                v2.controllers == file.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        }
    }

    @Test("namespaces are those /proc/self/ns has")
    func namespaces() {
        let facts = HostFacts.probe()
        #expect(facts.namespaces.count == Spec.Linux.Namespace.Kind.allCases.count)
        for ns in facts.namespaces {
            #expect(ns.available == FileManager.default.fileExists(atPath: "/proc/self/ns/" + ns.kind.procName))
        }
    }

    @Test("each facility probe reaches the kernel's argument check on a kernel that has it")
    func facilities() throws {
        let facts = HostFacts.probe()
        let byName = Dictionary(uniqueKeysWithValues: facts.facilities.map { ($0.name, $0) })
        // Linux version that added each call (mainline; distribution kernels may backport).
        let since: [String: (Int, Int)] = [
            "openat2": (5, 6), "pidfd_open": (5, 3), "close_range": (5, 11), "mount_setattr": (5, 12),
            "idmapped mounts": (5, 12), "clone3": (5, 3),
        ]
        #expect(Set(byName.keys) == Set(since.keys))
        for (name, version) in since where Self.atLeast(version.0, version.1) {
            let facility = try #require(byName[name])
            #expect(facility.available, "\(name): probe gave \(facility.probeErrno)")
            // EINVAL (or success for close_range) proves the call ran; ENOSYS would mean the
            // probe never reached it.
            #expect(facility.probeErrno == EINVAL || facility.probeErrno == 0, "\(name): \(facility.probeErrno)")
        }
        #expect(byName["idmapped mounts"]?.usedByApus == MountOption.idmap(recursive: false).isImplemented)
    }

    @Test("seccomp: kernel actions and flags are subsets of what apus knows, and complete on a new kernel")
    func seccomp() {
        let s = HostFacts.probe().seccomp
        #expect(s.kernel && s.filter, "this host runs containers with seccomp")
        #expect(Set(s.actions).isSubset(of: knownSeccompActions))
        #expect(Set(s.flags).isSubset(of: Set(knownSeccompFlags.keys)))
        #expect(s.flags == HostFacts.supportedSeccompFlags())
        // USER_NOTIF 5.0, WAIT_KILLABLE_RECV 5.19.
        if Self.atLeast(5, 19) {
            #expect(s.actions == SeccompFilter.supportedActions)
            #expect(s.flags == knownSeccompFlags.keys.sorted())
        }
        #expect(s.libseccomp?.split(separator: ".").count == 3)
    }

    @Test("creating a user namespace as root works where the sysctl allows it")
    func userNamespaces() {
        let u = HostFacts.probe().userNamespaces
        if getuid() == 0, (u.max ?? 1) > 0 {
            #expect(u.canCreate, "unshare(CLONE_NEWUSER): \(u.createErrno)")
        }
        if u.max == 0 { #expect(!u.canCreate) }
    }

    // MARK: - The tables `apus features` lists

    @Test("every seccomp name validation knows, compile translates")
    func seccompTables() {
        #expect(SeccompFilter.supportedActions == knownSeccompActions.sorted())
        #expect(SeccompFilter.supportedOperators == knownSeccompOperators.sorted())
        #expect(Set(SeccompFilter.supportedArchitectures).isSubset(of: knownSeccompArchitectures))
        #if arch(x86_64)
            #expect(SeccompFilter.supportedArchitectures.contains("SCMP_ARCH_X86_64"))
        #elseif arch(arm64)
            #expect(SeccompFilter.supportedArchitectures.contains("SCMP_ARCH_AARCH64"))
        #endif
    }

    @Test("every implemented mount option is one the parser acts on, not filesystem data")
    func mountOptions() {
        let implemented = mountOptionTable.filter { $0.value.isImplemented }.map(\.key)
        #expect(implemented.count > 50)
        #expect(implemented.contains("tmpcopyup"))
        for option in implemented {
            let parsed = parseMountOptions([option])
            #expect(parsed.data.isEmpty, "\(option) would reach the filesystem as data")
        }
    }

    @Test("hook kinds are the fields of Spec.Hooks in spec order")
    func hookKinds() {
        #expect(
            Hooks.kinds == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"])
    }

    @Test("the last capability probed with prctl is the kernel's cap_last_cap")
    func lastCapabilityMatchesSysctl() throws {
        let text = try String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8)
        let expected = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(lastCapability() == expected)
    }

    /// Kernels before 5.9 end below 40, future ones above: the search finds every end, and
    /// gives up when capability 0 cannot be read.
    @Test(arguments: [0, 1, 30, 36, 37, 39, 40, 41, 42, 50, 62, 63])
    func lastCapabilitySearchFindsTheEnd(last: Int) {
        var reads = 0
        let found = searchLastCapability {
            reads += 1
            return $0 <= last
        }
        #expect(found == last)
        #expect(reads <= 8)
        if last == 40 { #expect(reads == 2) }
    }

    @Test func lastCapabilitySearchGivesUpWithoutPrctl() {
        #expect(searchLastCapability { _ in false } == nil)
    }
}
