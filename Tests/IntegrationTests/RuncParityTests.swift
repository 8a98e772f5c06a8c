import Foundation
import OCI
import Testing

/// The default `apus spec` bundle, run under apus and under runc 1.5.1: what the process
/// sees must be the same, minus ids and times.
@Suite("runc parity", .integration)
struct RuncParityTests {
    static let probes: [(name: String, script: String)] = [
        ("status", "grep -E '^(Cap|NoNewPrivs|Seccomp|Uid|Gid|Groups|Umask)' /proc/self/status"),
        ("mount", "mount"),
        ("dev", "ls -l /dev"),
        ("hostname", "hostname"),
        ("id", "id"),
        ("ulimit", "ulimit -a"),
        ("pid1", "grep -E '^(Pid|PPid|NSpid|Threads)' /proc/1/status; cat /proc/1/cmdline | tr '\\0' ' '"),
        ("net", "cat /proc/net/dev | tail -n +3 | awk '{print $1}'; cat /sys/class/net/lo/operstate"),
        ("cwd-env", "pwd; env | sort | grep -v '^PWD='"),
        (
            "masked",
            "cat /proc/kcore 2>&1 | wc -c; ls /proc/acpi 2>&1 | wc -l; touch /proc/sys/x 2>&1 | sed 's/^.*: //'"
        ),
    ]

    @Test("the process sees the same under apus and runc", arguments: probes.map(\.name))
    func sameAsRunc(probe: String) throws {
        let runc = try Env.requireRunc()
        let script = Self.probes.first { $0.name == probe }?.script ?? ""
        let bundle = try TestBundle()
        try bundle.command("sh", "-c", script)
        let ours = try apus("run", "--bundle", bundle.path, uniqueID("parity"))
        // A root of this run's own, removed after: parameterized cases run in parallel.
        let runcRoot = NSTemporaryDirectory() + "runc-parity-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: runcRoot) }
        let theirs = try sh(runc, ["--root", runcRoot, "run", "--bundle", bundle.path, uniqueID("parity-runc")])
        #expect(ours.status == theirs.status, "exit: apus \(ours.status) runc \(theirs.status): \(ours.stderr)")
        #expect(
            normalize(ours.stdout) == normalize(theirs.stdout),
            "\(probe) differs:\n--- apus\n\(ours.stdout)--- runc\n\(theirs.stdout)")
    }

    @Test("tmpcopyup: ls -la of the copied tree is the same under apus and runc")
    func tmpcopyupSameAsRunc() throws {
        let runc = try Env.requireRunc()
        // runc makes directories with mkdir(mode) under its umask (022): modes it keeps.
        let bundle = try copyUpBundle(options: ["tmpcopyup", "nosuid", "size=1m"], modes: (0o1777, 0o755, 0o4711))
        try FileManager.default.createDirectory(
            atPath: bundle.rootfs + "/copy/sub/deeper", withIntermediateDirectories: false)
        try bundle.command("sh", "-c", "ls -laR /copy; grep ' /copy ' /proc/self/mountinfo | cut -d' ' -f6-")
        let ours = try apus("run", "--bundle", bundle.path, uniqueID("parity"))
        let runcRoot = NSTemporaryDirectory() + "runc-parity-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: runcRoot) }
        let theirs = try sh(runc, ["--root", runcRoot, "run", "--bundle", bundle.path, uniqueID("parity-runc")])
        #expect(ours.status == 0 && theirs.status == 0, "apus: \(ours.all)\nrunc: \(theirs.all)")
        #expect(
            normalize(ours.stdout) == normalize(theirs.stdout),
            "differs:\n--- apus\n\(ours.stdout)--- runc\n\(theirs.stdout)")
        #expect(ours.stdout.contains("-rws--x--x"), "\(ours.stdout)")
    }

    @Test(
        "linux.rootfsPropagation: the new root's propagation is the same under apus and runc",
        arguments: ["unbindable", "private", "rprivate", "slave", "rslave"])
    func rootfsPropagationSameAsRunc(propagation: String) throws {
        let runc = try Env.requireRunc()
        let bundle = try propagationBundle(propagation)
        let ours = try apus("run", "--bundle", bundle.path, uniqueID("prop"))
        let runcRoot = NSTemporaryDirectory() + "runc-parity-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: runcRoot) }
        let theirs = try sh(runc, ["--root", runcRoot, "run", "--bundle", bundle.path, uniqueID("prop-runc")])
        #expect(ours.status == 0 && theirs.status == 0, "apus: \(ours.all)\nrunc: \(theirs.all)")
        #expect(ours.stdout == theirs.stdout, "apus: \(ours.stdout) runc: \(theirs.stdout)")
        if propagation.hasSuffix("unbindable") { #expect(ours.stdout.contains("unbindable"), "\(ours.stdout)") }
    }

    /// runc 1.5.1 fails here ("error mounting cgroup … invalid argument": it makes the host
    /// tree recursively unbindable before binding the cgroup hierarchies from it); apus
    /// makes only the new root's tree unbindable, at the end, as the spec asks.
    @Test("linux.rootfsPropagation runbindable: the container runs and its root is unbindable")
    func rootfsRunbindable() throws {
        let bundle = try propagationBundle("runbindable")
        let ours = try apus("run", "--bundle", bundle.path, uniqueID("prop"))
        #expect(ours.status == 0 && ours.stdout == "unbindable end\n", "\(ours.all)")
    }

    /// A bundle whose process prints the optional fields of / in its mountinfo (shared:N,
    /// master:N, unbindable), peer group ids elided.
    func propagationBundle(_ propagation: String) throws -> TestBundle {
        let bundle = try TestBundle { $0.linux?.rootfsPropagation = propagation }
        try bundle.command(
            "sh", "-c",
            "awk '$5 == \"/\" { for (i = 7; $i != \"-\"; i++) printf \"%s \", $i; print \"end\" }' "
                + "/proc/self/mountinfo | sed 's/:[0-9]*/:N/g'")
        return bundle
    }

    /// Times differ between two runs; everything else must not.
    func normalize(_ text: String) -> String {
        text.replacingOccurrences(of: #"[A-Z][a-z]{2} +\d+ \d\d:\d\d"#, with: "TIME", options: .regularExpression)
    }
}

/// linux.netDevices (OCI 1.3): a host interface moved into the container, renamed, with its
/// addresses and up, as runc 1.5.1 leaves it. The test's veth pair is its own; deleting the
/// host end removes the pair whatever happened to the other end.
@Suite("linux.netDevices", .integration)
struct NetDevicesTests {
    /// A veth pair `name`/`name`p with an IPv4 and an IPv6 address on `name`; removed by the caller.
    func makeVeth() throws -> String {
        let name = "apv\(String(UInt32.random(in: 0..<UInt32.max), radix: 16))"
        for args in [
            ["link", "add", name, "type", "veth", "peer", "name", name + "p"],
            ["addr", "add", "169.254.169.13/32", "dev", name], ["addr", "add", "fd00::5/64", "dev", name],
        ] {
            let out = try sh("/usr/sbin/ip", args)
            guard out.status == 0 else { throw TestFailure("ip \(args.joined(separator: " ")): \(out.all)") }
        }
        return name
    }

    func removeVeth(_ name: String) {
        _ = try? sh("/usr/sbin/ip", ["link", "del", name + "p"])
        _ = try? sh("/usr/sbin/ip", ["link", "del", name])
    }

    @Test("a veth end is moved in as ctr0 with its addresses and up, as under runc 1.5.1")
    func movedLikeRunc() throws {
        let runc = try Env.requireRunc()
        var outputs: [Output] = []
        for runtime in ["apus", "runc"] {
            let name = try makeVeth()
            defer { removeVeth(name) }
            let bundle = try TestBundle { $0.linux?.netDevices = [name: .init(name: "ctr0")] }
            try bundle.command(
                "sh", "-c",
                "ip -o link show ctr0 | cut -d' ' -f2,3 | sed 's/@if[0-9]*//'; "
                    + "ip -o addr show ctr0 | sed 's/ \\+/ /g' | cut -d' ' -f2-4; cat /sys/class/net/ctr0/operstate")
            if runtime == "apus" {
                outputs.append(try apus("run", "--bundle", bundle.path, uniqueID("netdev")))
            } else {
                let root = NSTemporaryDirectory() + "runc-netdev-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
                defer { try? FileManager.default.removeItem(atPath: root) }
                outputs.append(try sh(runc, ["--root", root, "run", "--bundle", bundle.path, uniqueID("netdev-runc")]))
            }
            // While the container ran, the device was not on the host.
        }
        #expect(outputs[0].status == 0, "\(outputs[0].all)")
        #expect(outputs[0].stdout.contains("inet 169.254.169.13/32"), "\(outputs[0].all)")
        #expect(outputs[0].stdout == outputs[1].stdout, "apus:\n\(outputs[0].all)\nrunc:\n\(outputs[1].all)")
    }

    @Test("a name already taken in the container is an error naming the device; it stays on the host")
    func nameTaken() throws {
        let name = try makeVeth()
        defer { removeVeth(name) }
        let bundle = try TestBundle { $0.linux?.netDevices = [name: .init(name: "lo")] }
        try bundle.command("true")
        let id = uniqueID("netdev")
        let out = try apus("run", "--bundle", bundle.path, id)
        #expect(out.status == 1, "\(out.all)")
        #expect(out.stderr.contains(".linux.netDevices[\"\(name)\"]"), "\(out.stderr)")
        let shown = try sh("/usr/sbin/ip", ["-o", "addr", "show", name])
        #expect(shown.status == 0 && shown.stdout.contains("169.254.169.13/32"), "\(shown.all)")
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
    }
}

/// `--pidfd-socket` (runc 1.2+): create, run and exec send a pidfd of the container process
/// over the unix socket, with the message runc sends ("standard" for init, "setns" for exec).
@Suite("--pidfd-socket", .integration)
struct PidfdSocketTests {
    /// Listens on a fresh socket path; `receive()` returns "message pid" of the pidfd it got.
    final class Receiver {
        let path = NSTemporaryDirectory() + "apus-pidfd-\(UInt32.random(in: 0..<UInt32.max)).sock"
        let process = Process()
        let out = Pipe()

        init() throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [
                "-c",
                """
                import socket, os, sys
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1)
                print("listening", flush=True)
                c, _ = s.accept()
                msg, fds, _, _ = socket.recv_fds(c, 1024, 1)
                link = os.readlink("/proc/self/fd/%d" % fds[0])
                pid = [l.split()[1] for l in open("/proc/self/fdinfo/%d" % fds[0]) if l.startswith("Pid:")][0]
                print(msg.decode(), link, pid, flush=True)
                """, path,
            ]
            process.standardOutput = out
            try process.run()
            let ready = readOutput(out.fileHandleForReading, until: "listening\n")
            guard ready == "listening\n" else { throw TestFailure("receiver: \(ready)") }
        }

        func received() -> String {
            let line = readOutput(out.fileHandleForReading, until: "\n", seconds: 30)
            process.waitUntilExit()
            return line.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        deinit {
            if process.isRunning { process.terminate() }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    @Test("create sends init's pidfd and exec the process's, with runc 1.5.1's messages")
    func sendsPidfds() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        let id = uniqueID("pidfd")
        defer { _ = try? apus("delete", "--force", id) }
        let receiver = try Receiver()
        let created = try apus("create", "--pidfd-socket", receiver.path, "--bundle", bundle.path, id)
        #expect(created.status == 0, "\(created.all)")
        let pid = try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? -1
        #expect(receiver.received() == "standard anon_inode:[pidfd] \(pid)")

        #expect(try apus("start", id).status == 0)
        let execReceiver = try Receiver()
        let pidFile = NSTemporaryDirectory() + "\(id).exec.pid"
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        let exec = try apus(
            "exec", "-d", "--pidfd-socket", execReceiver.path, "--pid-file", pidFile, id, "sleep", "20")
        #expect(exec.status == 0, "\(exec.all)")
        let execPid = (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "?"
        #expect(execReceiver.received() == "setns anon_inode:[pidfd] \(execPid)")

        // runc 1.5.1 sends the same.
        let runc = try Env.requireRunc()
        let root = NSTemporaryDirectory() + "runc-pidfd-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        let runcID = uniqueID("pidfd-runc")
        defer {
            _ = try? sh(runc, ["--root", root, "delete", "--force", runcID])
            try? FileManager.default.removeItem(atPath: root)
        }
        let runcReceiver = try Receiver()
        let runcCreated = try sh(
            runc, ["--root", root, "create", "--pidfd-socket", runcReceiver.path, "--bundle", bundle.path, runcID])
        #expect(runcCreated.status == 0, "\(runcCreated.all)")
        let runcPid = try decodeState(try sh(runc, ["--root", root, "state", runcID]).stdout)["pid"] as? Int ?? -1
        #expect(runcReceiver.received() == "standard anon_inode:[pidfd] \(runcPid)")
    }

    @Test("a --pidfd-socket nobody listens on fails create, naming it, and leaves nothing")
    func nobodyListening() throws {
        let bundle = try TestBundle()
        try bundle.command("true")
        let id = uniqueID("pidfd")
        let path = NSTemporaryDirectory() + "apus-nosock-\(UInt32.random(in: 0..<UInt32.max)).sock"
        for command in ["create", "run"] {
            let out = try apus(command, "--pidfd-socket", path, "--bundle", bundle.path, id)
            #expect(out.status == 1, "\(out.all)")
            #expect(out.stderr.contains("pidfd socket \(path)"), "\(out.stderr)")
            #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
            #expect(HostSnapshot.take(mentioning: id).cgroups.isEmpty)
        }
    }
}
