import Foundation
import OCI
import Testing

/// A failed create names the step and the config.json field, exits non-zero
/// and leaves nothing behind: no state dir, mount, cgroup or process.
@Suite("failed create", .integration)
struct FailureTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var expect: [String]
        var edit: @Sendable (TestBundle) throws -> Void
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "malformed json", expect: ["config.json", "JSON"]) { bundle in
            try bundle.writeRawConfig("{\"ociVersion\": \"1.2.0\", \"process\": ")
        },
        Case(name: "wrong type", expect: [".process.user.uid"]) { bundle in
            var text = try String(contentsOfFile: bundle.path + "/config.json", encoding: .utf8)
            text = text.replacingOccurrences(
                of: #""uid"\s*:\s*0"#, with: "\"uid\": \"zero\"", options: .regularExpression)
            try bundle.writeRawConfig(text)
        },
        Case(name: "unsupported ociVersion", expect: [".ociVersion", "9.9.9"]) { bundle in
            bundle.spec.ociVersion = "9.9.9"
            try bundle.save()
        },
        Case(name: "missing rootfs", expect: ["rootfs", ".root.path"]) { bundle in
            bundle.spec.root?.path = "no-such-rootfs"
            try bundle.save()
        },
        Case(name: "rootfs is a file", expect: ["not a directory", ".root.path"]) { bundle in
            FileManager.default.createFile(atPath: bundle.path + "/afile", contents: Data())
            bundle.spec.root?.path = "afile"
            try bundle.save()
        },
        Case(name: "bind mount of a missing source", expect: ["/does/not/exist", ".mounts[7]"]) { bundle in
            bundle.spec.mounts?.append(
                Spec.Mount(destination: "/data", type: "bind", source: "/does/not/exist", options: ["rbind"]))
            try bundle.save()
        },
        Case(name: "unknown namespace path", expect: ["/proc/0/ns/net", ".linux.namespaces[1].path"]) { bundle in
            bundle.spec.linux?.namespaces?[1] = Spec.Linux.Namespace(type: .network, path: "/proc/0/ns/net")
            try bundle.save()
        },
        Case(name: "missing executable", expect: ["nosuchbinary", "not found", ".process.args[0]"]) { bundle in
            try bundle.command("nosuchbinary")
        },
        Case(name: "unknown capability", expect: ["CAP_NOT_A_CAP", ".process.capabilities"]) { bundle in
            bundle.spec.process?.capabilities?.bounding?.append("CAP_NOT_A_CAP")
            try bundle.save()
        },
        // Spec 1.3 fields: what the host cannot do is an error naming the field.
        Case(
            name: "netDevices: no such interface", expect: [".linux.netDevices[\"apusnosuch0\"]", "no such interface"]
        ) {
            bundle in
            bundle.spec.linux?.netDevices = ["apusnosuch0": .init(name: "eth0")]
            try bundle.save()
        },
        Case(name: "memoryPolicy: a node that is not online", expect: [".linux.memoryPolicy", "Invalid argument"]) {
            bundle in
            bundle.spec.linux?.memoryPolicy = .init(mode: "MPOL_BIND", nodes: "1000")
            try bundle.save()
        },
        Case(name: "relative cwd", expect: [".process.cwd"]) { bundle in
            bundle.spec.process?.cwd = "relative/dir"
            try bundle.save()
        },
    ]

    @Test("fails clearly and leaves no trace", arguments: cases)
    func failsCleanly(_ testCase: Case) throws {
        let bundle = try TestBundle()
        try bundle.command("true")
        try testCase.edit(bundle)
        let id = uniqueID("fail")
        let before = HostSnapshot.take(mentioning: id)
        for command in ["create", "run"] {
            let result = try apus(command, "--bundle", bundle.path, id)
            #expect(result.status != 0, "\(command) \(testCase.name) succeeded")
            for needle in testCase.expect {
                #expect(
                    result.stderr.contains(needle),
                    "\(command) \(testCase.name): stderr lacks \(needle): \(result.stderr)")
            }
            #expect(result.stderr.split(separator: "\n").count <= 2, "one clear message: \(result.stderr)")
            let after = HostSnapshot.take(mentioning: id)
            #expect(after == before, "\(command) \(testCase.name) left: \(after)")
            #expect(processes(mentioning: id).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
        }
    }

    /// `run` saves the record and queues `start` before init is ready: an execve that fails
    /// after `ready` is still the runtime's error, and the saved container is removed.
    @Test("run of a file the kernel cannot execute: execve's reason, exit 1, no trace", arguments: [false, true])
    func execFailsAfterReady(detach: Bool) throws {
        let bundle = try TestBundle()
        let garbage = bundle.rootfs + "/bin/not-an-elf"
        try Data("not a program\n".utf8).write(to: URL(fileURLWithPath: garbage))
        chmod(garbage, 0o755)
        bundle.spec.process?.args = ["/bin/not-an-elf"]
        try bundle.save()
        let id = uniqueID("noexec")
        let before = HostSnapshot.take(mentioning: id)
        let result = try apusArgs(["run"] + (detach ? ["--detach"] : []) + ["--bundle", bundle.path, id])
        #expect(result.status == 1, "\(result.all)")
        #expect(result.stderr.contains("exec /bin/not-an-elf: Exec format error"), "\(result.stderr)")
        #expect(HostSnapshot.take(mentioning: id) == before)
        #expect(processes(mentioning: id).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
    }
}

@Suite("concurrency", .integration)
struct ConcurrencyTests {
    @Test("an init that fails early is heard every time, even with many starting at once")
    func earlyFailuresUnderLoad() throws {
        // Init fails right after `proceed`, while the runtime's `inCgroup` may still sit
        // unread in its socket: its exit then makes the runtime's next read fail once with
        // ECONNRESET, before the failure it sent. That read must not be taken for EOF.
        if FileManager.default.fileExists(atPath: "/sys/fs/resctrl/schemata") {
            try Test.cancel("early failures: this host has resctrl, so intelRdt does not fail")
        }
        let bundle = try TestBundle { $0.linux?.intelRdt = .init(closID: "apus-test") }
        try bundle.command("true")
        let runs = (0..<24).map { ["run", "--bundle", bundle.path, uniqueID("early\($0)")] }
        for out in try apusAllAtOnce(runs) {
            #expect(out.status == 1, "\(out.all)")
            #expect(out.stderr.contains(".linux.intelRdt"), "the failure was lost: \(out.all)")
        }
    }

    @Test("20 concurrent creates with distinct ids all succeed")
    func twentyConcurrent() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        let ids = (0..<20).map { uniqueID("conc\($0)") }
        nonisolated(unsafe) var results = [Int32](repeating: -1, count: ids.count)
        DispatchQueue.concurrentPerform(iterations: ids.count) { i in
            results[i] = (try? apus("create", "--bundle", bundle.path, ids[i]).status) ?? -1
        }
        defer { for id in ids { _ = try? apus("delete", "--force", id) } }
        #expect(results.allSatisfy { $0 == 0 }, "\(results)")
        for id in ids {
            #expect(try decodeState(try apus("state", id).stdout)["status"] as? String == "created")
        }
    }

    @Test("100 parallel run -d with distinct ids all succeed, and 100 parallel delete --force remove all")
    func hundredParallelRuns() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "60")
        let tag = "par\(getpid())x\(UInt32.random(in: 0..<UInt32.max))"
        let ids = (0..<100).map { "\(tag)-\($0)" }
        let before = HostSnapshot.take(mentioning: tag)
        defer { for id in ids { _ = try? apus("delete", "--force", id) } }
        let runs = try apusAllAtOnce(ids.map { ["run", "-d", "--bundle", bundle.path, $0] })
        let failed = zip(ids, runs).filter { $0.1.status != 0 }.map { "\($0.0): \($0.1.stderr)" }
        #expect(failed.isEmpty, "\(failed.count) failed: \(failed.prefix(3))")

        let list = try apus("list", "--format", "json")
        let entries = (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]) ?? []
        let running = entries.filter {
            ($0["id"] as? String)?.hasPrefix(tag) == true && $0["status"] as? String == "running"
        }
        #expect(running.count == 100, "\(running.count) running")

        let deletes = try apusAllAtOnce(ids.map { ["delete", "--force", $0] })
        #expect(deletes.allSatisfy { $0.status == 0 }, "\(deletes.filter { $0.status != 0 }.prefix(3).map(\.stderr))")
        try waitFor(10) { processes(mentioning: tag).isEmpty }
        #expect(HostSnapshot.take(mentioning: tag) == before)
    }

    @Test("parallel commands on one id are serialized: poststop runs once, state is never torn")
    func oneIDManyCommands() throws {
        let log = NSTemporaryDirectory() + "apus-poststop-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let bundle = try TestBundle {
            $0.process?.args = ["sleep", "60"]
            $0.hooks = Spec.Hooks(poststop: [Spec.Hook(path: "/bin/sh", args: ["sh", "-c", "echo once >> \(log)"])])
            $0.linux?.resources = Spec.Linux.Resources(pids: .init(limit: 100))
        }
        let id = uniqueID("oneid")
        defer { _ = try? apus("delete", "--force", id) }
        #expect(try apus("run", "-d", "--bundle", bundle.path, id).status == 0)
        // Readers racing writers of state.json (update rewrites it) and each other.
        var commands: [[String]] = []
        for i in 0..<20 {
            commands.append(["state", id])
            commands.append(["update", "--pids-limit", String(200 + i), id])
        }
        let mixed = try apusAllAtOnce(commands)
        for (command, out) in zip(commands, mixed) {
            #expect(out.status == 0, "\(command): \(out.stderr)")
            if command[0] == "state" { #expect(throws: Never.self) { try decodeState(out.stdout) } }
        }
        // Ten deletes at once: one removes the container, the others find it gone.
        let deletes = try apusAllAtOnce(Array(repeating: ["delete", "--force", id], count: 10))
        #expect(deletes.allSatisfy { $0.status == 0 }, "\(deletes.map(\.stderr))")
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "once\n")
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
    }

    @Test("containers sharing a parent cgroup, deleted concurrently, leave the parent behind in no hierarchy")
    func sharedParentRemoved() throws {
        let group = "shared-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        let ids = (0..<6).map { uniqueID("parent\($0)") }
        let bundles = try ids.map { id in
            try TestBundle {
                $0.process?.args = ["sleep", "30"]
                $0.linux?.cgroupsPath = "\(group)/\(id)"
            }
        }
        nonisolated(unsafe) var created = [Int32](repeating: -1, count: ids.count)
        DispatchQueue.concurrentPerform(iterations: ids.count) { i in
            created[i] = (try? apus("create", "--bundle", bundles[i].path, ids[i]).status) ?? -1
        }
        #expect(created.allSatisfy { $0 == 0 }, "\(created)")
        #expect(FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/apus/\(group)"))
        DispatchQueue.concurrentPerform(iterations: ids.count) { i in
            _ = try? apus("delete", "--force", ids[i])
        }
        let left = HostSnapshot.take(mentioning: group).cgroups
        #expect(left.isEmpty, "left behind: \(left)")
    }

    @Test("two concurrent creates of one id: exactly one wins")
    func sameIDRace() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        for round in 0..<5 {
            let id = uniqueID("race\(round)")
            nonisolated(unsafe) var results: [Output?] = [nil, nil]
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                results[i] = try? apus("create", "--bundle", bundle.path, id)
            }
            let statuses = results.map { $0?.status ?? -1 }
            #expect(statuses.filter { $0 == 0 }.count == 1, "\(statuses)")
            #expect(results.contains { $0?.stderr.contains("already exists") == true })
            #expect(try decodeState(try apus("state", id).stdout)["status"] as? String == "created")
            #expect(try apus("delete", "--force", id).status == 0)
        }
    }
}

@Suite("validate", .integration)
struct ValidateTests {
    @Test("validate passes a good bundle and lists every problem of a bad one at once")
    func validate() throws {
        let bundle = try TestBundle()
        let good = try apus("validate", "--bundle", bundle.path)
        #expect(good.status == 0, "\(good.all)")
        bundle.spec.ociVersion = "7.0.0"
        bundle.spec.root?.path = "missing-rootfs"
        bundle.spec.process?.cwd = "relative"
        bundle.spec.mounts?.append(.init(destination: "/x", type: "bind", source: "/no/such/source", options: ["bind"]))
        try bundle.save()
        let id = uniqueID("validate")
        let before = HostSnapshot.take(mentioning: id)
        let bad = try apus("validate", "--bundle", bundle.path)
        #expect(bad.status == 1)
        for path in [".ociVersion", ".root.path", ".process.cwd", ".mounts[7].source"] {
            #expect(bad.stderr.contains("config.json \(path)"), "missing \(path): \(bad.stderr)")
        }
        #expect(bad.stderr.contains("4 problems found"), "\(bad.stderr)")
        #expect(HostSnapshot.take(mentioning: id) == before)
    }
}

/// apus SIGKILLed at each step of create (a manager's timeout, the OOM killer): init must
/// not outlive it, `list` shows the remains as stopped, and `delete --force` removes all of
/// it. The crash points exist only in debug builds (`APUS_CRASH_AT`), so this suite runs the
/// debug binary `swift test` builds next to the tests.
@Suite("crash recovery", .integration)
struct CrashRecoveryTests {
    static let debugBinary: String? = {
        let path = Env.repo.appendingPathComponent(".build/debug/apus").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// Every crash point of create, in the order create reaches them (`run` most often saves
    /// before `ready`: `Runtime.startsBeforeReady`).
    static let points = ["claimed", "recorded", "cloned", "proceeded", "placed", "ready", "saved"]

    @Test("a create killed at any step leaves nothing delete --force cannot remove", arguments: points)
    func killedCreateIsRecoverable(point: String) throws {
        guard let debug = Self.debugBinary else {
            try Test.cancel("crash recovery: no debug build at .build/debug/apus (run `swift build`)")
        }
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        for command in ["create", "run"] {
            let id = uniqueID("crash")
            let before = HostSnapshot.take(mentioning: id)
            var environment = ProcessInfo.processInfo.environment
            environment["APUS_CRASH_AT"] = point
            let crashed = try sh(
                debug, ["--root", Env.stateRoot, command, "--bundle", bundle.path, id], environment: environment)
            #expect(crashed.status == SIGKILL, "\(command) did not reach crash point \(point): \(crashed.all)")
            // Until `start`, init never outlives the runtime: it learns of the runtime's death
            // from the sync socket (EOF) and exits, for `create` and for `run` alike. Wait for
            // the recorded init itself, then for anything else that mentions the id. `run`
            // sends `start` before init is ready (the record committed first): killed at
            // "ready", its container is running, recorded, and `delete --force` stops it.
            let started = command == "run" && point == "ready"
            if started {
                let pid = recordedInitPid(id) ?? 0
                #expect(pid > 0 && !isGone(pid), "run at ready: no running init recorded (pid \(pid))")
            } else if let pid = recordedInitPid(id), pid > 0 {
                do {
                    try waitFor(10) { isGone(pid) }
                } catch {
                    let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                    Issue.record("\(command) at \(point): init \(pid) outlived the runtime: \(cmdline)")
                }
            }
            if !started { try waitFor(10) { processes(mentioning: id).isEmpty } }

            let list = try apus("list", "--format", "json")
            #expect(list.status == 0, "\(list.all)")
            let entries = (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]) ?? []
            let entry = entries.first { $0["id"] as? String == id }
            #expect(
                entry?["status"] as? String == (started ? "running" : "stopped"),
                "\(command) at \(point): list shows \(list.stdout)")

            let deleted = try apus("delete", "--force", id)
            #expect(deleted.status == 0, "\(command) at \(point): \(deleted.all)")
            if started { try waitFor(10) { processes(mentioning: id).isEmpty } }
            let after = HostSnapshot.take(mentioning: id)
            #expect(after == before, "\(command) at \(point) left: \(after)")
        }
    }
}

/// The init pid state.json records (0 or nil before the runtime wrote one).
func recordedInitPid(_ id: String) -> Int32? {
    guard let data = FileManager.default.contents(atPath: Env.stateRoot + "/" + id + "/state.json"),
        let state = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return nil }
    return (state["pid"] as? Int).map { Int32($0) }
}

/// Filesystems in the way: a bundle on a read-only mount, state and pid file on a full one.
@Suite("filesystems", .integration, .serialized)
struct FilesystemTests {
    /// A tmpfs of `size` at a fresh temp dir, unmounted and removed by `body`'s end.
    func withTmpfs(size: String, _ body: (String) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "apus-fs-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer {
            _ = try? sh("/bin/umount", ["-l", dir])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let mounted = try sh("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir])
        try #require(mounted.status == 0, "\(mounted.all)")
        try body(dir)
    }

    @Test("a bundle on a read-only mount runs: apus writes nothing into the bundle")
    func readOnlyBundle() throws {
        let bundle = try TestBundle()
        try bundle.command("sh", "-c", "echo ran")
        let bound = try sh("/bin/mount", ["--bind", "-o", "ro", bundle.path, bundle.path])
        try #require(bound.status == 0, "\(bound.all)")
        defer { _ = try? sh("/bin/umount", ["-l", bundle.path]) }
        let out = try apus("run", "--bundle", bundle.path, uniqueID("robundle"))
        #expect(out.status == 0 && out.stdout == "ran\n", "\(out.all)")
    }

    @Test("a full filesystem under the state root or the pid file fails create cleanly")
    func fullFilesystem() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        try withTmpfs(size: "64k") { dir in
            // Fill it: state.json and the pid file cannot be written.
            let root = dir + "/root"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
            _ = try sh("/bin/sh", ["-c", "cat /dev/zero > \(dir)/filler 2>/dev/null; true"])
            for (label, args) in [
                ("state", ["--root", root]), ("pid file", ["--root", Env.stateRoot]),
            ] {
                let id = uniqueID("full")
                let before = HostSnapshot.take(root: root, mentioning: id)
                let pidArgs = label == "pid file" ? ["--pid-file", dir + "/init.pid"] : []
                let out = try sh(
                    Env.apus ?? "/nonexistent", args + ["create", "--bundle", bundle.path] + pidArgs + [id])
                #expect(out.status != 0, "\(label): \(out.all)")
                #expect(out.stderr.contains("No space left on device"), "\(label): \(out.stderr)")
                try waitFor(10) { processes(mentioning: id).isEmpty }
                #expect(HostSnapshot.take(root: root, mentioning: id) == before, "\(label)")
                #expect(HostSnapshot.take(mentioning: id) == HostSnapshot.take(mentioning: "no-such-\(id)"))
                _ = try? sh(Env.apus ?? "/nonexistent", args + ["delete", "--force", id])
            }
        }
    }
}

/// kill and delete racing with a container's own exit: no hang, no crash, no double
/// cleanup; each either acts or says the container is gone.
@Suite("exit races", .integration)
struct ExitRaceTests {
    @Test("kill and delete --force at the moment the container exits")
    func killDeleteAtExit() throws {
        let log = NSTemporaryDirectory() + "apus-race-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let bundle = try TestBundle {
            $0.process?.args = ["sleep", "0.02"]
            $0.hooks = Spec.Hooks(poststop: [Spec.Hook(path: "/bin/sh", args: ["sh", "-c", "echo x >> \(log)"])])
        }
        let rounds = 15
        for round in 0..<rounds {
            let id = uniqueID("exitrace\(round)")
            #expect(try apus("run", "-d", "--bundle", bundle.path, id).status == 0)
            let outs = try apusAllAtOnce([["kill", id, "KILL"], ["delete", "--force", id], ["kill", id, "TERM"]])
            for out in [outs[0], outs[2]] where out.status != 0 {
                #expect(
                    out.stderr.contains("not running") || out.stderr.contains("does not exist"),
                    "kill: \(out.stderr)")
            }
            #expect(outs[1].status == 0, "delete: \(outs[1].stderr)")
            #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
            try waitFor(10) { processes(mentioning: id).isEmpty }
            #expect(HostSnapshot.take(mentioning: id).cgroups.isEmpty)
        }
        let lines = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").count ?? 0
        #expect(lines == rounds, "poststop ran \(lines) times for \(rounds) containers")
    }
}
