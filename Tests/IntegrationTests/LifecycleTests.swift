import Foundation
import OCI
import Testing

@Suite("lifecycle", .integration)
struct LifecycleTests {
    @Test("run prints the process output and returns its exit code")
    func runExitCode() throws {
        let bundle = try TestBundle()
        try bundle.command("sh", "-c", "echo out; echo err >&2; exit 7")
        let id = uniqueID()
        let result = try apus("run", "--bundle", bundle.path, id)
        #expect(result.status == 7)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
        // Foreground run deletes the container afterwards.
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
    }

    @Test("a container killed by a signal exits 128+signal")
    func killedBySignal() throws {
        let bundle = try TestBundle()
        // Signals sent from inside the pid namespace cannot kill its init, so
        // the kill comes from outside, through `apus kill`.
        try bundle.command("sleep", "30")
        let id = uniqueID()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Env.apus ?? "")
        process.arguments = ["--root", Env.stateRoot, "run", "--bundle", bundle.path, id]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        try waitFor { (try? decodeState(try apus("state", id).stdout)["status"] as? String) == "running" }
        #expect(try apus("kill", id, "KILL").status == 0)
        process.waitUntilExit()
        #expect(process.terminationStatus == 137)
    }

    @Test("create, state, start, kill, delete walk the OCI lifecycle")
    func createStartKillDelete() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        let id = uniqueID()
        let pidFile = bundle.path + "/init.pid"
        let created = try apus("create", "--bundle", bundle.path, "--pid-file", pidFile, id)
        #expect(created.status == 0, "\(created.all)")

        let state = try decodeState(try apus("state", id).stdout)
        #expect(state["status"] as? String == "created")
        #expect(state["id"] as? String == id)
        #expect(state["bundle"] as? String == bundle.path)
        let pid = state["pid"] as? Int ?? 0
        #expect(pid > 0)
        #expect((try? String(contentsOfFile: pidFile, encoding: .utf8)) == String(pid))
        // The init waits in its namespaces: it is not yet running `sleep`.
        let comm = try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
        #expect(comm != "sleep\n")

        #expect(try apus("start", id).status == 0)
        #expect(try decodeState(try apus("state", id).stdout)["status"] as? String == "running")
        #expect(try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) == "sleep\n")
        // A second start is refused.
        let again = try apus("start", id)
        #expect(again.status == 1)
        #expect(again.stderr.contains("running"))

        // Not stopped: delete without --force is refused.
        let refused = try apus("delete", id)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("not stopped"))

        #expect(try apus("kill", id, "KILL").status == 0)
        try waitFor { (try? decodeState(try apus("state", id).stdout)["status"] as? String) == "stopped" }
        let stopped = try decodeState(try apus("state", id).stdout)
        #expect(stopped["pid"] as? Int == 0)
        #expect(try apus("delete", id).status == 0)
        let gone = try apus("state", id)
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("does not exist"))
    }

    @Test("deleting a created container kills its waiting init")
    func deleteCreated() throws {
        let bundle = try TestBundle()
        try bundle.command("true")
        let id = uniqueID()
        #expect(try apus("create", "--bundle", bundle.path, id).status == 0)
        let pid = try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? 0
        #expect(try apus("delete", id).status == 0)
        #expect(isGone(Int32(pid)))
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
    }

    @Test("run --detach returns once started; delete --force stops it")
    func detachAndForceDelete() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "60")
        let id = uniqueID()
        let run = try apus("run", "--detach", "--bundle", bundle.path, id)
        #expect(run.status == 0, "\(run.all)")
        let state = try decodeState(try apus("state", id).stdout)
        #expect(state["status"] as? String == "running")
        let pid = Int32(state["pid"] as? Int ?? 0)
        #expect(try apus("delete", "--force", id).status == 0)
        #expect(isGone(pid))
        #expect(try apus("state", id).status == 1)
    }

    @Test("kill accepts signal names with and without SIG, and numbers")
    func killSignalForms() throws {
        let bundle = try TestBundle()
        // The trap proves which signal arrived.
        try bundle.command(
            "sh", "-c", "trap 'echo got-usr1 > /tmp/sig' USR1; trap 'exit 0' TERM; while :; do sleep 0.05; done")
        bundle.spec.root?.readonly = false
        try bundle.save()
        let id = uniqueID()
        #expect(try apus("run", "-d", "--bundle", bundle.path, id).status == 0)
        defer { _ = try? apus("delete", "--force", id) }
        #expect(try apus("kill", id, "USR1").status == 0)
        try waitFor { FileManager.default.fileExists(atPath: bundle.rootfs + "/tmp/sig") }
        #expect(try apus("kill", id, "SIGUSR1").status == 0)
        #expect(try apus("kill", id, "15").status == 0)
        try waitFor { (try? decodeState(try apus("state", id).stdout)["status"] as? String) == "stopped" }
        let bad = try apus("kill", id, "NOTASIGNAL")
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("unknown signal"))
    }

    @Test("list shows runc's columns, json and quiet forms")
    func list() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        let root = NSTemporaryDirectory() + "apus-list-\(UInt32.random(in: 0..<UInt32.max))"
        let id = uniqueID("list")
        #expect(try apus("create", "--bundle", bundle.path, id, root: root).status == 0)
        defer {
            _ = try? apus("delete", "--force", id, root: root)
            try? FileManager.default.removeItem(atPath: root)
        }
        let table = try apus("list", root: root).stdout.split(separator: "\n")
        #expect(
            table.first?.split(separator: " ", omittingEmptySubsequences: true) == [
                "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER",
            ])
        #expect(table.count == 2)
        let row = table.last?.split(separator: " ", omittingEmptySubsequences: true).map(String.init) ?? []
        #expect(row.first == id)
        #expect(row.count > 2 && row[2] == "created")
        #expect(row.last == "root")
        #expect(try apus("list", "-q", root: root).stdout == id + "\n")
        let json =
            try JSONSerialization.jsonObject(with: Data(try apus("list", "--format", "json", root: root).stdout.utf8))
            as? [[String: Any]]
        #expect(json?.first?["id"] as? String == id)
        #expect(json?.first?["status"] as? String == "created")
        // runc names the owner in `list` (from the state directory) and leaves it empty in `state`.
        #expect(json?.first?["owner"] as? String == "root")
        let state = try JSONSerialization.jsonObject(with: Data(try apus("state", id, root: root).stdout.utf8))
        #expect((state as? [String: Any])?["owner"] as? String == "")
        if let runc = Env.runc {
            let runcRoot = root + "-runc"
            defer {
                _ = try? sh(runc, ["--root", runcRoot, "delete", "--force", id])
                try? FileManager.default.removeItem(atPath: runcRoot)
            }
            #expect(try sh(runc, ["--root", runcRoot, "create", "--bundle", bundle.path, id]).status == 0)
            let runcState = try sh(runc, ["--root", runcRoot, "state", id]).stdout
            let runcList = try sh(runc, ["--root", runcRoot, "list", "--format", "json"]).stdout
            let runcOwner = (try JSONSerialization.jsonObject(with: Data(runcState.utf8)) as? [String: Any])?["owner"]
            let runcListed = (try JSONSerialization.jsonObject(with: Data(runcList.utf8)) as? [[String: Any]])?.first
            #expect(runcOwner as? String == "")
            #expect(runcListed?["owner"] as? String == "root")
        }
    }

    @Test("unknown ids, bad ids and duplicate ids are clear errors with exit 1")
    func idErrors() throws {
        for command in [["start"], ["state"], ["kill"], ["delete"]] {
            let result = try apusArgs(command + ["no-such-container-\(getpid())"])
            #expect(result.status == 1, "\(command)")
            #expect(result.stderr.contains("does not exist"), "\(command): \(result.stderr)")
        }
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        for bad in ["../escape", "a/b", "..", ""] {
            let result = try apus("create", "--bundle", bundle.path, bad)
            #expect(result.status == 1, "id \(bad)")
            #expect(result.stderr.contains("id"), "id \(bad): \(result.stderr)")
        }
        let id = uniqueID()
        #expect(try apus("create", "--bundle", bundle.path, id).status == 0)
        defer { _ = try? apus("delete", "--force", id) }
        let duplicate = try apus("create", "--bundle", bundle.path, id)
        #expect(duplicate.status == 1)
        #expect(duplicate.stderr.contains("already exists"))
    }

    @Test("--log with --log-format json writes one JSON object per line, with the error")
    func jsonLog() throws {
        let bundle = try TestBundle()
        try bundle.command("nosuchbinary")
        let log = bundle.path + "/apus.log"
        let result = try sh(
            Env.apus ?? "",
            ["--root", Env.stateRoot, "--log", log, "--log-format", "json", "run", "--bundle", bundle.path, uniqueID()])
        #expect(result.status == 1)
        #expect(result.stderr.contains("executable file not found"))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] != nil && object?["msg"] != nil && object?["time"] != nil, "\(line)")
        }
        let last = try JSONSerialization.jsonObject(with: Data((lines.last ?? "").utf8)) as? [String: Any]
        #expect(last?["level"] as? String == "error")
        #expect((last?["msg"] as? String)?.contains("nosuchbinary") == true)
    }

    @Test("the direct parser of hot commands and ArgumentParser agree on odd command lines")
    func commandLineEdges() throws {
        let help = try apus("run", "--help")
        #expect(help.status == 0)
        #expect(help.stdout.contains("--pid-file"), "\(help.all)")
        for args in [
            ["kill"], ["start"], ["state", "a", "b"], ["run", "-d", "--keep", "x"], ["create", "--bundle"],
            ["create", "--preserve-fds", "-1", "x"], ["delete", "--bogus", "x"], ["exec"], ["exec", "--cwd"],
            ["exec", "x"], ["exec", "--preserve-fds=-1", "x", "true"], ["exec", "-e", "A=1", "--", "x"],
            // ArgumentParser takes "x" as the bundle and misses the id; a dash-led word is no value.
            ["run", "--bundle=", "x"], ["create", "--pid-file", "-x", "y"],
        ] {
            let result = try apusArgs(args)
            #expect(result.status == 1, "\(args): \(result.all)")
            #expect(!result.stderr.isEmpty, "\(args)")
        }
        let bundle = try TestBundle()
        try bundle.command("sh", "-c", "exit 4")
        // Flags after the id and the --flag=value form, as runc's users write them.
        let run = try apus("run", uniqueID(), "--bundle=\(bundle.path)")
        #expect(run.status == 4, "\(run.all)")
    }

    @Test("a waiting init and a waiting foreground run give back apus's executable pages, and go on")
    func waitersReleaseImagePages() throws {
        let bundle = try TestBundle()
        try bundle.command("sh", "-c", "echo ready; exec sleep 30")
        let id = uniqueID()
        #expect(try apus("create", "--bundle", bundle.path, id).status == 0)
        let pid = Int32(try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? 0)
        // Before the release the created init held ~6 MiB of the binary, the waiting run
        // ~2.5 MiB; after it, a few fault-around windows of text (~128 KiB) plus the written
        // (anonymous) pages of .data, which must stay.
        // `create` returns once init has been told it is committed; init gives its pages back
        // right after, on its own time: wait for that (a loaded machine may take a while).
        var created = try imageResidency(pid: pid)
        try? waitFor {
            created = try imageResidency(pid: pid)
            return created.file < 1024
        }
        #expect(created.file < 1024, "init keeps \(created.file) KiB of apus's clean pages")
        #expect(created.anonymous > 0)
        #expect(try apus("start", id).status == 0)
        try waitFor { (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "sleep\n" }
        #expect(try apus("delete", "--force", id).status == 0)

        let runID = uniqueID()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Env.apus ?? "")
        process.arguments = ["--root", Env.stateRoot, "run", "--bundle", bundle.path, runID]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        #expect(readOutput(out.fileHandleForReading, until: "ready").contains("ready"))
        // The release comes once the container has outlived apus's first 50 ms poll.
        try waitFor { try imageResidency(pid: process.processIdentifier).file < 1024 }
        #expect(try apus("kill", runID, "KILL").status == 0)
        process.waitUntilExit()
        #expect(process.terminationStatus == 137)
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + runID))
    }

    @Test("apus's relocated GOT is read-only once it runs (RELRO kept when the unwind tables go)")
    func imageKeepsRelro() throws {
        // The release build drops .eh_frame after linking (scripts/drop-unwind.py), and
        // objcopy alone loses PT_GNU_RELRO with it: glibc would then leave the GOT writable.
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        let id = uniqueID()
        #expect(try apus("create", "--bundle", bundle.path, id).status == 0)
        defer { _ = try? apus("delete", "--force", id) }
        let pid = Int32(try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? 0)
        var binary = stat()
        #expect(stat(Env.apus ?? "", &binary) == 0)
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        var image: [String] = []
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 5, UInt64(fields[4]) == UInt64(binary.st_ino) { image.append(String(fields[1])) }
        }
        #expect(image.contains("r-xp"), "\(image)")
        #expect(image.contains("r--p"), "no read-only (RELRO) part in apus's image: \(image)")
        #expect(!image.contains { $0.hasPrefix("rwx") }, "\(image)")
    }

    @Test("init and an exec'd process are in the container's cgroup in every hierarchy")
    func cgroupMembership() throws {
        // Init is born in its v2 cgroup (clone3) and moves itself into the v1 ones (`tasks`);
        // an exec'd process does the same: both must end up everywhere a runtime's write
        // of their pid would have put them.
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        let id = uniqueID()
        #expect(try apus("run", "-d", "--bundle", bundle.path, id).status == 0)
        defer { _ = try? apus("delete", "--force", id) }
        let initPid = try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? 0
        let pidFile = bundle.path + "/exec.pid"
        let exec = try apus("exec", "-d", "--pid-file", pidFile, id, "sleep", "30")
        #expect(exec.status == 0, "\(exec.all)")
        let execPid = Int((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "") ?? 0
        let hierarchies = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8).split(separator: "\n")
        for pid in [initPid, execPid] {
            let lines = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8).split(separator: "\n")
            #expect(lines.count == hierarchies.count, "\(pid): \(lines)")
            for line in lines {
                #expect(line.hasSuffix(id), "process \(pid) is outside the container's cgroup: \(line)")
            }
        }
    }

    @Test("a started container's process sees what a run's sees: seccomp, no_new_privs, signals, args, env, cwd")
    func createStartMatchesRun() throws {
        // After create, init waits in C with its memory given back (ProcessSetup.waitForStartAndExec):
        // the seccomp load, signal reset and execve happen there, so compare with `run`.
        let bundle = try TestBundle {
            $0.root?.readonly = false
            $0.process?.noNewPrivileges = true
            $0.process?.env = ["PATH=/bin:/usr/bin", "GREETING=hello there"]
            $0.process?.cwd = "/tmp"
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                syscalls: [.init(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO")])
        }
        let script = """
            { grep -E '^(Seccomp|NoNewPrivs|SigIgn|SigBlk|CapEff):' /proc/self/status; echo "$GREETING"; pwd; \
            echo "$0 $1"; mkdir /tmp/x 2>&1; } > /out.$2; exit 0
            """
        try bundle.command("sh", "-c", script, "arg0", "arg1", "run")
        // Started with signals ignored (nohup, a shell's background job): none may reach the process.
        let run = try sh(
            "/bin/sh",
            [
                "-c", "trap '' USR1 HUP; exec \"$@\"", "sh", Env.apus ?? "", "--root", Env.stateRoot, "run", "--bundle",
                bundle.path, uniqueID(),
            ])
        #expect(run.status == 0, "\(run.all)")
        try bundle.command("sh", "-c", script, "arg0", "arg1", "started")
        let id = uniqueID()
        let created = try sh(
            "/bin/sh",
            [
                "-c", "trap '' USR1 HUP; exec \"$@\"", "sh", Env.apus ?? "", "--root", Env.stateRoot, "create",
                "--bundle", bundle.path, id,
            ])
        #expect(created.status == 0, "\(created.all)")
        defer { _ = try? apus("delete", "--force", id) }
        #expect(try apus("start", id).status == 0)
        try waitFor {
            FileManager.default.fileExists(atPath: bundle.rootfs + "/out.started")
                && (try? decodeState(try apus("state", id).stdout)["status"] as? String) == "stopped"
        }
        #expect(try apus("delete", id).status == 0)
        let expected = try String(contentsOfFile: bundle.rootfs + "/out.run", encoding: .utf8)
        let started = try String(contentsOfFile: bundle.rootfs + "/out.started", encoding: .utf8)
        #expect(started == expected)
        for line in [
            "Seccomp:\t2", "NoNewPrivs:\t1", "SigIgn:\t0000000000000000", "SigBlk:\t0000000000000000", "hello there",
            "/tmp", "arg0 arg1", "Operation not permitted",
        ] {
            #expect(started.contains(line), "\(line) missing in \(started)")
        }
    }

    /// runc takes Go-style flags: one dash for long flags (containerd writes `-no-subreaper`),
    /// `-flag=value`, and parsing stops at the first argument that is not a flag.
    @Test("Go-style single-dash long flags, up to the first positional argument")
    func goStyleFlags() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        let id = uniqueID("go")
        defer { _ = try? apus("delete", "--force", id) }
        let apusPath = Env.apus ?? "/nonexistent"
        let started = try sh(apusPath, ["-root", Env.stateRoot, "run", "-bundle=" + bundle.path, "-detach", id])
        #expect(started.status == 0, "\(started.all)")
        // exec's command keeps its own dashes: `-la` is ls's, not a flag of apus.
        let listed = try sh(apusPath, ["-root", Env.stateRoot, "exec", "-cwd", "/proc", id, "ls", "-d", "-la", "self"])
        #expect(listed.status == 0 && listed.stdout.hasPrefix("lr"), "\(listed.all)")
        let deleted = try sh(apusPath, ["-root", Env.stateRoot, "delete", "-force", id])
        #expect(deleted.status == 0, "\(deleted.all)")
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
    }

    @Test("a foreground run forwards signals to the container")
    func signalForwarding() throws {
        let bundle = try TestBundle()
        try bundle.command("sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done")
        let id = uniqueID()
        #expect(try terminateAfterReady(["run", "--bundle", bundle.path, id]) == 42)
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
    }
}

func decodeState(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw TestFailure("state is not a JSON object: \(text)")
    }
    return object
}

/// Polls `condition` for up to `seconds` (not a timing assertion: a bound on waiting).
func waitFor(_ seconds: Double = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(10_000)
    }
    throw TestFailure("condition not met within \(seconds) s")
}

/// The process has exited (it may still be a zombie until its parent reaps it).
func isGone(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    return stat.contains(") Z ") || stat.contains(") X ")
}

/// KiB of the apus binary's mappings resident in process `pid`: clean file pages and
/// anonymous (written) ones, from /proc/PID/smaps, matched by the binary's inode.
func imageResidency(pid: Int32) throws -> (file: Int, anonymous: Int) {
    var binary = stat()
    guard stat(Env.apus ?? "", &binary) == 0 else { throw TestFailure("stat \(Env.apus ?? "")") }
    let smaps = try String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8)
    var inImage = false
    var rss = 0
    var anonymous = 0
    for line in smaps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if let first = fields.first, first.contains("-"), fields.count >= 5 {
            inImage = UInt64(fields[4]) == UInt64(binary.st_ino)
        } else if inImage, fields.count >= 2, let kib = Int(fields[1]) {
            if fields[0] == "Rss:" { rss += kib }
            if fields[0] == "Anonymous:" { anonymous += kib }
        }
    }
    return (rss - anonymous, anonymous)
}
