import Foundation
import OCI
import Testing

/// A detached container running `sleep` (or `args`), deleted when the value is released.
final class RunningContainer {
    let bundle: TestBundle
    let id: String
    let pid: Int32

    init(_ edit: (inout Spec) -> Void = { _ in }, args: [String] = ["sleep", "300"]) throws {
        bundle = try TestBundle(edit)
        bundle.spec.process?.args = args
        try bundle.save()
        id = uniqueID("exec")
        let started = try apus("run", "-d", "--bundle", bundle.path, id)
        guard started.status == 0 else { throw TestFailure("run -d failed: \(started.all)") }
        pid = Int32(try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? 0)
    }

    /// `apus exec OPTIONS ID COMMAND`: the leading flags of `args` (with their
    /// values) go before the id.
    func exec(_ args: [String], timeout: TimeInterval = 60) throws -> Output {
        let takesValue: Set<String> = [
            "--env", "-e", "--cwd", "--user", "-u", "--additional-gids", "-g", "--cap", "--pid-file", "--process",
            "-p", "--console-socket", "--cgroup", "--preserve-fds", "--process-label", "--apparmor",
        ]
        var index = 0
        while index < args.count, args[index].hasPrefix("-") {
            index += takesValue.contains(args[index]) ? 2 : 1
        }
        return try apusArgs(["exec"] + args[..<index] + [id] + args[index...], timeout: timeout)
    }

    deinit {
        _ = try? apus("delete", "--force", id)
    }
}

/// The v1 freezer directory of a process, from /proc/PID/cgroup.
func freezerDirectory(of pid: Int32) -> String? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        if parts.count == 3, parts[1].split(separator: ",").contains("freezer") {
            return "/sys/fs/cgroup/freezer" + parts[2]
        }
    }
    return nil
}

@Suite("exec", .integration)
struct ExecTests {
    @Test("exec runs in every namespace and the cgroup of the container, with its output and exit code")
    func namespacesAndOutput() throws {
        let container = try RunningContainer()
        let result = try container.exec(["sh", "-c", "echo out; echo err >&2; exit 7"])
        #expect(result.status == 7)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")

        let kinds = ["mnt", "pid", "net", "ipc", "uts", "cgroup", "user"]
        let script = kinds.map { "readlink /proc/self/ns/\($0)" }.joined(separator: "; ")
        let inside = try container.exec(["sh", "-c", script + "; cat /proc/self/cgroup"])
        #expect(inside.status == 0, "\(inside.all)")
        let lines = inside.stdout.split(separator: "\n").map(String.init)
        for (i, kind) in kinds.enumerated() {
            let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(container.pid)/ns/\(kind)")
            #expect(lines.count > i && lines[i] == host, "namespace \(kind)")
        }
        let initCgroups = try String(contentsOfFile: "/proc/\(container.pid)/cgroup", encoding: .utf8)
        // The container has its own cgroup namespace: both are seen from the host here.
        let execPid = try container.exec(["sh", "-c", "echo $$"])
        #expect(Int(execPid.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 1)
        #expect(initCgroups.contains(container.id))
    }

    @Test("exec --apparmor / --process-label: applied when the LSM is there, a clear error when not")
    func lsmLabels() throws {
        let container = try RunningContainer()
        let apparmor =
            (try? String(contentsOfFile: "/sys/module/apparmor/parameters/enabled", encoding: .utf8)) == "Y\n"
        let result = try container.exec(["--apparmor", "unconfined", "true"])
        if apparmor {
            #expect(result.status == 0, "\(result.all)")
        } else {
            #expect(result.status == 1)
            #expect(result.stderr.contains("AppArmor is not enabled on this host"), "\(result.stderr)")
        }
        if !FileManager.default.fileExists(atPath: "/sys/fs/selinux/enforce") {
            let label = try container.exec(["--process-label", "system_u:system_r:container_t:s0", "true"])
            #expect(label.status == 1)
            #expect(label.stderr.contains("SELinux is not enabled on this host"), "\(label.stderr)")
        }
    }

    @Test("exec joins the container's cgroups (seen from the host)")
    func cgroupFromHost() throws {
        let container = try RunningContainer()
        let pidFile = container.bundle.path + "/exec.pid"
        let started = try container.exec(["-d", "--pid-file", pidFile, "sleep", "30"])
        #expect(started.status == 0, "\(started.all)")
        let pid = Int32(try String(contentsOfFile: pidFile, encoding: .utf8)) ?? 0
        #expect(pid > 0)
        let theirs = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
        let initCgroups = try String(contentsOfFile: "/proc/\(container.pid)/cgroup", encoding: .utf8)
        #expect(theirs == initCgroups)
        #expect(try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) == "sleep\n")
        kill(pid, SIGKILL)
    }

    @Test(
        "exec overrides env, cwd and user",
        arguments: [
            (["--env", "FOO=bar", "sh", "-c", "echo $FOO"], "bar"),
            (["--env", "PATH=/nowhere:/bin", "sh", "-c", "echo $PATH"], "/nowhere:/bin"),
            (["--cwd", "/tmp", "pwd"], "/tmp"),
            (["--user", "1000:1001", "sh", "-c", "echo $(id -u) $(id -g)"], "1000 1001"),
            (["--user", "1000", "sh", "-c", "echo $(id -u) $(id -g)"], "1000 0"),
            (["--user", "1000:1000", "--additional-gids", "5", "--additional-gids", "7", "id", "-G"], "1000 5 7"),
            (["sh", "-c", "echo $(id -u) $(pwd)"], "0 /"),
        ])
    func overrides(args: [String], expected: String) throws {
        let container = try RunningContainer()
        let result = try container.exec(args)
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected)
    }

    /// The leading `-e=…` (a short option with `=`) is a form only ArgumentParser takes,
    /// so each command line runs once through the direct parser and once through it.
    @Test(
        "exec command lines give the same process through the direct parser and through ArgumentParser",
        arguments: [
            (["-e", "A=1", "-e", "B=2", "sh", "-c", "echo $A $B"], "1 2"),
            // Repeated: all in order, the last one of a name wins.
            (["--env=A=1", "--env", "B=2", "-e", "A=3", "sh", "-c", "echo $A $B"], "3 2"),
            (["-u", "1000:1000", "sh", "-c", "echo $(id -u) $(id -g)"], "1000 1000"),
            (["-u", "1000:1000", "-g", "5", "--additional-gids=7", "id", "-G"], "1000 5 7"),
            (["--cwd", "/tmp", "pwd"], "/tmp"),
            (["--cwd", "/nowhere", "--cwd=/tmp", "pwd"], "/tmp"),
            (["--preserve-fds", "0", "--ignore-paused", "true"], ""),
            // Everything after the id is the command's, flags and help included.
            (["sh", "-c", #"printf '%s\n' "$0 $1 $2""#, "-e", "--help", "-h"], "-e --help -h"),
            (["sh", "-c", #"printf '%s\n' "$*""#, "sh", "--", "-lh", "-"], "-- -lh -"),
        ])
    func parsersAgree(args: [String], expected: String) throws {
        let container = try RunningContainer()
        for line in [args, ["-e=VIA=argument-parser"] + args] {
            let result = try container.exec(line)
            #expect(result.status == 0, "\(line): \(result.all)")
            #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "\(line)")
        }
    }

    @Test("exec command lines ArgumentParser refuses are refused, with its message")
    func refusedCommandLines() throws {
        let container = try RunningContainer()
        let id = container.id
        for (args, message) in [
            (["exec", id], "exec args cannot be empty"),
            (["exec", "-d", id], "exec args cannot be empty"),
            (["exec", "-e", "A=1", "--", id], "exec args cannot be empty"),
            (["exec", "--preserve-fds", "-1", id, "true"], "Missing value for '--preserve-fds"),
            (["exec", "--preserve-fds=-1", id, "true"], "--preserve-fds must not be negative"),
            (["exec", "-g", "x", id, "true"], "'x' is invalid"),
            (["exec", "--tty=yes", id, "true"], "does not take any value"),
            (["exec", "--cwd", "--env", "A=1", id, "true"], "Missing value for '--cwd"),
            (["exec", "--bogus", id, "true"], "Unknown option '--bogus'"),
            (["exec", id, "echo", "---"], "Invalid option: ---"),
        ] {
            let result = try apusArgs(args)
            #expect(result.status == 1, "\(args): \(result.all)")
            #expect(result.stderr.contains(message), "\(args): \(result.stderr)")
        }
        // No combined short flags: Go's flag rules read `-td` as a long flag, and runc 1.5.1
        // refuses it ("flag provided but not defined: -td").
        let combined = try container.exec(["-td", "true"])
        #expect(combined.status == 1)
        #expect(combined.stderr.contains("Unknown option '--td'"), "\(combined.stderr)")
        // After the id even a known flag is the command.
        let late = try container.exec(["true", "--cwd", "/tmp"])
        #expect(late.status == 0, "\(late.all)")
        let notCommand = try apus("exec", container.id, "--cwd", "/tmp", "pwd")
        #expect(notCommand.status == 1)
        #expect(notCommand.stderr.contains("\"--cwd\""), "\(notCommand.stderr)")
    }

    @Test(
        "exec exits with the process's exit code, 128+signal when killed",
        arguments: [
            (["true"], Int32(0)),
            (["sh", "-c", "exit 3"], Int32(3)),
            (["sh", "-c", "kill -KILL $$"], Int32(137)),
            (["sh", "-c", "kill -TERM $$"], Int32(143)),
        ])
    func exitCodes(args: [String], code: Int32) throws {
        let container = try RunningContainer()
        #expect(try container.exec(args).status == code)
    }

    @Test("exec of a missing command fails and names it")
    func missingCommand() throws {
        let container = try RunningContainer()
        let result = try container.exec(["no-such-command"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no-such-command"))
    }

    @Test("--process takes a spec process object; its args, env and cwd are used")
    func processFile() throws {
        let container = try RunningContainer()
        let file = container.bundle.path + "/process.json"
        try
            #"{"user": {"uid": 0, "gid": 0}, "cwd": "/etc", "args": ["sh", "-c", "echo $X $(pwd)"], "env": ["X=from-file", "PATH=/bin"]}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let result = try container.exec(["--process", file])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout == "from-file /etc\n")

        try #"{"user": {"uid": "zero"}, "cwd": "/", "args": ["true"]}"#.write(
            toFile: file, atomically: true, encoding: .utf8)
        let bad = try container.exec(["--process", file])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains(".user.uid"), "\(bad.stderr)")
    }

    @Test("foreground exec forwards signals to the process")
    func forwardsSignals() throws {
        let container = try RunningContainer()
        let status = try terminateAfterReady([
            "exec", container.id, "sh", "-c", "trap 'exit 42' TERM; echo ready; while true; do sleep 0.1; done",
        ])
        #expect(status == 42)
    }

    @Test("exec -t gives the process a pty and proxies it; without -t stdio is inherited")
    func tty() throws {
        let container = try RunningContainer()
        let command = "\(Env.apus ?? "") --root \(Env.stateRoot) exec -t \(container.id) sh -c 'tty; exit 5'"
        let result = try sh("/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(result.status == 5, "\(result.all)")
        #expect(result.stdout.contains("/dev/pts/"), "\(result.all)")
        let plain = try container.exec(["tty"])
        #expect(plain.stdout.contains("not a tty"))

        let detachedTTY = try container.exec(["-d", "-t", "true"])
        #expect(detachedTTY.status == 1)
        #expect(detachedTTY.stderr.contains("console socket"))
    }

    @Test("exec --detach returns at once and writes the pid file")
    func detach() throws {
        let container = try RunningContainer()
        let pidFile = container.bundle.path + "/detached.pid"
        let start = Date()
        let result = try container.exec(["--detach", "--pid-file", pidFile, "sleep", "30"])
        #expect(result.status == 0, "\(result.all)")
        #expect(Date().timeIntervalSince(start) < 10)
        let pid = Int32(try String(contentsOfFile: pidFile, encoding: .utf8)) ?? 0
        #expect(pid > 0 && !isGone(pid))
        let ns = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid")
        #expect(ns == (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(container.pid)/ns/pid")))
        kill(pid, SIGKILL)
    }

    @Test("exec into a paused container is refused, and allowed with --ignore-paused")
    func paused() throws {
        let container = try RunningContainer()
        guard let freezer = freezerDirectory(of: container.pid) else {
            try Test.cancel("exec into paused container: no v1 freezer hierarchy on this host")
        }
        try "FROZEN".write(toFile: freezer + "/freezer.state", atomically: false, encoding: .utf8)
        defer { try? "THAWED".write(toFile: freezer + "/freezer.state", atomically: false, encoding: .utf8) }
        try waitFor {
            (try String(contentsOfFile: freezer + "/freezer.state", encoding: .utf8)) == "FROZEN\n"
        }
        #expect(try decodeState(try apus("state", container.id).stdout)["status"] as? String == "paused")
        let refused = try container.exec(["echo", "hi"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("paused"), "\(refused.stderr)")

        // Allowed: the process joins the frozen cgroup and runs once thawed.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Env.apus ?? "")
        process.arguments = ["--root", Env.stateRoot, "exec", "--ignore-paused", container.id, "echo", "thawed"]
        let out = Pipe()
        process.standardOutput = out
        let before = try String(contentsOfFile: freezer + "/cgroup.procs", encoding: .utf8)
            .split(separator: "\n").count
        try process.run()
        // Not refused: its process joins the frozen cgroup and stays there.
        try waitFor(30) {
            (try String(contentsOfFile: freezer + "/cgroup.procs", encoding: .utf8)).split(separator: "\n").count
                > before
        }
        #expect(process.isRunning, "exec --ignore-paused must not be refused")
        try "THAWED".write(toFile: freezer + "/freezer.state", atomically: false, encoding: .utf8)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "thawed\n")
    }

    @Test("exec into a stopped container is refused")
    func stopped() throws {
        let container = try RunningContainer(args: ["true"])
        try waitFor { (try? decodeState(try apus("state", container.id).stdout)["status"] as? String) == "stopped" }
        let result = try container.exec(["true"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("stopped"))
    }

    @Test("exec works under a pids limit that leaves room for exactly one more process")
    func pidsLimit() throws {
        // init (sleep) is one process; the limit leaves room for the exec alone.
        let container = try RunningContainer { spec in
            var resources = spec.linux?.resources ?? Spec.Linux.Resources()
            resources.pids = .init(limit: 2)
            spec.linux?.resources = resources
        }
        let result = try container.exec(["echo", "fits"])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout == "fits\n")
        // And again: the first exec's process is gone, so there is room again.
        #expect(try container.exec(["true"]).status == 0)
    }

    @Test("exec does not hang when the process writes a lot to stderr")
    func largeStderr() throws {
        let container = try RunningContainer()
        let result = try container.exec(
            ["sh", "-c", "yes 0123456789abcdef0123456789abcdef | head -c 8000000 >&2; echo done"], timeout: 60)
        #expect(result.status == 0)
        #expect(result.stderr.utf8.count == 8_000_000)
        #expect(result.stdout == "done\n")
    }

    @Test("--cap adds a capability; --no-new-privs sets no_new_privs")
    func capsAndNoNewPrivs() throws {
        let container = try RunningContainer { spec in spec.process?.noNewPrivileges = false }
        let without = try container.exec(["sh", "-c", "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"])
        let with = try container.exec([
            "--cap", "CAP_SYS_ADMIN", "--no-new-privs", "sh", "-c", "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status",
        ])
        #expect(without.stdout.contains("NoNewPrivs:\t0"), "\(without.all)")
        #expect(with.stdout.contains("NoNewPrivs:\t1"), "\(with.all)")
        func effective(_ text: String) -> UInt64 {
            let line = text.split(separator: "\n").first { $0.hasPrefix("CapEff") } ?? ""
            return UInt64(line.split(separator: "\t").last ?? "", radix: 16) ?? 0
        }
        #expect(effective(without.stdout) & (1 << 21) == 0)
        #expect(effective(with.stdout) & (1 << 21) != 0)
    }
}
