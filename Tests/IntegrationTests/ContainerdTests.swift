import Foundation
import Testing

/// containerd 1.6 (Debian's package) driving apus through its io.containerd.runc.v2
/// shim, as `ctr run --runc-binary` (the shim's BinaryName option) makes it do. The
/// suite starts a containerd of its own whose root, state, sockets, fifos and runtime
/// state all live in one temp dir, imports a busybox image built offline by
/// spec-fixtures/make-oci-image.sh, runs every scenario through the real `ctr` and
/// asserts what a user sees. Every runtime call the shim makes goes through a
/// wrapper that logs its argv, so the table at the end can assert that each kind of
/// call was exercised. At the end containerd is stopped and the suite checks that no
/// shim, mount or cgroup is left.
@Suite(
    "containerd runc.v2 shim with apus as the runtime",
    .enabled(if: ContainerdDaemon.enabled, Comment(rawValue: ContainerdDaemon.skipReason ?? "")), .serialized,
    ContainerdDaemon.Scope())
struct ContainerdTests {
    static let image = "localhost/apus-busybox:latest"

    var ctrd: ContainerdDaemon {
        get throws { try #require(ContainerdDaemon.current, "containerd did not start (see the suite's error)") }
    }

    // MARK: scenarios (each is also a row of the invocation table below)

    @Test("ctr run --rm prints the process's output; the process is in the <namespace>/<id> cgroup")
    func runRemove() throws { try Self.runRemove(ctrd) }

    static func runRemove(_ ctrd: ContainerdDaemon) throws {
        let id = ctrd.newID("rm")
        let run = try ctrd.run(["--rm", image, id, "sh", "-c", "echo hello from apus; cat /proc/self/cgroup"])
        #expect(run.status == 0, "\(run.all)")
        #expect(run.stdout.contains("hello from apus"), "\(run.all)")
        #expect(run.stdout.contains("/\(ctrd.namespace)/\(id)"), "cgroup path: \(run.stdout)")
        try ctrd.expectGone(id)
    }

    @Test("ctr run passes its stdin to the process (apus's fd 0 is the shim's stdin pipe)")
    func standardInput() throws {
        let ctrd = try ctrd
        let id = ctrd.newID("stdin")
        // `read` needs no end of file: ctr 1.6 loses the EOF of a short stdin when it
        // arrives before the task is created (its stdin closer is set afterwards), with
        // runc as with apus.
        let run = try sh(
            ContainerdDaemon.ctrPath,
            ctrd.ctrGlobals + ["run"] + ctrd.runtimeFlags() + [
                "--rm", Self.image, id, "sh", "-c", "read line; echo \"got $line\"",
            ],
            stdin: "a line from ctr's stdin\n", timeout: 30)
        #expect(run.status == 0, "\(run.all)")
        #expect(run.stdout.contains("got a line from ctr's stdin"), "\(run.all)")
        try ctrd.expectGone(id)
    }

    @Test("the exit code of the container's process is ctr run's exit code")
    func exitCode() throws {
        let ctrd = try ctrd
        let id = ctrd.newID("exit")
        let run = try ctrd.run(["--rm", Self.image, id, "sh", "-c", "exit 3"])
        #expect(run.status == 3, "\(run.all)")
        try ctrd.expectGone(id)
    }

    @Test("detached task: exec (output, exit code, signal), ps, kill, delete, container rm")
    func detached() throws { try Self.detached(ctrd) }

    static func detached(_ ctrd: ContainerdDaemon) throws {
        let id = ctrd.newID("detached")
        // The init shell waits on a child, so `ps` has two processes, and turns SIGTERM
        // into exit code 7, so the kill and its delivery are both visible.
        let run = try ctrd.run(["-d", image, id, "sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait"])
        #expect(run.status == 0, "\(run.all)")
        let task = try ctrd.task(id)
        #expect(task?.status == "RUNNING", "\(String(describing: task))")

        let exec = try ctrd.ctr([
            "task", "exec", "--fifo-dir", ctrd.fifoDir, "--exec-id", "e1", id, "sh", "-c", "echo from exec; exit 4",
        ])
        #expect(exec.status == 4, "\(exec.all)")
        #expect(exec.stdout.contains("from exec"), "\(exec.all)")
        let killed = try ctrd.ctr([
            "task", "exec", "--fifo-dir", ctrd.fifoDir, "--exec-id", "e2", id, "sh", "-c", "kill -KILL $$",
        ])
        #expect(killed.status == 128 + SIGKILL, "\(killed.all)")
        let missing = try ctrd.ctr(["task", "exec", "--fifo-dir", ctrd.fifoDir, "--exec-id", "e3", id, "/nonexistent"])
        #expect(missing.status == 1, "\(missing.all)")
        #expect(
            missing.stderr.contains("OCI runtime exec failed: exec: \"/nonexistent\": No such file or directory"),
            "\(missing.all)")

        let ps = try ctrd.ctr(["task", "ps", id])
        #expect(ps.status == 0, "\(ps.all)")
        let pids = ps.stdout.split(separator: "\n").dropFirst().compactMap {
            Int32($0.split(separator: " ").first ?? "")
        }
        #expect(pids.count == 2, "\(ps.stdout)")
        if let pid = task?.pid { #expect(pids.contains(pid), "init \(pid) in \(ps.stdout)") }

        let kill = try ctrd.ctr(["task", "kill", id])
        #expect(kill.status == 0, "\(kill.all)")
        #expect(try ctrd.waitForStatus(id, "STOPPED"))
        let delete = try ctrd.ctr(["task", "delete", id])
        #expect(delete.status == 0, "\(delete.all)")
        #expect(delete.stderr.contains("exit code 7"), "\(delete.all)")
        let remove = try ctrd.ctr(["container", "rm", id])
        #expect(remove.status == 0, "\(remove.all)")
        try ctrd.expectGone(id)
    }

    @Test("ctr task pause/resume: status PAUSED then RUNNING, the freezer follows; kill --all")
    func pauseResume() throws { try Self.pauseResume(ctrd) }

    static func pauseResume(_ ctrd: ContainerdDaemon) throws {
        let id = ctrd.newID("pause")
        let run = try ctrd.run(["-d", image, id, "sleep", "1000"])
        #expect(run.status == 0, "\(run.all)")
        let freezer = "/sys/fs/cgroup/freezer/\(ctrd.namespace)/\(id)/freezer.state"
        let hasV1Freezer = FileManager.default.fileExists(atPath: freezer)

        let pause = try ctrd.ctr(["task", "pause", id])
        #expect(pause.status == 0, "\(pause.all)")
        #expect(try ctrd.task(id)?.status == "PAUSED")
        if hasV1Freezer { #expect(ContainerdDaemon.read(freezer) == "FROZEN") }

        let resume = try ctrd.ctr(["task", "resume", id])
        #expect(resume.status == 0, "\(resume.all)")
        #expect(try ctrd.task(id)?.status == "RUNNING")
        if hasV1Freezer { #expect(ContainerdDaemon.read(freezer) == "THAWED") }

        let kill = try ctrd.ctr(["task", "kill", "--all", "--signal", "KILL", id])
        #expect(kill.status == 0, "\(kill.all)")
        #expect(try ctrd.waitForStatus(id, "STOPPED"))
        let delete = try ctrd.ctr(["task", "delete", id])
        #expect(delete.stderr.contains("exit code 137"), "\(delete.all)")
        #expect(try ctrd.ctr(["container", "rm", id]).status == 0)
        try ctrd.expectGone(id)
    }

    @Test("ctr task metrics shows memory, cpu and pids read from the container's cgroup")
    func metrics() throws {
        let ctrd = try ctrd
        let id = ctrd.newID("metrics")
        let limit = 32 << 20
        let run = try ctrd.run(["-d", "--memory-limit", String(limit), Self.image, id, "sleep", "1000"])
        #expect(run.status == 0, "\(run.all)")
        defer { ctrd.removeTask(id) }

        let table = try ctrd.ctr(["task", "metrics", id])
        #expect(table.status == 0, "\(table.all)")
        let json = try ctrd.ctr(["task", "metrics", "--format", "json", id])
        #expect(json.status == 0, "\(json.all)")
        let metrics = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any] ?? [:]
        let pids = metrics["pids"] as? [String: Any]
        let memory = metrics["memory"] as? [String: Any] ?? [:]
        let cpu = metrics["cpu"] as? [String: Any] ?? [:]
        #expect((pids?["current"] as? Int) == 1, "\(json.stdout)")
        if let usage = memory["usage"] as? [String: Any] {
            // cgroup v1 metrics (io.containerd.cgroups.v1.Metrics)
            #expect((usage["limit"] as? Int) == limit, "\(json.stdout)")
            #expect(((usage["usage"] as? Int) ?? 0) > 0, "\(json.stdout)")
            #expect((cpu["usage"] as? [String: Any])?["total"] != nil, "\(json.stdout)")
            for row in ["memory.usage_in_bytes", "memory.limit_in_bytes", "cpuacct.usage", "pids.current"] {
                #expect(table.stdout.contains(row), "\(row) in \(table.stdout)")
            }
        } else {
            // cgroup v2 metrics (io.containerd.cgroups.v2.Metrics)
            #expect((memory["usage_limit"] as? Int) == limit, "\(json.stdout)")
            #expect(cpu["usage_usec"] != nil, "\(json.stdout)")
        }
    }

    @Test("ctr run -t: the process gets a pty through apus's console socket")
    func terminal() throws { try Self.terminal(ctrd) }

    static func terminal(_ ctrd: ContainerdDaemon) throws {
        let id = ctrd.newID("tty")
        let run = try ctrd.inTerminal(
            [ContainerdDaemon.ctrPath] + ctrd.ctrGlobals + ["run"] + ctrd.runtimeFlags() + [
                "--rm", "-t", image, id, "sh", "-c", "tty; exit 5",
            ])
        #expect(run.status == 5, "\(run.all)")
        #expect(run.stdout.contains("/dev/pts/0"), "\(run.all)")
        try ctrd.expectGone(id)
    }

    @Test("ctr task exec -t: the exec'd process gets a pty")
    func terminalExec() throws { try Self.terminalExec(ctrd) }

    static func terminalExec(_ ctrd: ContainerdDaemon) throws {
        let id = ctrd.newID("ttyexec")
        let run = try ctrd.run(["-d", image, id, "sleep", "1000"])
        #expect(run.status == 0, "\(run.all)")
        defer { ctrd.removeTask(id) }
        // ctr resizes the pty after the exec started and may log that the process is
        // already gone: runc 1.1.5 gets the same message.
        let exec = try ctrd.inTerminal(
            [ContainerdDaemon.ctrPath] + ctrd.ctrGlobals + [
                "task", "exec", "--fifo-dir", ctrd.fifoDir, "-t", "--exec-id", "t1", id, "sh", "-c", "tty; exit 6",
            ])
        #expect(exec.status == 6, "\(exec.all)")
        #expect(exec.stdout.contains("/dev/pts/"), "\(exec.all)")
    }

    struct Failure: Sendable, CustomStringConvertible {
        var name: String
        var flags: [String]
        var command: [String]
        var expect: [String]
        var description: String { name }
    }

    static let failures: [Failure] = [
        Failure(
            name: "missing executable", flags: [], command: ["/nonexistent"],
            expect: ["exec: \"/nonexistent\": No such file or directory", ".process.args[0]"]),
        Failure(
            name: "bind mount of a missing source",
            flags: ["--mount", "type=bind,src=/nonexistent-src,dst=/mnt,options=rbind"], command: ["true"],
            expect: ["bind mount /nonexistent-src to /mnt: No such file or directory", ".mounts["]),
    ]

    @Test("a failing start: ctr's error is apus's reason, read from its JSON --log", arguments: failures)
    func failingStart(_ failure: Failure) throws { try Self.failingStart(ctrd, failure) }

    static func failingStart(_ ctrd: ContainerdDaemon, _ failure: Failure) throws {
        let id = ctrd.newID("fail")
        let run = try ctrd.run(
            ["--rm"] + failure.flags + [image, id] + failure.command, runtime: ctrd.keepLogWrapper)
        #expect(run.status == 1, "\(run.all)")
        #expect(run.stderr.contains("OCI runtime create failed"), "\(run.all)")
        for text in failure.expect { #expect(run.stderr.contains(text), "\(text) in \(run.stderr)") }

        // The shim's log.json is gone with the bundle; the wrapper kept a copy.
        let log = ContainerdDaemon.read(ctrd.dir + "/kept-logs/\(id).json")
        let lines = log.split(separator: "\n")
        #expect(!lines.isEmpty, "no --log written")
        var last: [String: Any] = [:]
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            #expect(Set(object.keys).isSuperset(of: ["level", "msg", "time"]), "\(line)")
            #expect(
                (object["time"] as? String)?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/) != nil, "\(line)"
            )
            last = object
        }
        #expect(last["level"] as? String == "error", "the last line is the error: \(lines.last ?? "")")
        let message = last["msg"] as? String ?? ""
        for text in failure.expect { #expect(message.contains(text), "\(text) in last error \(message)") }
        try ctrd.expectGone(id)
    }

    @Test("an OOM kill in apus's memory cgroup reaches containerd as a /tasks/oom event and exit 137")
    func outOfMemory() throws {
        let ctrd = try ctrd
        // ctr sets no swap limit: with swap the process would page out instead of dying.
        let swap = ContainerdDaemon.read("/proc/meminfo").split(separator: "\n").first { $0.hasPrefix("SwapTotal:") }
        if let swap, swap.split(separator: " ").dropFirst().first != "0" {
            try Test.cancel("OOM through containerd: the host has swap (\(swap))")
        }
        let events = try ctrd.startEvents()
        defer { events.stop() }
        let id = ctrd.newID("oom")
        let run = try ctrd.run(
            ["--rm", "--memory-limit", String(16 << 20), Self.image, id, "sh", "-c", "x=a; while :; do x=$x$x; done"])
        #expect(run.status == 128 + SIGKILL, "\(run.all)")
        #expect(events.waitFor("/tasks/oom"), "events: \(events.output)")
        try ctrd.expectGone(id)
    }

    @Test("SystemdCgroup = true (--systemd-cgroup, slice:prefix:name) on a host without systemd is refused")
    func systemdCgroup() throws { try Self.systemdCgroup(ctrd) }

    static func systemdCgroup(_ ctrd: ContainerdDaemon) throws {
        if SystemdTests.systemdBooted { try Test.cancel("systemd is PID 1 here: the refusal is for hosts without it") }
        let id = ctrd.newID("systemd")
        // Without systemd, apus refuses as runc does ("systemd not running on this host"):
        // the task fails at create, naming the bus it tried and the cgroupfs driver.
        let slice = "apusctrd\(getpid()).slice"
        let run = try ctrd.run([
            "--rm", "--runc-systemd-cgroup", "--cgroup", "\(slice):apus:\(id)", image, id, "true",
        ])
        #expect(run.status != 0, "\(run.all)")
        #expect(run.all.contains("systemd is not reachable"), "\(run.all)")
        #expect(run.all.contains("drop --systemd-cgroup"), "\(run.all)")
        try ctrd.expectGone(id)
        let left = HostSnapshot.take(mentioning: slice).cgroups
        #expect(left.isEmpty, "cgroups left: \(left)")
    }

    @Test("the container's view is the same under runc and apus")
    func runcParity() throws {
        let ctrd = try ctrd
        let runc = try Env.requireRunc()
        let probe = """
            grep -E '^(Cap|NoNewPrivs|Seccomp|Uid|Gid|Groups)' /proc/self/status; stat -c '%A %u %g %t %T %n' /dev/*; \
            hostname; mount | grep -v '^overlay on / '; ulimit -a; env | sort; ls /proc/self/fd; cat /proc/self/oom_score_adj
            """
        let underRunc = try ctrd.run(["--rm", Self.image, ctrd.newID("parity-runc"), "sh", "-c", probe], runtime: runc)
        let underApus = try ctrd.run(["--rm", Self.image, ctrd.newID("parity-apus"), "sh", "-c", probe])
        #expect(underRunc.status == 0, "\(underRunc.all)")
        #expect(underApus.status == underRunc.status, "\(underApus.all)")
        let runcLines = underRunc.stdout.split(separator: "\n")
        let apusLines = underApus.stdout.split(separator: "\n")
        #expect(
            apusLines == runcLines,
            "runc: \(runcLines.filter { !apusLines.contains($0) }) apus: \(apusLines.filter { !runcLines.contains($0) })"
        )
    }

    @Test("the README's CRI RuntimeClass snippet is a valid containerd config (CRI itself is not run here)")
    func criConfig() throws {
        let ctrd = try ctrd
        let config = ctrd.dir + "/cri.toml"
        try """
        version = 2
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.apus]
          runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.apus.options]
          BinaryName = "/usr/local/bin/apus"
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let dump = try sh(ContainerdDaemon.containerd, ["--config", config, "config", "dump"])
        #expect(dump.status == 0, "\(dump.all)")
        #expect(dump.stdout.contains("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.apus.options]"))
        #expect(dump.stdout.contains("BinaryName = \"/usr/local/bin/apus\""), "\(dump.stdout)")
    }

    // MARK: every runtime invocation of the shim

    struct Invocation: Sendable, CustomStringConvertible {
        var shape: String
        var scenario: @Sendable (ContainerdDaemon) throws -> Void
        var description: String { shape }
        init(_ shape: String, _ scenario: @escaping @Sendable (ContainerdDaemon) throws -> Void) {
            self.shape = "--root R --log L --log-format json " + shape
            self.scenario = scenario
        }
    }

    /// Every call containerd 1.6.20's runc.v2 shim made while these scenarios ran,
    /// logged by the wrapper with paths, ids and signals replaced by placeholders.
    static let invocations: [Invocation] = [
        Invocation("create --bundle B --pid-file P ID", runRemove),
        Invocation("create --bundle B --pid-file P --console-socket S ID", terminal),
        Invocation("start ID", runRemove),
        Invocation("delete ID", runRemove),
        Invocation("delete --force ID", runRemove),
        Invocation("exec --process J --detach --pid-file P ID", detached),
        Invocation("exec --process J --console-socket S --detach --pid-file P ID", terminalExec),
        Invocation("ps --format json ID", detached),
        Invocation("kill ID SIG", detached),
        Invocation("kill --all ID SIG", pauseResume),
        Invocation("pause ID", pauseResume),
        Invocation("resume ID", pauseResume),
        // Without systemd the create is refused, so the shim never gets to start or delete.
        Invocation("--systemd-cgroup create --bundle B --pid-file P ID", systemdCgroup),
    ]

    @Test("each runtime invocation of the shim was exercised", arguments: invocations)
    func invocationExercised(_ invocation: Invocation) throws {
        let ctrd = try ctrd
        // In a full run the scenarios above (run first: the suite is serialized, in
        // source order) have made the call already; run alone, the row runs its own.
        if !ctrd.shapes().contains(invocation.shape) { try invocation.scenario(ctrd) }
        #expect(ctrd.shapes().contains(invocation.shape), "seen: \(ctrd.shapes().sorted())")
    }

    @Test("the shim made no runtime invocation missing from the table")
    func noUnlistedInvocation() throws {
        let listed = Set(Self.invocations.map(\.shape))
        let unlisted = try ctrd.shapes().subtracting(listed)
        #expect(unlisted.isEmpty, "add to the table: \(unlisted.sorted())")
    }
}

/// A containerd of the suite's own: config, sockets, content, snapshots, shim state,
/// fifos and runtime state under one temp dir; a namespace named after that dir, so
/// the containers' cgroups are /sys/fs/cgroup/<controller>/<namespace>/<id>.
final class ContainerdDaemon: @unchecked Sendable {
    static let containerd = "/usr/bin/containerd"
    static let ctrPath = "/usr/bin/ctr"

    static let skipReason: String? = {
        if let reason = Env.skipReason { return reason }
        for tool in [containerd, ctrPath, "/usr/bin/containerd-shim-runc-v2"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "containerd is not installed (apt-get install containerd): no \(tool)"
        }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/script") {
            return "script(1) is missing (apt-get install bsdutils)"
        }
        return nil
    }()

    static var enabled: Bool { skipReason == nil }

    @TaskLocal static var current: ContainerdDaemon?

    /// Starts containerd around the whole suite and checks, after it, that nothing is left.
    struct Scope: SuiteTrait, TestScoping {
        func provideScope(
            for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
        ) async throws {
            let daemon = try ContainerdDaemon()
            do {
                try await ContainerdDaemon.$current.withValue(daemon) { try await function() }
            } catch {
                for problem in daemon.shutdown() { Issue.record(Comment(rawValue: problem)) }
                throw error
            }
            for problem in daemon.shutdown() { Issue.record(Comment(rawValue: problem)) }
        }
    }

    let dir: String
    let namespace: String
    var socket: String { dir + "/containerd.sock" }
    var fifoDir: String { dir + "/fifo" }
    var wrapper: String { dir + "/apus-logged" }
    var keepLogWrapper: String { dir + "/apus-keep-log" }
    var invocationLog: String { dir + "/invocations.log" }
    var ctrGlobals: [String] { ["--address", socket, "--namespace", namespace] }
    private let daemon: Process
    private let runDirExisted: Bool
    private var counter = 0
    private let lock = NSLock()

    init() throws {
        namespace = "apus-ctrd-\(getpid())"
        dir = NSTemporaryDirectory() + namespace
        runDirExisted = FileManager.default.fileExists(atPath: "/run/containerd")
        try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/kept-logs", withIntermediateDirectories: true)
        // Only what ctr and the runc.v2 shim need; CRI would start CNI and a pause image,
        // opt would write /opt/containerd. runtime.v1.linux stays: 1.6's tasks service needs it.
        try """
        version = 2
        root = "\(dir)/root"
        state = "\(dir)/state"
        temp = "\(dir)/tmp"
        disabled_plugins = [
          "io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.internal.v1.tracing",
          "io.containerd.tracing.processor.v1.otlp", "io.containerd.snapshotter.v1.aufs",
          "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
          "io.containerd.snapshotter.v1.zfs",
        ]
        [grpc]
          address = "\(dir)/containerd.sock"
        [ttrpc]
          address = "\(dir)/containerd.sock.ttrpc"
        [debug]
          address = "\(dir)/debug.sock"
          level = "debug"
        """.write(toFile: dir + "/config.toml", atomically: true, encoding: .utf8)
        let apus = Env.apus ?? "/nonexistent"
        try Self.writeScript(
            dir + "/apus-logged",
            """
            #!/bin/sh
            printf '%s\\n' "$*" >>\(dir)/invocations.log
            exec \(apus) "$@"
            """)
        // For failures only: runs apus as a child to copy its --log afterwards, which
        // the shim deletes with the bundle.
        try Self.writeScript(
            dir + "/apus-keep-log",
            """
            #!/bin/sh
            printf '%s\\n' "$*" >>\(dir)/invocations.log
            \(apus) "$@"
            status=$?
            log=; previous=; id=
            for arg in "$@"; do [ "$previous" = --log ] && log=$arg; previous=$arg; id=$arg; done
            if [ $status -ne 0 ] && [ -f "$log" ]; then cat "$log" >>\(dir)/kept-logs/"$id".json; fi
            exit $status
            """)

        daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: Self.containerd)
        daemon.arguments = ["--config", dir + "/config.toml"]
        // A SIGUSR1 makes containerd dump its stacks to TMPDIR: keep any such file in dir.
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = dir + "/tmp"
        daemon.environment = environment
        FileManager.default.createFile(atPath: dir + "/containerd.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/containerd.log"))
        daemon.standardOutput = log
        daemon.standardError = log
        daemon.standardInput = FileHandle.nullDevice
        try daemon.run()
        try? log.close()
        do {
            try startUp()
        } catch {
            _ = shutdown()
            throw error
        }
    }

    /// Waits for containerd to answer and imports the image.
    private func startUp() throws {
        let deadline = Date().addingTimeInterval(20)
        while try ctr(["version"], timeout: 5).status != 0 {
            guard daemon.isRunning, Date() < deadline else {
                throw TestFailure("containerd did not start: \(Self.read(dir + "/containerd.log").suffix(2000))")
            }
            usleep(20_000)
        }
        let made = try sh(
            "/bin/bash",
            [
                Env.repo.appendingPathComponent("spec-fixtures/make-oci-image.sh").path, dir + "/busybox-oci.tar",
                ContainerdTests.image,
            ])
        guard made.status == 0 else { throw TestFailure("make-oci-image.sh: \(made.all)") }
        let imported = try ctr(["images", "import", dir + "/busybox-oci.tar"])
        guard imported.status == 0 else { throw TestFailure("ctr images import: \(imported.all)") }
    }

    static func writeScript(_ path: String, _ text: String) throws {
        try (text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
    }

    static func read(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func newID(_ name: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        counter += 1
        return "\(name)-\(counter)"
    }

    @discardableResult
    func ctr(_ args: [String], timeout: TimeInterval = 30) throws -> Output {
        try sh(Self.ctrPath, ctrGlobals + args, timeout: timeout)
    }

    /// What `ctr run` needs to use apus (or `runtime`) with state, fifos and all under the temp dir.
    func runtimeFlags(_ runtime: String? = nil) -> [String] {
        ["--runc-binary", runtime ?? wrapper, "--runc-root", dir + "/runc", "--fifo-dir", fifoDir]
    }

    func run(_ args: [String], runtime: String? = nil) throws -> Output {
        try ctr(["run"] + runtimeFlags(runtime) + args)
    }

    /// Runs a command with a pty as its terminal, as a user at a shell would; `script -e`
    /// exits with the command's code.
    func inTerminal(_ command: [String]) throws -> Output {
        let quoted = command.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return try sh("/usr/bin/script", ["-qec", quoted.joined(separator: " "), "/dev/null"])
    }

    /// `ctr task ls` row of `id`: its init pid and status.
    func task(_ id: String) throws -> (pid: Int32, status: String)? {
        for line in try ctr(["task", "ls"]).stdout.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count == 3, fields[0] == id, let pid = Int32(fields[1]) { return (pid, String(fields[2])) }
        }
        return nil
    }

    func waitForStatus(_ id: String, _ status: String) throws -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try task(id)?.status == status { return true }
            usleep(20_000)
        }
        return false
    }

    /// Kills, deletes and removes a container a test started detached.
    func removeTask(_ id: String) {
        _ = try? ctr(["task", "kill", "--all", "--signal", "KILL", id])
        _ = try? waitForStatus(id, "STOPPED")
        _ = try? ctr(["task", "delete", id])
        _ = try? ctr(["container", "rm", id])
        try? expectGone(id)
    }

    /// After the container is removed: no task, container, runtime state, cgroup or mount is left.
    func expectGone(_ id: String) throws {
        let task = try task(id)
        #expect(task == nil, "task \(id) is left")
        let containers = try ctr(["container", "ls", "-q"]).stdout.split(separator: "\n")
        #expect(!containers.contains { $0 == id }, "container \(id) is left")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/runc/\(namespace)/\(id)"), "runtime state of \(id)")
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []).map {
            "/sys/fs/cgroup/\($0)/\(namespace)/\(id)"
        }.filter { FileManager.default.fileExists(atPath: $0) }
        #expect(left.isEmpty, "cgroups left: \(left)")
        let bundle = "\(dir)/state/io.containerd.runtime.v2.task/\(namespace)/\(id)/"
        let mounts = Self.read("/proc/self/mountinfo").split(separator: "\n").filter { $0.contains(bundle) }
        #expect(mounts.isEmpty, "mounts left: \(mounts)")
    }

    /// The distinct runtime invocations so far, with paths, ids and signals as placeholders.
    func shapes() -> Set<String> {
        Set(Self.read(invocationLog).split(separator: "\n").map { Self.shape(of: String($0)) })
    }

    static func shape(of line: String) -> String {
        let placeholders = [
            "--root": "R", "--log": "L", "--bundle": "B", "--pid-file": "P", "--process": "J", "--console-socket": "S",
        ]
        var tokens = line.split(separator: " ").map(String.init)[...]
        var shape: [String] = []
        var command: String?
        var positional = 0
        while let token = tokens.popFirst() {
            if let placeholder = placeholders[token] {
                _ = tokens.popFirst()
                shape += [token, placeholder]
            } else if token == "--log-format" || token == "--format" {
                shape += [token, tokens.popFirst() ?? ""]
            } else if token.hasPrefix("-") {
                shape.append(token)
            } else if command == nil {
                command = token
                shape.append(token)
            } else {
                shape.append(positional == 0 ? "ID" : "SIG")
                positional += 1
            }
        }
        return shape.joined(separator: " ")
    }

    /// `ctr events` in the background, subscribed before this returns.
    func startEvents() throws -> Events {
        let events = try Events(ctr: Self.ctrPath, args: ctrGlobals + ["events"], output: dir + "/events.log")
        // An event of our own proves the subscription is live.
        let deadline = Date().addingTimeInterval(10)
        repeat {
            try ctr(["images", "label", ContainerdTests.image, "apus.test/ping=\(Date().timeIntervalSince1970)"])
            if events.waitFor("/images/update", timeout: 0.2) { break }
        } while Date() < deadline
        return events
    }

    final class Events: @unchecked Sendable {
        let process = Process()
        let path: String
        init(ctr: String, args: [String], output: String) throws {
            path = output
            FileManager.default.createFile(atPath: output, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            process.executableURL = URL(fileURLWithPath: ctr)
            process.arguments = args
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            try? handle.close()
        }
        var output: String { ContainerdDaemon.read(path) }
        func waitFor(_ text: String, timeout: TimeInterval = 5) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while !output.contains(text) {
                if Date() >= deadline { return false }
                usleep(20_000)
            }
            return true
        }
        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
    }

    /// Stops containerd and removes the temp dir; returns what was left behind (and
    /// then removed): tasks, shims, mounts, cgroups.
    func shutdown() -> [String] {
        var problems: [String] = []
        for line in ((try? ctr(["container", "ls", "-q"]).stdout) ?? "").split(separator: "\n") {
            problems.append("container \(line) left by a test")
            removeTask(String(line))
        }
        if daemon.isRunning {
            daemon.terminate()
            let deadline = Date().addingTimeInterval(10)
            while daemon.isRunning && Date() < deadline { usleep(10_000) }
            if daemon.isRunning {
                problems.append("containerd ignored SIGTERM for 10 s")
                kill(daemon.processIdentifier, SIGKILL)
            }
        }
        daemon.waitUntilExit()

        // Shims outlive containerd by design; with every task deleted they must be gone.
        var shims = processes(mentioning: dir)
        let deadline = Date().addingTimeInterval(5)
        while !shims.isEmpty && Date() < deadline {
            usleep(20_000)
            shims = processes(mentioning: dir)
        }
        for pid in shims {
            problems.append("process \(pid) left: \(Self.read("/proc/\(pid)/cmdline"))")
            kill(pid, SIGKILL)
        }

        let mounts = Self.read("/proc/self/mountinfo").split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4].hasPrefix(dir) ? String(fields[4]) : nil
        }
        for mount in mounts.sorted(by: { $0.count > $1.count }) {
            problems.append("mount left: \(mount)")
            umount2(mount, Int32(MNT_DETACH))
        }

        // A container's cgroup is /<namespace>/<id> in every hierarchy. The parent is
        // the namespace's: runc leaves it, apus removes it when it made it; either way it is ours.
        for hierarchy in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let parent = "/sys/fs/cgroup/\(hierarchy)/\(namespace)"
            guard FileManager.default.fileExists(atPath: parent) else { continue }
            for child in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            where FileManager.default.fileExists(atPath: "\(parent)/\(child)/cgroup.procs") {
                problems.append("cgroup left: \(parent)/\(child)")
                rmdir("\(parent)/\(child)")
            }
            rmdir(parent)
        }

        if !runDirExisted {
            // The shim puts its socket under /run/containerd/s whatever the config says;
            // runc (the parity test) can make /run/containerd/runc/<namespace> when a shim
            // cleans up after a lost task (apus makes no --root for `delete --force`).
            for sub in ["s", "runc/\(namespace)", "runc", "fifo", ""] { rmdir("/run/containerd/" + sub) }
        }
        if Self.read("/proc/self/mountinfo").contains(dir) {
            problems.append("mounts under \(dir) remain: not removing it")
        } else {
            try? FileManager.default.removeItem(atPath: dir)
        }
        return problems
    }
}
