import Foundation
import OCI
import Testing

/// OCI 1.3 fields and runc 1.4/1.5 behaviours (issue 17): each seen from inside the
/// container, and run the same way under runc 1.5.1 where runc is the reference.
enum Both {
    /// A state root for runc of the calling test's own, removed by the caller.
    static func runcRoot() -> String {
        NSTemporaryDirectory() + "runc-spec-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
    }

    /// `run` of the bundle under apus and under runc 1.5.1, each behind `prefix` (e.g. taskset).
    static func run(_ bundle: TestBundle, prefix: [String] = []) throws -> (ours: Output, theirs: Output) {
        let runc = try Env.requireRunc()
        let root = runcRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        func runner(_ runtime: String, _ root: String, _ id: String) throws -> Output {
            let argv = [runtime, "--root", root, "run", "--bundle", bundle.path, id]
            if prefix.isEmpty { return try sh(runtime, Array(argv.dropFirst())) }
            return try sh(prefix[0], Array(prefix.dropFirst()) + argv)
        }
        let ours = try runner(Env.apus ?? "/nonexistent", Env.stateRoot, uniqueID("spec"))
        let theirs = try runner(runc, root, uniqueID("spec-runc"))
        return (ours, theirs)
    }

    /// A detached container under runc 1.5.1 (`run -d`), for exec comparisons.
    final class RuncContainer {
        let runc: String
        let root = Both.runcRoot()
        let id = uniqueID("spec-runc")
        init(_ bundle: TestBundle) throws {
            runc = try Env.requireRunc()
            let out = try sh(runc, ["--root", root, "run", "-d", "--bundle", bundle.path, id])
            guard out.status == 0 else { throw TestFailure("runc run -d: \(out.all)") }
        }
        /// `runc exec OPTIONS ID COMMAND`.
        func exec(options: [String] = [], _ command: [String] = [], prefix: [String] = []) throws -> Output {
            let argv = [runc, "--root", root, "exec"] + options + [id] + command
            if prefix.isEmpty { return try sh(runc, Array(argv.dropFirst())) }
            return try sh(prefix[0], Array(prefix.dropFirst()) + argv)
        }
        deinit {
            _ = try? sh(runc, ["--root", root, "delete", "--force", id])
            try? FileManager.default.removeItem(atPath: root)
        }
    }
}

/// A static tool that prints the calling thread's memory policy as get_mempolicy(2) returns
/// it ("mode=2 flags=0x8000 nodes=0"): busybox cannot show it, and /proc/PID/numa_maps shows
/// only policies of mappings, not the task's. Built once with the host's gcc.
enum MempolicyTool {
    static let source = """
        #include <stdio.h>
        #include <unistd.h>
        #include <sys/syscall.h>
        int main(void) {
            int mode = 0; unsigned long mask[16] = {0};
            if (syscall(SYS_get_mempolicy, &mode, mask, 1024, 0, 0) != 0) { perror("get_mempolicy"); return 1; }
            printf("mode=%d flags=0x%x nodes=", mode & 0xff, mode & ~0xff);
            const char *sep = "";
            for (int i = 0; i < 1024; i++)
                if (mask[i / 64] & (1UL << (i % 64))) { printf("%s%d", sep, i); sep = ","; }
            printf("\\n");
            return 0;
        }
        """

    static let binary: Result<String, TestFailure> = {
        let dir = NSTemporaryDirectory() + "apus-mpol-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "apus-mpol-\(getpid())") }
        do {
            try source.write(toFile: dir + "/mpol.c", atomically: true, encoding: .utf8)
            let out = try sh("/usr/bin/gcc", ["-static", "-O2", "-o", dir + "/mpol", dir + "/mpol.c"])
            guard out.status == 0 else { return .failure(TestFailure("gcc -static: \(out.all)")) }
            return .success(dir + "/mpol")
        } catch {
            return .failure(TestFailure("\(error)"))
        }
    }()

    /// Copies the tool to /bin/mpol in the bundle's rootfs, or cancels the test (no gcc).
    static func install(in bundle: TestBundle) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc") else {
            try Test.cancel("gcc is not installed: no get_mempolicy tool for the container")
        }
        let path = try binary.get()
        try FileManager.default.copyItem(atPath: path, toPath: bundle.rootfs + "/bin/mpol")
    }
}

/// A process that exists and is not a zombie waiting for its reaper.
func isLive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    return !stat[close...].hasPrefix(") Z") && !stat[close...].hasPrefix(") X")
}

/// The host's NUMA nodes (/sys/devices/system/node/online).
func onlineNodes() -> String {
    ((try? String(contentsOfFile: "/sys/devices/system/node/online", encoding: .utf8)) ?? "").trimmingCharacters(
        in: .whitespacesAndNewlines)
}

@Suite("linux.memoryPolicy", .integration)
struct MemoryPolicyTests {
    struct Case: Sendable, CustomStringConvertible {
        var mode: String
        var nodes: String?
        var flags: [String]?
        /// What get_mempolicy shows in the container (MPOL_PREFERRED without nodes is local).
        var expect: String
        var description: String { "\(mode) \(nodes ?? "-") \(flags ?? [])" }
    }

    static let cases: [Case] = [
        Case(mode: "MPOL_BIND", nodes: "0", expect: "mode=2 flags=0x0 nodes=0"),
        Case(mode: "MPOL_BIND", nodes: "0", flags: ["MPOL_F_STATIC_NODES"], expect: "mode=2 flags=0x8000 nodes=0"),
        Case(
            mode: "MPOL_INTERLEAVE", nodes: "0", flags: ["MPOL_F_RELATIVE_NODES"], expect: "mode=3 flags=0x4000 nodes=0"
        ),
        Case(mode: "MPOL_WEIGHTED_INTERLEAVE", nodes: "0", expect: "mode=6 flags=0x0 nodes=0"),
        Case(mode: "MPOL_PREFERRED_MANY", nodes: "0", expect: "mode=5 flags=0x0 nodes=0"),
        Case(mode: "MPOL_PREFERRED", nodes: "0", expect: "mode=1 flags=0x0 nodes=0"),
        Case(mode: "MPOL_LOCAL", expect: "mode=4 flags=0x0 nodes="),
        Case(mode: "MPOL_DEFAULT", expect: "mode=0 flags=0x0 nodes="),
    ]

    @Test("the container's processes have the policy, as under runc 1.5.1", arguments: cases)
    func appliedLikeRunc(_ c: Case) throws {
        guard !onlineNodes().isEmpty else { try Test.cancel("no NUMA node list at /sys/devices/system/node/online") }
        let bundle = try TestBundle {
            $0.linux?.memoryPolicy = .init(mode: c.mode, nodes: c.nodes, flags: c.flags)
        }
        try MempolicyTool.install(in: bundle)
        try bundle.command("sh", "-c", "mpol")
        let (ours, theirs) = try Both.run(bundle)
        #expect(ours.status == 0 && ours.stdout == c.expect + "\n", "\(ours.all)")
        #expect(ours.status == theirs.status && ours.stdout == theirs.stdout, "apus: \(ours.all)\nrunc: \(theirs.all)")
    }

    /// The same seen with busybox alone: /proc/self/numa_maps shows, for a mapping without a
    /// policy of its own, the policy of the task that opened it (mpol_to_str's spelling).
    static let numaMapsCases: [Case] = [
        Case(mode: "MPOL_BIND", nodes: "0", expect: "bind:0"),
        Case(mode: "MPOL_BIND", nodes: "0", flags: ["MPOL_F_STATIC_NODES"], expect: "bind=static:0"),
        Case(mode: "MPOL_INTERLEAVE", nodes: "0", flags: ["MPOL_F_RELATIVE_NODES"], expect: "interleave=relative:0"),
        Case(mode: "MPOL_WEIGHTED_INTERLEAVE", nodes: "0", expect: "weighted interleave:0"),
        Case(mode: "MPOL_PREFERRED_MANY", nodes: "0", expect: "prefer (many):0"),
        Case(mode: "MPOL_PREFERRED", nodes: "0", expect: "prefer:0"),
        Case(mode: "MPOL_LOCAL", expect: "local"),
        Case(mode: "MPOL_DEFAULT", expect: "default"),
    ]

    @Test("/proc/self/numa_maps in the container shows the policy, as under runc 1.5.1", arguments: numaMapsCases)
    func numaMaps(_ c: Case) throws {
        guard FileManager.default.fileExists(atPath: "/proc/self/numa_maps") else {
            try Test.cancel("no /proc/self/numa_maps: the kernel is built without NUMA")
        }
        let bundle = try TestBundle {
            $0.linux?.memoryPolicy = .init(mode: c.mode, nodes: c.nodes, flags: c.flags)
        }
        // The policy column of the first mapping: between the address and " file=".
        try bundle.command("sh", "-c", "head -1 /proc/self/numa_maps | sed 's/^[0-9a-f]* //; s/ file=.*//'")
        let (ours, theirs) = try Both.run(bundle)
        #expect(ours.status == 0 && ours.stdout == c.expect + "\n", "\(ours.all)")
        #expect(ours.status == theirs.status && ours.stdout == theirs.stdout, "apus: \(ours.all)\nrunc: \(theirs.all)")
    }

    @Test("an exec'd process has the container's policy too, as under runc 1.5.1")
    func execInherits() throws {
        let container = try RunningContainer {
            $0.linux?.memoryPolicy = .init(mode: "MPOL_BIND", nodes: "0", flags: ["MPOL_F_STATIC_NODES"])
        }
        try MempolicyTool.install(in: container.bundle)
        let ours = try container.exec(["mpol"])
        let theirs = try Both.RuncContainer(container.bundle).exec(["mpol"])
        #expect(ours.status == 0 && ours.stdout == "mode=2 flags=0x8000 nodes=0\n", "\(ours.all)")
        #expect(ours.stdout == theirs.stdout, "apus: \(ours.all)\nrunc: \(theirs.all)")
    }

    /// What the kernel refuses fails create, naming the field; runc 1.5.1 fails too.
    @Test(
        "a policy the kernel refuses fails create naming .linux.memoryPolicy and leaves nothing",
        arguments: [
            // Node 1000 is valid in the list but online on no test host. (A list with one usable
            // node, "0,1000", is taken by the kernel, which drops the others; so by runc 1.5.1.)
            Case(mode: "MPOL_BIND", nodes: "1000", expect: "no node of 1000 is one this process may use"),
            // MPOL_F_NUMA_BALANCING is for MPOL_BIND (and MPOL_PREFERRED_MANY) only.
            Case(
                mode: "MPOL_INTERLEAVE", nodes: "0", flags: ["MPOL_F_NUMA_BALANCING"],
                expect: "the kernel refuses MPOL_INTERLEAVE with MPOL_F_NUMA_BALANCING"),
            Case(
                mode: "MPOL_BIND", nodes: "0", flags: ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"],
                expect: "the kernel refuses MPOL_BIND with MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES"),
        ])
    func refusedByKernel(_ c: Case) throws {
        let bundle = try TestBundle { $0.linux?.memoryPolicy = .init(mode: c.mode, nodes: c.nodes, flags: c.flags) }
        let id = uniqueID("spec")
        let out = try apus("create", "--bundle", bundle.path, id)
        #expect(out.status == 1, "\(out.all)")
        #expect(
            out.stderr.contains(".linux.memoryPolicy") && out.stderr.contains("Invalid argument")
                && out.stderr.contains(c.expect), "\(out.stderr)")
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
        #expect(processes(mentioning: id).isEmpty)
        let (_, theirs) = try Both.run(bundle)
        #expect(theirs.status != 0, "runc 1.5.1 accepted it: \(theirs.all)")
    }

    @Test(
        "bad input is refused before anything runs, naming the field",
        arguments: [
            ("MPOL_BOGUS", "0", ".linux.memoryPolicy.mode"),
            ("MPOL_BIND", "5000", ".linux.memoryPolicy.nodes"),
            ("MPOL_BIND", "", ".linux.memoryPolicy.nodes"),
            ("MPOL_DEFAULT", "0", ".linux.memoryPolicy.nodes"),
        ])
    func badInput(mode: String, nodes: String, field: String) throws {
        let bundle = try TestBundle { $0.linux?.memoryPolicy = .init(mode: mode, nodes: nodes) }
        let id = uniqueID("spec")
        let out = try apus("create", "--bundle", bundle.path, id)
        #expect(out.status == 1 && out.stderr.contains(field), "\(out.all)")
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
    }
}

/// The CPU affinity of container processes: not the runtime's (runc 1.4+), and
/// process.execCPUAffinity for exec (OCI 1.3; not for init, config.md says).
@Suite("CPU affinity", .integration)
struct CPUAffinityTests {
    static let grep = ["grep", "Cpus_allowed_list", "/proc/self/status"]

    /// The CPUs this test process may use, as /proc/self/status lists them.
    static func ownCPUs() -> String {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") } ?? ""
        return line.split(separator: "\t").last.map(String.init) ?? ""
    }

    /// Needs two CPUs (0 and 1) this process may use, and taskset.
    static func requireTwoCPUs() throws {
        guard let ranges = parseCPUList(ownCPUs()), ranges.contains(where: { $0.contains(0) }),
            ranges.contains(where: { $0.contains(1) })
        else { try Test.cancel("needs CPUs 0 and 1 in this process's affinity, has \(ownCPUs())") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") else {
            try Test.cancel("taskset (util-linux) is not installed")
        }
    }

    @Test("a runtime pinned to CPU 0 starts a container that may use every CPU, as runc 1.5.1")
    func initAffinityReset() throws {
        try Self.requireTwoCPUs()
        let bundle = try TestBundle { $0.process?.args = Self.grep }
        let (ours, theirs) = try Both.run(bundle, prefix: ["/usr/bin/taskset", "-c", "0"])
        #expect(ours.status == 0 && ours.stdout == "Cpus_allowed_list:\t\(Self.ownCPUs())\n", "\(ours.all)")
        #expect(ours.stdout == theirs.stdout, "apus: \(ours.all)\nrunc: \(theirs.all)")
    }

    @Test("…and within its cgroup's cpuset, as runc 1.5.1")
    func initAffinityResetToCpuset() throws {
        try Self.requireTwoCPUs()
        let bundle = try TestBundle {
            $0.process?.args = Self.grep
            $0.linux?.resources?.cpu = .init(cpus: "1", mems: "0")
        }
        let (ours, theirs) = try Both.run(bundle, prefix: ["/usr/bin/taskset", "-c", "0"])
        #expect(ours.status == 0 && ours.stdout == "Cpus_allowed_list:\t1\n", "\(ours.all)")
        #expect(ours.stdout == theirs.stdout, "apus: \(ours.all)\nrunc: \(theirs.all)")
    }

    @Test("execCPUAffinity of config.json is not applied to init (config.md), as runc 1.5.1")
    func notForInit() throws {
        try Self.requireTwoCPUs()
        let bundle = try TestBundle {
            $0.process?.args = Self.grep
            $0.process?.execCPUAffinity = .init(initial: "0", final: "1")
        }
        let (ours, theirs) = try Both.run(bundle)
        #expect(ours.status == 0 && ours.stdout == "Cpus_allowed_list:\t\(Self.ownCPUs())\n", "\(ours.all)")
        #expect(ours.stdout == theirs.stdout, "apus: \(ours.all)\nrunc: \(theirs.all)")
    }

    struct ExecCase: Sendable, CustomStringConvertible {
        var name: String
        /// process.execCPUAffinity of config.json.
        var config: Spec.Process.ExecCPUAffinity?
        /// The --process file's execCPUAffinity (nil: no --process file, or none in it).
        var process: Spec.Process.ExecCPUAffinity?
        var useProcessFile: Bool
        /// The runtime runs under `taskset -c` this list.
        var pinned: String?
        /// Cpus_allowed_list of the exec'd process; nil: every CPU of this test process.
        var expect: String?
        var description: String { name }
    }

    static let execCases: [ExecCase] = [
        ExecCase(
            name: "config.json's final", config: .init(initial: "0", final: "1"), useProcessFile: false,
            pinned: "0", expect: "1"),
        ExecCase(
            name: "--process's final over config.json's", config: .init(initial: "0", final: "1"),
            process: .init(final: "0"), useProcessFile: true, expect: "0"),
        ExecCase(
            name: "--process without one takes config.json's", config: .init(initial: "0", final: "1"),
            useProcessFile: true, expect: "1"),
        ExecCase(
            name: "only initial: the kernel keeps it", process: .init(initial: "0"), useProcessFile: true,
            pinned: "1", expect: "0"),
        ExecCase(name: "none: reset from the runtime's", useProcessFile: false, pinned: "1", expect: nil),
        ExecCase(
            name: "final 0-1 from a runtime pinned to 1", process: .init(initial: "", final: "0-1"),
            useProcessFile: true, pinned: "1", expect: "0-1"),
    ]

    @Test("exec: initial while joining, final after, else reset; as runc 1.5.1", arguments: execCases)
    func execAffinity(_ c: ExecCase) throws {
        try Self.requireTwoCPUs()
        let container = try RunningContainer { $0.process?.execCPUAffinity = c.config }
        var options: [String] = []
        var command = Self.grep
        if c.useProcessFile {
            var process = Spec.Process(args: Self.grep, cwd: "/")
            process.env = ["PATH=/bin:/usr/bin"]
            process.execCPUAffinity = c.process
            let file = container.bundle.path + "/process.json"
            try JSONEncoder().encode(process).write(to: URL(fileURLWithPath: file))
            options = ["--process", file]
            command = []
        }
        let prefix = c.pinned.map { ["/usr/bin/taskset", "-c", $0] } ?? []
        let ours: Output
        if prefix.isEmpty {
            ours = try container.exec(options + command)
        } else {
            let apusArgv = [Env.apus ?? "", "--root", Env.stateRoot, "exec"] + options + [container.id] + command
            ours = try sh(prefix[0], Array(prefix.dropFirst()) + apusArgv)
        }
        let theirs = try Both.RuncContainer(container.bundle).exec(options: options, command, prefix: prefix)
        #expect(ours.status == 0 && ours.stdout == "Cpus_allowed_list:\t\(c.expect ?? Self.ownCPUs())\n", "\(ours.all)")
        #expect(ours.stdout == theirs.stdout, "apus: \(ours.all)\nrunc: \(theirs.all)")
    }

    @Test(
        "exec with a CPU list the kernel refuses fails naming the field, as runc 1.5.1 fails",
        arguments: [("initial", Spec.Process.ExecCPUAffinity(initial: "4000")), ("final", .init(final: "4000"))])
    func execRefused(field: String, affinity: Spec.Process.ExecCPUAffinity) throws {
        let container = try RunningContainer()
        var process = Spec.Process(args: ["true"], cwd: "/")
        process.env = ["PATH=/bin:/usr/bin"]
        process.execCPUAffinity = affinity
        let file = container.bundle.path + "/process.json"
        try JSONEncoder().encode(process).write(to: URL(fileURLWithPath: file))
        let ours = try container.exec(["--process", file])
        #expect(ours.status != 0 && ours.stderr.contains(".execCPUAffinity.\(field)"), "\(ours.all)")
        let theirs = try Both.RuncContainer(container.bundle).exec(options: ["--process", file])
        #expect(theirs.status != 0, "runc: \(theirs.all)")
    }
}

/// config.md: `process` is REQUIRED only for `start`. runc 1.5.1 refuses such a config at
/// create ("process property must not be empty"); apus follows the spec: create makes the
/// container, start refuses it naming .process, delete removes it.
@Suite("a config without process", .integration)
struct NoProcessTests {
    @Test("create succeeds, start fails naming .process and leaves it created, delete removes everything")
    func createStartDelete() throws {
        let bundle = try TestBundle { $0.process = nil }
        let id = uniqueID("spec")
        let created = try apus("create", "--bundle", bundle.path, id)
        #expect(created.status == 0, "\(created.all)")
        let state = try decodeState(try apus("state", id).stdout)
        #expect(state["status"] as? String == "created")
        let pid = Int32(state["pid"] as? Int ?? 0)
        #expect(pid > 0 && kill(pid, 0) == 0, "init \(pid) is not alive")
        let started = try apus("start", id)
        #expect(started.status == 1 && started.stderr.contains(".process"), "\(started.all)")
        #expect(try decodeState(try apus("state", id).stdout)["status"] as? String == "created")
        let deleted = try apus("delete", id)
        #expect(deleted.status == 0, "\(deleted.all)")
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
        #expect(processes(mentioning: id).isEmpty)
        #expect(!isLive(pid), "init \(pid) outlived delete")
        // The reference differs here, on purpose (the spec is the law): runc refuses create.
        let runc = try Env.requireRunc()
        let root = Both.runcRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let theirs = try sh(runc, ["--root", root, "create", "--bundle", bundle.path, uniqueID("spec-runc")])
        #expect(theirs.status != 0, "runc 1.5.1 now creates it: \(theirs.all)")
    }

    @Test("run fails at once naming .process and leaves nothing")
    func runRefused() throws {
        let bundle = try TestBundle { $0.process = nil }
        let id = uniqueID("spec")
        let out = try apus("run", "--bundle", bundle.path, id)
        #expect(out.status == 1 && out.stderr.contains(".process"), "\(out.all)")
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
    }
}

/// A seccomp profile that denies getcwd, loaded before the runtime's last steps
/// (noNewPrivileges false): the working-directory check runs before the filter, as crun
/// does. runc 1.5.1 fails here ("failed to verify if current working directory is safe").
@Suite("seccomp denying getcwd", .integration)
struct SeccompGetcwdTests {
    @Test("the container runs in its cwd", arguments: [false, true])
    func runs(noNewPrivileges: Bool) throws {
        let bundle = try TestBundle {
            $0.process?.noNewPrivileges = noNewPrivileges
            $0.process?.cwd = "/cwdtest"
            $0.linux?.seccomp = .init(
                defaultAction: "SCMP_ACT_ALLOW",
                syscalls: [.init(names: ["getcwd"], action: "SCMP_ACT_ERRNO")])
        }
        try FileManager.default.createDirectory(atPath: bundle.rootfs + "/cwdtest", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: bundle.rootfs + "/cwdtest/marker", contents: Data())
        // A relative path needs no getcwd; busybox's pwd does, and the filter denies it.
        try bundle.command("sh", "-c", "ls marker; /bin/pwd || echo getcwd denied")
        let out = try apus("run", "--bundle", bundle.path, uniqueID("spec"))
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout.hasPrefix("marker\n") && out.stdout.contains("getcwd denied"), "\(out.all)")
        // runc 1.5.1 runs it with no_new_privs (filter loaded last) and fails without.
        let (_, theirs) = try Both.run(bundle)
        if noNewPrivileges {
            #expect(theirs.status == out.status && theirs.stdout == out.stdout, "runc: \(theirs.all)")
        } else {
            #expect(
                theirs.status != 0 && theirs.stderr.contains("current working directory"),
                "runc 1.5.1 now runs it: \(theirs.all)")
        }
    }
}

/// Without a mount namespace the container shares the runtime's: every field that needs
/// mounts is refused at create, naming it; runc 1.5.1 fails too (after mounting on the host).
@Suite("a config without a mount namespace", .integration)
struct NoMountNamespaceTests {
    func bundle(_ edit: @escaping (inout Spec) -> Void = { _ in }) throws -> TestBundle {
        try TestBundle {
            $0.linux?.namespaces?.removeAll { $0.type == .mount }
            $0.mounts = nil
            $0.root?.readonly = false
            $0.linux?.maskedPaths = nil
            $0.linux?.readonlyPaths = nil
            edit(&$0)
        }
    }

    @Test("the rest runs chrooted in the rootfs, in the runtime's mount namespace")
    func runsChrooted() throws {
        let b = try bundle()
        try FileManager.default.createDirectory(
            atPath: b.rootfs + "/marker-\(getpid())", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: b.rootfs + "/marker-\(getpid())") }
        try b.command("sh", "-c", "ls -d /marker-*; readlink /proc/self/ns/mnt || echo no-proc")
        let out = try apus("run", "--bundle", b.path, uniqueID("spec"))
        #expect(out.status == 0 && out.stdout.hasPrefix("/marker-\(getpid())\n"), "\(out.all)")
    }

    /// The issue's case: create said "created", then init died opening the exec fifo through
    /// a /proc the chrooted rootfs does not have. Init reopens it from the host procfs now.
    @Test("create, start and delete: created means alive, and start runs the process")
    func createStartDelete() throws {
        let b = try bundle()
        let marker = "/started-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: b.rootfs + marker) }
        try b.command("sh", "-c", "echo ok > \(marker)")
        let id = uniqueID("spec")
        #expect(try apus("create", "--bundle", b.path, id).status == 0)
        defer { _ = try? apus("delete", "--force", id) }
        let state = try decodeState(try apus("state", id).stdout)
        #expect(state["status"] as? String == "created", "\(state)")
        let started = try apus("start", id)
        #expect(started.status == 0, "\(started.all)")
        // start returns once init has gone past the fifo; the write may still be under way.
        let deadline = Date().addingTimeInterval(10)
        func written() -> String? { try? String(contentsOfFile: b.rootfs + marker, encoding: .utf8) }
        while written() != "ok\n" && Date() < deadline { usleep(10_000) }
        #expect(written() == "ok\n")
    }

    @Test(
        "a field that needs mounts fails create naming it, and nothing is left",
        arguments: [".mounts", ".root.readonly", ".linux.rootfsPropagation", ".linux.maskedPaths", ".linux.devices"])
    func refused(field: String) throws {
        let b = try bundle {
            switch field {
            case ".mounts": $0.mounts = [.init(destination: "/proc", type: "proc", source: "proc")]
            case ".root.readonly": $0.root?.readonly = true
            case ".linux.rootfsPropagation": $0.linux?.rootfsPropagation = "private"
            case ".linux.maskedPaths": $0.linux?.maskedPaths = ["/proc/kcore"]
            default: $0.linux?.devices = [.init(type: "c", path: "/dev/fuse", major: 10, minor: 229)]
            }
        }
        let id = uniqueID("spec")
        let before = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let out = try apus("create", "--bundle", b.path, id)
        #expect(out.status == 1 && out.stderr.contains(field) && out.stderr.contains("mount namespace"), "\(out.all)")
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
        let after = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        #expect(!after.contains(b.rootfs) || before.contains(b.rootfs), "a mount of the rootfs was left on the host")
    }
}

/// `update -r` with per-device block I/O limits (runc 1.4+): written to the container's
/// blkio cgroup, as runc 1.5.1 writes them.
@Suite("update: per-device block I/O", .integration)
struct UpdateBlockIOTests {
    /// A whole disk's major:minor from /sys/block (throttling takes disks, not partitions).
    static func disk() -> (major: Int64, minor: Int64)? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        for name in names.sorted() where !name.hasPrefix("loop") && !name.hasPrefix("ram") && !name.hasPrefix("zram") {
            guard let text = try? String(contentsOfFile: "/sys/block/\(name)/dev", encoding: .utf8) else { continue }
            let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":")
            if parts.count == 2, let major = Int64(parts[0]), let minor = Int64(parts[1]) { return (major, minor) }
        }
        return nil
    }

    /// The blkio v1 directory of a process, from /proc/PID/cgroup.
    static func blkioDirectory(of pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if parts.count == 3, parts[1].split(separator: ",").contains("blkio") {
                return "/sys/fs/cgroup/blkio" + parts[2]
            }
        }
        return nil
    }

    static let files = [
        "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ]

    @Test("throttle*Device entries are applied by update -r, as under runc 1.5.1")
    func throttles() throws {
        guard FileManager.default.fileExists(atPath: "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device") else {
            try Test.cancel("no cgroup v1 blkio controller with throttling at /sys/fs/cgroup/blkio")
        }
        guard let (major, minor) = Self.disk() else { try Test.cancel("no disk under /sys/block") }
        let container = try RunningContainer()
        typealias Throttle = Spec.Linux.Resources.BlockIO.ThrottleDevice
        let blockIO = Spec.Linux.Resources.BlockIO(
            throttleReadBpsDevice: [Throttle(major: major, minor: minor, rate: 1_048_576)],
            throttleWriteBpsDevice: [Throttle(major: major, minor: minor, rate: 2_097_152)],
            throttleReadIOPSDevice: [Throttle(major: major, minor: minor, rate: 300)],
            throttleWriteIOPSDevice: [Throttle(major: major, minor: minor, rate: 400)])
        let file = container.bundle.path + "/resources.json"
        try JSONEncoder().encode(Spec.Linux.Resources(blockIO: blockIO)).write(to: URL(fileURLWithPath: file))
        let updated = try apus("update", "-r", file, container.id)
        #expect(updated.status == 0, "\(updated.all)")
        let dir = try #require(Self.blkioDirectory(of: container.pid))
        let ours = try Self.files.map { try String(contentsOfFile: dir + "/" + $0, encoding: .utf8) }
        #expect(ours == ["1048576", "2097152", "300", "400"].map { "\(major):\(minor) \($0)\n" }, "\(ours)")
        // A second update changes one entry and keeps the others.
        let again = Spec.Linux.Resources(
            blockIO: .init(throttleReadIOPSDevice: [Throttle(major: major, minor: minor, rate: 301)]))
        try JSONEncoder().encode(again).write(to: URL(fileURLWithPath: file))
        #expect(try apus("update", "-r", file, container.id).status == 0)
        #expect(
            try String(contentsOfFile: dir + "/blkio.throttle.read_iops_device", encoding: .utf8)
                == "\(major):\(minor) 301\n")
        #expect(
            try String(contentsOfFile: dir + "/blkio.throttle.read_bps_device", encoding: .utf8)
                == "\(major):\(minor) 1048576\n")

        try JSONEncoder().encode(Spec.Linux.Resources(blockIO: blockIO)).write(to: URL(fileURLWithPath: file))
        let runcContainer = try Both.RuncContainer(container.bundle)
        let theirUpdate = try sh(
            runcContainer.runc, ["--root", runcContainer.root, "update", "-r", file, runcContainer.id])
        #expect(theirUpdate.status == 0, "\(theirUpdate.all)")
        let state = try sh(runcContainer.runc, ["--root", runcContainer.root, "state", runcContainer.id])
        let runcPid = Int32(try decodeState(state.stdout)["pid"] as? Int ?? 0)
        let theirDir = try #require(Self.blkioDirectory(of: runcPid))
        let theirs = try Self.files.map { try String(contentsOfFile: theirDir + "/" + $0, encoding: .utf8) }
        #expect(ours == theirs)
    }
}

/// Block I/O weights need BFQ (or the old CFQ) on the disk; without them the blkio controller
/// has no weight files. `update` then fails naming the field, before it writes anything: the
/// memory limit and cpu shares given with it stay as they were. runc 1.5.1 fails too, after
/// writing them.
@Suite("update: block I/O weights without the kernel's files", .integration)
struct UpdateBlockIOWeightTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        /// The blockIO member of the `-r` file (nil: the --blkio-weight flag instead).
        var blockIO: String?
        var field: String
        var description: String { name }
    }

    static func cases() -> [Case] {
        let disk = UpdateBlockIOTests.disk() ?? (major: 8, minor: 0)
        return [
            Case(
                name: "weightDevice",
                blockIO: #"{"weightDevice":[{"major":\#(disk.major),"minor":\#(disk.minor),"weight":500}]}"#,
                field: ".linux.resources.blockIO.weightDevice[0].weight"),
            Case(name: "weight", blockIO: #"{"weight":500}"#, field: ".linux.resources.blockIO.weight"),
            Case(name: "leafWeight", blockIO: #"{"leafWeight":500}"#, field: ".linux.resources.blockIO.leafWeight"),
            Case(name: "--blkio-weight", blockIO: nil, field: ".linux.resources.blockIO.weight"),
        ]
    }

    @Test("update fails naming the field and changes nothing; runc 1.5.1 fails too", arguments: cases())
    func refusedUnchanged(_ c: Case) throws {
        let root = "/sys/fs/cgroup/blkio"
        guard FileManager.default.fileExists(atPath: root + "/blkio.throttle.read_bps_device") else {
            try Test.cancel("no cgroup v1 blkio controller at \(root)")
        }
        for file in ["blkio.weight", "blkio.bfq.weight", "blkio.weight_device", "blkio.bfq.weight_device"]
        where FileManager.default.fileExists(atPath: "\(root)/\(file)") {
            try Test.cancel("this host's blkio has \(file): the error of a kernel without weights cannot be seen")
        }
        let container = try RunningContainer()
        func values(_ pid: Int32) -> [String?] {
            [
                ResourceFilesTests.file(pid, "memory", "memory.limit_in_bytes"),
                ResourceFilesTests.file(pid, "cpu", "cpu.shares"),
            ]
        }
        let before = values(container.pid)
        #expect(!before.contains(nil), "\(before)")
        let file = container.bundle.path + "/resources.json"
        var options: [String]
        if let blockIO = c.blockIO {
            let json = #"{"memory":{"limit":100000000},"cpu":{"shares":300},"blockIO":\#(blockIO)}"#
            try json.write(toFile: file, atomically: true, encoding: .utf8)
            options = ["-r", file]
        } else {
            options = ["--blkio-weight", "500", "--memory", "100000000", "--cpu-share", "300"]
        }
        let ours = try apusArgs(["update"] + options + [container.id])
        #expect(ours.status == 1 && ours.stderr.contains(c.field), "\(ours.all)")
        #expect(values(container.pid) == before, "update changed the cgroup before failing")
        #expect(try decodeState(try apus("state", container.id).stdout)["status"] as? String == "running")
        // The failed request is not recorded: a later update of the memory limit alone works.
        try #"{"memory":{"limit":200000000}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let later = try apus("update", "-r", file, container.id)
        #expect(later.status == 0, "\(later.all)")
        let page = sysconf(Int32(_SC_PAGESIZE))
        #expect(
            ResourceFilesTests.file(container.pid, "memory", "memory.limit_in_bytes") == "\(200_000_000 / page * page)")

        if let blockIO = c.blockIO {
            let json = #"{"memory":{"limit":100000000},"cpu":{"shares":300},"blockIO":\#(blockIO)}"#
            try json.write(toFile: file, atomically: true, encoding: .utf8)
        }
        let runcContainer = try Both.RuncContainer(container.bundle)
        let theirs = try sh(
            runcContainer.runc, ["--root", runcContainer.root, "update"] + options + [runcContainer.id])
        #expect(theirs.status == ours.status, "runc: \(theirs.all)")
    }
}

/// linux.resources.devices: the v1 devices controller lists exceptions in the order they were
/// written; apus writes runc's defaults first (sorted, as runc writes them), then the config's
/// rules as config.json lists them. runc 1.5.1 writes one sorted list: the same set of lines.
@Suite("device cgroup rules in config order", .integration)
struct DeviceOrderTests {
    static func devicesList(of pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if parts.count == 3, parts[1].split(separator: ",").contains("devices") {
                return try? String(
                    contentsOfFile: "/sys/fs/cgroup/devices" + parts[2] + "/devices.list", encoding: .utf8)
            }
        }
        return nil
    }

    @Test("devices.list shows the defaults, then the config's rules in config order")
    func configOrder() throws {
        guard FileManager.default.fileExists(atPath: "/sys/fs/cgroup/devices/devices.list") else {
            try Test.cancel("no cgroup v1 devices controller at /sys/fs/cgroup/devices")
        }
        typealias Rule = Spec.Linux.Resources.DeviceCgroup
        let container = try RunningContainer {
            let defaults = $0.linux?.resources?.devices ?? []
            $0.linux?.resources?.devices =
                defaults + [
                    Rule(allow: true, type: "c", major: 10, minor: 229, access: "rwm"),
                    Rule(allow: true, type: "c", major: 1, minor: 1, access: "r"),
                    Rule(allow: true, type: "b", major: 7, minor: -1, access: "rw"),
                ]
        }
        let ours = try #require(Self.devicesList(of: container.pid))
        let lines = ours.split(separator: "\n").map(String.init)
        #expect(Array(lines.suffix(3)) == ["c 10:229 rwm", "c 1:1 r", "b 7:* rw"], "\(ours)")
        let runcContainer = try Both.RuncContainer(container.bundle)
        let state = try sh(runcContainer.runc, ["--root", runcContainer.root, "state", runcContainer.id])
        let runcPid = Int32(try decodeState(state.stdout)["pid"] as? Int ?? 0)
        let theirs = try #require(Self.devicesList(of: runcPid))
        #expect(Set(lines) == Set(theirs.split(separator: "\n").map(String.init)), "apus:\n\(ours)runc:\n\(theirs)")
    }
}

/// The linux.resources fields no other test reads back: each seen in the kernel's v1 file
/// of the container's cgroup, under apus and under runc 1.5.1 (the audit, docs/spec-audit.md).
@Suite("resources seen in the kernel's files", .integration)
struct ResourceFilesTests {
    static func file(_ pid: Int32, _ controller: String, _ name: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if parts.count == 3, parts[1].split(separator: ",").contains(Substring(controller)) {
                let path = "/sys/fs/cgroup/\(controller)\(parts[2])/\(name)"
                return (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
                    in: .whitespacesAndNewlines)
            }
        }
        return nil
    }

    static let reads: [(field: String, controller: String, file: String, expect: String)] = [
        (".memory.swap", "memory", "memory.memsw.limit_in_bytes", String(128 << 20)),
        (".memory.swappiness", "memory", "memory.swappiness", "17"),
        (".memory.disableOOMKiller", "memory", "memory.oom_control", "oom_kill_disable 1"),
        (".cpu.burst", "cpu", "cpu.cfs_burst_us", "5000"),
        (".cpu.idle", "cpu", "cpu.idle", "1"),
        (".cpu.cpus", "cpuset", "cpuset.cpus", "0"),
        (".cpu.mems", "cpuset", "cpuset.mems", "0"),
    ]

    @Test("memory swap, swappiness, disableOOMKiller; cpu burst, idle, cpus, mems: as runc 1.5.1 writes them")
    func sameAsRunc() throws {
        for (_, controller, file, _) in Self.reads
        where !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\(controller)/\(file)") {
            try Test.cancel("no cgroup v1 \(controller) file \(file) on this host")
        }
        let container = try RunningContainer {
            $0.linux?.resources?.memory = .init(
                limit: 64 << 20, swap: 128 << 20, swappiness: 17, disableOOMKiller: true)
            $0.linux?.resources?.cpu = .init(
                quota: 20_000, burst: 5_000, period: 100_000, cpus: "0", mems: "0", idle: 1)
        }
        let runcContainer = try Both.RuncContainer(container.bundle)
        let state = try sh(runcContainer.runc, ["--root", runcContainer.root, "state", runcContainer.id])
        let runcPid = Int32(try decodeState(state.stdout)["pid"] as? Int ?? 0)
        for (field, controller, file, expect) in Self.reads {
            let ours = Self.file(container.pid, controller, file) ?? "(unreadable)"
            let theirs = Self.file(runcPid, controller, file) ?? "(unreadable)"
            #expect(ours.contains(expect), "\(field): \(file) is \(ours)")
            #expect(ours == theirs, "\(field): \(file) apus \(ours), runc \(theirs)")
        }
    }

    /// On a hybrid host whose hugetlb controller is on cgroup v2 (this one), runc 1.5.1 fails
    /// ("cannot set hugetlb limit"); apus writes the v2 file.
    @Test("hugepageLimits: hugetlb.<size>.max of the container's v2 cgroup")
    func hugepages() throws {
        let controllers =
            (try? String(contentsOfFile: "/sys/fs/cgroup/unified/cgroup.controllers", encoding: .utf8)) ?? ""
        guard controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("hugetlb"),
            FileManager.default.fileExists(atPath: "/sys/kernel/mm/hugepages/hugepages-2048kB")
        else { try Test.cancel("no hugetlb controller on /sys/fs/cgroup/unified, or no 2 MB pages") }
        let container = try RunningContainer {
            $0.linux?.resources?.hugepageLimits = [.init(pageSize: "2MB", limit: 4 << 20)]
        }
        let text = try String(contentsOfFile: "/proc/\(container.pid)/cgroup", encoding: .utf8)
        let path = try #require(text.split(separator: "\n").first { $0.hasPrefix("0::") }).dropFirst(3)
        let value = try String(contentsOfFile: "/sys/fs/cgroup/unified\(path)/hugetlb.2MB.max", encoding: .utf8)
        #expect(value == "\(4 << 20)\n")
    }
}

/// process.consoleSize: the pty's window size, set before the process runs. Seen from inside
/// with `stty size`, through a --console-socket receiver, under apus and under runc 1.5.1.
@Suite("process.consoleSize", .integration)
struct ConsoleSizeTests {
    /// Starts a console-socket receiver at `socket`, runs `start` (which must start the
    /// container with that socket), and returns what the pty printed until its process exited.
    static func ptyOutput(socket: String, start: () throws -> Output) throws -> String {
        let (receiver, pipe) = try startPtyReceiver(socket: socket)
        defer { if receiver.isRunning { kill(receiver.processIdentifier, SIGKILL) } }
        let started = try start()
        guard started.status == 0 else { throw TestFailure("start: \(started.all)") }
        let text = readOutput(pipe.fileHandleForReading, until: "\n")
        return text.replacingOccurrences(of: "\r", with: "")
    }

    @Test("stty size in the container shows consoleSize, as under runc 1.5.1")
    func sttySize() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            try Test.cancel("python3 is missing: no console-socket receiver")
        }
        let bundle = try TestBundle {
            $0.process?.terminal = true
            $0.process?.consoleSize = .init(height: 33, width: 111)
        }
        try bundle.command("stty", "size")
        let id = uniqueID("spec-tty")
        defer { _ = try? apus("delete", "--force", id) }
        let ours = try Self.ptyOutput(socket: bundle.path + "/apus.sock") {
            try apus("run", "-d", "--console-socket", bundle.path + "/apus.sock", "--bundle", bundle.path, id)
        }
        #expect(ours == "33 111\n", "\(ours)")

        let runc = try Env.requireRunc()
        let root = Both.runcRoot()
        let runcID = uniqueID("spec-tty-runc")
        defer {
            _ = try? sh(runc, ["--root", root, "delete", "--force", runcID])
            try? FileManager.default.removeItem(atPath: root)
        }
        let theirs = try Self.ptyOutput(socket: bundle.path + "/runc.sock") {
            try sh(
                runc,
                [
                    "--root", root, "run", "-d", "--console-socket", bundle.path + "/runc.sock", "--bundle",
                    bundle.path, runcID,
                ])
        }
        #expect(ours == theirs, "apus: \(ours) runc: \(theirs)")
    }
}

/// linux.resources fields that need a v1 knob this host has: realtime CPU and use_hierarchy.
@Suite("cgroup v1 realtime CPU and memory hierarchy", .integration)
struct CgroupV1KnobTests {
    @Test("realtimeRuntime/realtimePeriod: cpu.rt_runtime_us and rt_period_us, as runc 1.5.1 writes them")
    func realtime() throws {
        guard FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cpu/cpu.rt_runtime_us") else {
            try Test.cancel("no cpu.rt_runtime_us: cgroup v1 cpu without CONFIG_RT_GROUP_SCHED")
        }
        let container = try RunningContainer {
            $0.linux?.resources?.cpu = .init(realtimeRuntime: 10_000, realtimePeriod: 200_000)
        }
        let ours = ["cpu.rt_runtime_us", "cpu.rt_period_us"].map { ResourceFilesTests.file(container.pid, "cpu", $0) }
        #expect(ours == ["10000", "200000"], "\(ours)")
        let runcContainer = try Both.RuncContainer(container.bundle)
        let state = try sh(runcContainer.runc, ["--root", runcContainer.root, "state", runcContainer.id])
        let runcPid = Int32(try decodeState(state.stdout)["pid"] as? Int ?? 0)
        let theirs = ["cpu.rt_runtime_us", "cpu.rt_period_us"].map { ResourceFilesTests.file(runcPid, "cpu", $0) }
        #expect(ours == theirs)
    }

    /// Linux 5.x+ keeps every v1 memory cgroup hierarchical: use_hierarchy reads 1 and refuses
    /// 0. apus writes the field, so `true` holds and `false` fails create naming it; runc 1.5.1
    /// ignores the field (a difference on purpose: an accepted field takes effect or is refused).
    @Test("useHierarchy true reads 1; false fails create naming the field, nothing left (runc ignores it)")
    func useHierarchy() throws {
        guard FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/memory.use_hierarchy") else {
            try Test.cancel("no cgroup v1 memory.use_hierarchy on this host")
        }
        let container = try RunningContainer { $0.linux?.resources?.memory = .init(useHierarchy: true) }
        #expect(ResourceFilesTests.file(container.pid, "memory", "memory.use_hierarchy") == "1")

        let bundle = try TestBundle { $0.linux?.resources?.memory = .init(useHierarchy: false) }
        let id = uniqueID("spec")
        let out = try apus("run", "--bundle", bundle.path, id)
        if out.status == 0 {
            // A kernel that still takes 0 (before 5.x): then it must read 0 inside.
            try Test.cancel("this kernel accepts memory.use_hierarchy 0")
        }
        #expect(
            out.status == 1 && out.stderr.contains(".linux.resources.memory.useHierarchy")
                && out.stderr.contains("always 1"), "\(out.all)")
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
        #expect(processes(mentioning: id).isEmpty)
        try bundle.command("true")
        let (_, theirs) = try Both.run(bundle)
        #expect(theirs.status == 0, "runc 1.5.1 no longer ignores useHierarchy: \(theirs.all)")
    }
}
