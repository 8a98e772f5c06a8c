import Foundation
import OCI
import Testing

@testable import ApusLinux

@Suite("Cgroup paths and layouts")
struct CgroupPathTests {
    @Test(
        arguments: [
            (nil, "/apus-c1"),
            ("", "/apus-c1"),
            ("/foo/bar", "/foo/bar"),
            ("/foo/../bar/./baz/", "/bar/baz"),
            ("/../../x", "/x"),
            ("foo", "/apus/foo"),
            ("a/b", "/apus/a/b"),
            ("../../etc", "/apus/etc"),
            ("./x/../y", "/apus/y"),
            ("system.slice:docker:abc", "/system.slice/docker-abc.scope"),
            ("user.slice:libpod:abc", "/user.slice/libpod-abc.scope"),
            ("machine.slice:libpod:abc", "/machine.slice/libpod-abc.scope"),
            (":docker:abc", "/system.slice/docker-abc.scope"),
            ("system.slice::abc", "/system.slice/abc.scope"),
            ("a-b.slice:p:n", "/a.slice/a-b.slice/p-n.scope"),
            ("a-b-c.slice:p:n.slice", "/a.slice/a-b.slice/a-b-c.slice/n.slice"),
            ("-.slice:p:n", "/p-n.scope"),
            ("a:b:c", "/apus/a:b:c"),
            ("x.slice:y", "/apus/x.slice:y"),
        ] as [(String?, String)])
    func resolves(_ input: String?, _ expected: String) throws {
        #expect(try CgroupPath.resolve(cgroupsPath: input, id: "c1") == expected)
    }

    @Test func systemdFlag() throws {
        #expect(try CgroupPath.resolve(cgroupsPath: nil, id: "c1", systemd: true) == "/system.slice/apus-c1.scope")
        #expect(
            try CgroupPath.resolve(cgroupsPath: "a-b.slice:x:y", id: "c1", systemd: true)
                == "/a.slice/a-b.slice/x-y.scope")
        let error = #expect(throws: ApusError.self) {
            try CgroupPath.resolve(cgroupsPath: "/abs", id: "c1", systemd: true)
        }
        #expect(error?.description.contains("slice:prefix:name") == true)
    }

    @Test(arguments: [
        "/", "/..", "..", ".", "a--b.slice:p:n", "-a.slice:p:n", "system.slice:p:../x", "system.slice:p:",
        "foo.slic:p:n/x",
    ])
    func rejects(_ input: String) {
        // "foo.slic:p:n/x" is a relative path (not a slice) and fine; everything else fails.
        if input == "foo.slic:p:n/x" {
            #expect((try? CgroupPath.resolve(cgroupsPath: input, id: "c1")) == "/apus/foo.slic:p:n/x")
            return
        }
        let error = #expect(throws: ApusError.self) { try CgroupPath.resolve(cgroupsPath: input, id: "c1") }
        #expect(error?.field == ".linux.cgroupsPath")
    }

    @Test func expandSlice() throws {
        #expect(try CgroupPath.expandSlice("system.slice") == "/system.slice")
        #expect(try CgroupPath.expandSlice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice")
        #expect(try CgroupPath.expandSlice("-.slice") == "")
        #expect(throws: ApusError.self) { try CgroupPath.expandSlice(".slice") }
        #expect(throws: ApusError.self) { try CgroupPath.expandSlice("a/b.slice") }
        #expect(throws: ApusError.self) { try CgroupPath.expandSlice("a.scope") }
    }

    // MARK: layouts

    static let v1Mountinfo = """
        25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        32 31 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
        35 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
        36 31 0:31 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,net_cls,net_prio
        37 31 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,memory
        38 31 0:33 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,cpuset,clone_children
        39 31 0:34 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,devices
        40 31 0:35 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,freezer
        41 31 0:36 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:22 - cgroup cgroup rw,pids
        42 31 0:37 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:23 - cgroup cgroup rw,blkio
        43 31 0:38 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:24 - cgroup cgroup rw,hugetlb
        44 31 0:39 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:25 - cgroup cgroup rw,perf_event
        45 31 0:40 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:26 - cgroup cgroup rw,rdma
        90 31 0:41 / /sys/fs/cgroup/elogind rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=elogind
        """

    /// This machine's (Debian 12 with a hand-made hybrid layout).
    static let hybridMountinfo = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    static let unifiedMountinfo = """
        22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        26 23 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """

    @Test func parsesV1() throws {
        let layout = try CgroupLayout.parse(mountinfo: Self.v1Mountinfo)
        #expect(layout.kind == .v1)
        #expect(layout.unified == nil)
        #expect(layout.v1["cpu"] == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(layout.v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(layout.v1["net_cls"] == "/sys/fs/cgroup/net_cls,net_prio")
        #expect(layout.v1["net_prio"] == "/sys/fs/cgroup/net_cls,net_prio")
        #expect(layout.v1["name=systemd"] == "/sys/fs/cgroup/systemd")
        #expect(layout.v1["name=elogind"] == nil)
        #expect(layout.v1["rdma"] == "/sys/fs/cgroup/rdma")
        #expect(layout.v1.count == 14)
    }

    @Test func parsesHybrid() throws {
        let layout = try CgroupLayout.parse(mountinfo: Self.hybridMountinfo)
        #expect(layout.kind == .hybrid)
        #expect(layout.unified == "/sys/fs/cgroup/unified")
        #expect(layout.v1["hugetlb"] == nil)
        #expect(
            Set(layout.v1.keys) == [
                "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "name=systemd",
            ])
    }

    @Test func parsesUnified() throws {
        let layout = try CgroupLayout.parse(mountinfo: Self.unifiedMountinfo)
        #expect(layout == CgroupLayout(kind: .unified, unified: "/sys/fs/cgroup"))
    }

    @Test func prefersCanonicalMounts() throws {
        let text = """
            100 1 0:50 /docker/x /mnt/mem rw - cgroup cgroup rw,memory
            101 1 0:50 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
            102 1 0:50 / /other/memory rw - cgroup cgroup rw,memory
            103 1 0:51 / /mnt/with\\040space rw - cgroup cgroup rw,pids
            """
        let layout = try CgroupLayout.parse(mountinfo: text)
        #expect(layout.v1["memory"] == "/sys/fs/cgroup/memory")
        #expect(layout.v1["pids"] == "/mnt/with space")
        #expect(layout.kind == .v1)
    }

    @Test func noCgroups() {
        #expect(throws: ApusError.self) {
            try CgroupLayout.parse(mountinfo: "22 28 0:21 / /proc rw - proc proc rw\n")
        }
    }

    @Test func detectsThisHost() throws {
        let layout = try CgroupLayout.detect()
        let text = try #require(CgroupFS.read("/proc/self/mountinfo"))
        let parsed = try CgroupLayout.parse(mountinfo: text)
        if access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 {
            // Pure v2: detect() answers from cgroup.controllers without reading mountinfo;
            // both must still say the same thing.
            #expect(layout == CgroupLayout(kind: .unified, unified: "/sys/fs/cgroup"))
            #expect(parsed.kind == .unified && parsed.unified == "/sys/fs/cgroup", "\(parsed)")
        } else {
            #expect(layout == parsed)
        }
    }

    @Test func managerPaths() throws {
        let layout = try CgroupLayout.parse(mountinfo: Self.v1Mountinfo)
        let manager = CgroupManager(layout: layout, path: "/apus/c1")
        #expect(manager.paths["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/apus/c1")
        #expect(manager.paths["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/apus/c1")
        #expect(manager.paths["name=systemd"] == "/sys/fs/cgroup/systemd/apus/c1")
        #expect(manager.paths["unified"] == nil)
        // Co-mounted controllers share one directory: 12 hierarchies for 14 controllers.
        #expect(manager.hierarchies.count == 12)
        let view = manager.mountView
        #expect(view.unified == nil)
        #expect(view.v1.map(\.name).contains("cpu,cpuacct"))
        #expect(
            view.v1.first { $0.name == "net_cls,net_prio" }?.hostDirectory == "/sys/fs/cgroup/net_cls,net_prio/apus/c1")

        let hybrid = CgroupManager(layout: try CgroupLayout.parse(mountinfo: Self.hybridMountinfo), path: "/apus/c1")
        #expect(hybrid.paths["unified"] == "/sys/fs/cgroup/unified/apus/c1")
        #expect(hybrid.hierarchies.last?.dir == "/sys/fs/cgroup/unified/apus/c1")
        #expect(hybrid.hierarchies.count == 10)
        #expect(hybrid.mountView.unified == nil)

        let unified = CgroupManager(layout: CgroupLayout(kind: .unified, unified: "/sys/fs/cgroup"), path: "/x")
        #expect(unified.paths == ["unified": "/sys/fs/cgroup/x"])
        #expect(unified.mountView.unified == "/sys/fs/cgroup/x")
        #expect(unified.mountView.v1.isEmpty)
    }

    /// Planning against this host's layout: on a hybrid host the v2 controllers are read
    /// only when something goes to v2, and unified keys are checked against them.
    @Test func plansForThisHost() throws {
        let manager = try CgroupManager.resolve(cgroupsPath: "/apus-plan-test", id: "x")
        guard manager.layout == .hybrid, let mountpoint = manager.mountpoints["unified"] else {
            try Test.cancel("plansForThisHost: this host is not hybrid")
        }
        let v2 = CgroupManager.controllers(of: mountpoint)
        var unified = ["cgroup.max.depth": "1"]
        if v2.contains("hugetlb") { unified["hugetlb.2MB.max"] = "0" }
        let resources = Spec.Linux.Resources(memory: .init(limit: 1 << 20), unified: unified)
        let plan = try manager.makePlan(resources, includeDevices: true)
        #expect(plan.writes.first?.description == "memory.limit_in_bytes=1048576")
        #expect(plan.writes.contains { $0.file == "cgroup.max.depth" && $0.version == .v2 })
        let refused = #expect(throws: ApusError.self) {
            try manager.makePlan(Spec.Linux.Resources(unified: ["memory.high": "1"]), includeDevices: false)
        }
        #expect(refused?.description.contains("hybrid") == true)
    }

    @Test func managerRoundTripsThroughJSON() throws {
        let manager = CgroupManager(layout: try CgroupLayout.parse(mountinfo: Self.hybridMountinfo), path: "/apus/c1")
        manager.created = ["/sys/fs/cgroup/memory/apus", "/sys/fs/cgroup/memory/apus/c1"]
        let data = try JSONEncoder().encode(manager)
        #expect(try JSONDecoder().decode(CgroupManager.self, from: data) == manager)
    }
}
