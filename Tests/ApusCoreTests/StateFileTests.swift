import Foundation
import OCI
import Testing

@testable import ApusCore
@testable import ApusLinux

@Suite("state.json")
struct StateFileTests {
    /// A record with every kind of field the state holds: optionals set and unset, a
    /// dictionary, nested spec values, the cgroup manager.
    static func sample() throws -> ContainerRecord {
        let layout = try CgroupLayout.parse(
            mountinfo: """
                30 24 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw
                31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
                32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
                33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
                """)
        var process = Spec.Process()
        process.args = ["sh", "-c", "echo \"quoted\" / back\\slash \u{e9}\n\t\u{01}"]
        process.env = ["PATH=/bin"]
        return ContainerRecord(
            id: "state-\u{e9}", pid: 4242, pidStartTime: 1 << 40, bundle: "/b/\\x", rootfs: "/b/rootfs",
            created: "2026-11-23T19:45:10.618207917Z", owner: "root", annotations: ["a": "1", "b/c": "<&>"],
            ociVersion: "1.2.1", cgroup: CgroupManager(layout: layout, path: "/apus-x"), hooks: nil,
            ownPidNamespace: true, rootless: false, namespaceKinds: ["mount", "pid"], process: process,
            pidNamespaceShared: true)
    }

    /// The sample as the systemd driver records it: its unit, which update and delete use.
    static func systemdSample() throws -> ContainerRecord {
        var record = try sample()
        record.systemd = try SystemdUnit.from(cgroupsPath: "machine.slice:ctr:x", id: record.id, rootless: false)
        return record
    }

    @Test("a state written by FoundationEssentials' JSONEncoder (earlier apus builds) reads back the same")
    func readsFoundationEncodedState() throws {
        let record = try Self.sample()
        let old = try JSONEncoder().encode(record)
        let read = try TreeJSON.decode(ContainerRecord.self, from: old)
        Self.expectSame(read, record)
    }

    /// Field by field: dictionaries make the encoded text's member order vary.
    static func expectSame(_ a: ContainerRecord, _ b: ContainerRecord) {
        #expect(a.id == b.id && a.pid == b.pid && a.pidStartTime == b.pidStartTime)
        #expect(a.bundle == b.bundle && a.rootfs == b.rootfs && a.created == b.created && a.owner == b.owner)
        #expect(a.annotations == b.annotations && a.ociVersion == b.ociVersion)
        #expect(a.cgroup == b.cgroup && a.cgroup?.paths.isEmpty == false)
        #expect(a.ownPidNamespace == b.ownPidNamespace && a.rootless == b.rootless)
        #expect(a.namespaceKinds == b.namespaceKinds && a.pidNamespaceShared == b.pidNamespaceShared)
        #expect(a.process?.args == b.process?.args && a.process?.env == b.process?.env)
        #expect(a.hooks == nil && b.hooks == nil && a.seccomp == nil && a.resources == nil)
        #expect(a.systemd == b.systemd)
    }

    @Test("the tree coder round-trips a state, and FoundationEssentials reads what it writes")
    func roundTrip() throws {
        let record = try Self.sample()
        let text = Data(try TreeJSON.encode(record))
        Self.expectSame(try TreeJSON.decode(ContainerRecord.self, from: text), record)
        Self.expectSame(try JSONDecoder().decode(ContainerRecord.self, from: text), record)
    }

    @Test("the systemd unit round-trips; a state without one (cgroupfs, earlier builds) reads as none")
    func systemdUnit() throws {
        let record = try Self.systemdSample()
        let text = Data(try TreeJSON.encode(record))
        let read = try TreeJSON.decode(ContainerRecord.self, from: text)
        Self.expectSame(read, record)
        #expect(read.systemd?.name == "ctr-x.scope" && read.systemd?.slice == "machine.slice")
        #expect(read.systemd?.bus == .system)
        let withoutUnit = Data(try TreeJSON.encode(try Self.sample()))
        #expect(!String(decoding: withoutUnit, as: UTF8.self).contains("\"systemd\""))
        #expect(try TreeJSON.decode(ContainerRecord.self, from: withoutUnit).systemd == nil)
    }

    /// Object members sorted by key at every level: dictionaries encode in hash order.
    static func normalized(_ node: JSONNode) -> JSONNode {
        switch node {
        case .object(let members):
            return .object(members.map { ($0.key, normalized($0.value)) }.sorted { $0.0 < $1.0 })
        case .array(let items): return .array(items.map(normalized))
        default: return node
        }
    }

    /// The systemd sample with a process's capabilities and rlimits, hooks, a seccomp profile,
    /// resources and created cgroup directories.
    static func fullSample() throws -> ContainerRecord {
        var full = try Self.systemdSample()
        full.process?.capabilities = Spec.Process.Capabilities(bounding: ["CAP_KILL"], ambient: [])
        full.process?.rlimits = [Spec.Process.Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 512)]
        full.hooks = Spec.Hooks(poststop: [Spec.Hook(path: "/bin/true", args: ["true"], timeout: 5)])
        full.seccomp = Spec.Linux.Seccomp(
            defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1, architectures: ["SCMP_ARCH_X86_64"],
            syscalls: [
                Spec.Linux.Seccomp.Syscall(
                    names: ["personality"], action: "SCMP_ACT_ALLOW",
                    args: [Spec.Linux.Seccomp.Arg(index: 0, value: 8, op: "SCMP_CMP_EQ")])
            ])
        full.resources = Spec.Linux.Resources(
            memory: Spec.Linux.Resources.Memory(limit: 1 << 30), pids: Spec.Linux.Resources.Pids(limit: 64))
        full.cgroup?.created = ["/sys/fs/cgroup/memory/apus-x"]
        return full
    }

    @Test("state.json's fast path reads every record as Codable does, and is taken")
    func fastPathIsCodable() throws {
        for record in [try Self.sample(), try Self.systemdSample(), try Self.fullSample()] {
            let tree = try TreeJSON.parse(try TreeJSON.encode(record))
            let fast = try #require(FastRecord.decode(tree), "gave up on \(record.id)")
            let slow = try TreeJSON.decode(ContainerRecord.self, tree: tree)
            #expect(
                Self.normalized(try JSONNode.encoding(fast)) == Self.normalized(try JSONNode.encoding(slow)),
                "\(record.id)")
            if record.hooks == nil { Self.expectSame(fast, record) }
        }
        // A field it does not read (memoryPolicy) leaves the record to Codable.
        var withPolicy = try Self.sample()
        withPolicy.memoryPolicy = Spec.Linux.MemoryPolicy(mode: "MPOL_BIND", nodes: "0")
        #expect(FastRecord.decode(try TreeJSON.parse(try TreeJSON.encode(withPolicy))) == nil)
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("spec-fixtures")

    @Test("create's record written without Codable is what Codable writes: the samples, every fixture's parts")
    func fastEncodeIsCodable() throws {
        var records = [try Self.sample(), try Self.systemdSample(), try Self.fullSample()]
        let valid = Self.fixtures.appendingPathComponent("configs/valid")
        var names = try FileManager.default.contentsOfDirectory(atPath: valid.path).filter { $0.hasSuffix(".json") }
            .map { "configs/valid/" + $0 }
        names += ["runc-spec.json", "runc-spec-rootless.json"]
        for name in names.sorted() {
            let spec = try Spec.decode(try Data(contentsOf: Self.fixtures.appendingPathComponent(name)))
            var record = try Self.sample()
            record.id = name
            record.process = spec.process
            record.hooks = spec.hooks
            record.seccomp = spec.linux?.seccomp
            records.append(record)
        }
        var fast = 0
        for record in records {
            guard let node = FastRecord.encode(record) else { continue }
            fast += 1
            #expect(node == (try JSONNode.encoding(record)), "\(record.id)")
        }
        // The samples, runc's configs and most fixtures take it.
        #expect(fast >= records.count / 2, "\(fast) of \(records.count)")
        var full = try Self.fullSample()
        #expect(FastRecord.encode(full) == nil, "resources (after update) go through Codable")
        full.resources = nil
        #expect(FastRecord.encode(full) != nil)
        var withScheduler = try Self.sample()
        withScheduler.process?.scheduler = Spec.Process.Scheduler(policy: "SCHED_OTHER")
        #expect(FastRecord.encode(withScheduler) == nil)
    }

    @Test("create's first record: read while creating, committed over in place (padded when shorter), one file made")
    func creatingRecord() throws {
        let root = NSTemporaryDirectory() + "apus-state-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = StateStore(root: root)
        var first = try Self.sample()
        first.id = "creating"
        first.pid = 0
        first.annotations = ["long": String(repeating: "x", count: 300)]
        let lock = try store.claim(first.id)
        defer { lock.release() }
        let creating = try store.saveCreating(first)
        // Not yet state.json; readers find the record in state.json.creating.
        #expect(!FileManager.default.fileExists(atPath: store.statePath(first.id)))
        #expect(try store.load(first.id).pid == 0)
        #expect(throws: ApusError.self) { _ = try store.saveCreating(first) }
        var committed = first
        committed.pid = 4242
        committed.annotations = nil
        try store.commitCreating(creating, committed)
        #expect(!FileManager.default.fileExists(atPath: store.creatingPath(first.id)))
        let bytes = try #require(FileManager.default.contents(atPath: store.statePath(first.id)))
        #expect(bytes.last == UInt8(ascii: " "), "the shorter record is padded with spaces")
        let read = try store.load(first.id)
        #expect(read.pid == 4242 && read.annotations == nil && read.cgroup == first.cgroup)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory(first.id)) == ["state.json"])
    }
}
