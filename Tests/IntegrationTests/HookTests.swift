import Foundation
import OCI
import Testing

/// A hook that appends `KIND STATUS PID MNT-NAMESPACE` to `log`, read from the
/// state on stdin and /proc/self/ns/mnt, then exits with `exit`.
func loggingHook(_ kind: String, log: String, shell: String = "/bin/sh", exit code: Int = 0) -> Spec.Hook {
    let script = """
        s=$(cat); st=$(echo "$s" | sed -n 's/.*"status":"\\([a-z]*\\)".*/\\1/p'); \
        pid=$(echo "$s" | sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p'); \
        echo "\(kind) $st $pid $(readlink /proc/self/ns/mnt)" >> \(log); exit \(code)
        """
    return Spec.Hook(path: shell, args: ["sh", "-c", script])
}

struct HookLine: Equatable {
    var kind: String
    var status: String
    var pid: Int
    var mountNamespace: String
}

func readHookLog(_ path: String) -> [HookLine] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map { line in
        let f = line.split(separator: " ").map(String.init)
        return HookLine(
            kind: f[0], status: f.count > 1 ? f[1] : "", pid: f.count > 2 ? Int(f[2]) ?? -1 : -1,
            mountNamespace: f.count > 3 ? f[3] : "")
    }
}

let hookKinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]

/// A bundle whose hooks all log to one file: `<bundle>/shared/log` on the host,
/// bind-mounted at /shared in the container for startContainer (whose path
/// resolves in the container). `failing` makes that hook kind exit 1.
func hookBundle(failing: String? = nil, command: [String] = ["true"]) throws -> (TestBundle, String) {
    let bundle = try TestBundle()
    let shared = bundle.path + "/shared"
    try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
    let log = shared + "/log"
    FileManager.default.createFile(atPath: log, contents: nil)
    try FileManager.default.createDirectory(atPath: bundle.rootfs + "/shared", withIntermediateDirectories: true)
    bundle.spec.mounts =
        (bundle.spec.mounts ?? []) + [
            Spec.Mount(destination: "/shared", type: "bind", source: shared, options: ["rbind", "rw"])
        ]
    var hooks = Spec.Hooks()
    func hook(_ kind: String) -> [Spec.Hook] {
        [loggingHook(kind, log: kind == "startContainer" ? "/shared/log" : log, exit: kind == failing ? 1 : 0)]
    }
    hooks.prestart = hook("prestart")
    hooks.createRuntime = hook("createRuntime")
    hooks.createContainer = hook("createContainer")
    hooks.startContainer = hook("startContainer")
    hooks.poststart = hook("poststart")
    hooks.poststop = hook("poststop")
    bundle.spec.hooks = hooks
    bundle.spec.process?.args = command
    try bundle.save()
    return (bundle, log)
}

@Suite("hooks", .integration)
struct HookTests {
    @Test("every hook kind runs once, in order, with the spec's status and namespace")
    func allSixInOrder() throws {
        let (bundle, log) = try hookBundle(command: ["sleep", "300"])
        let id = uniqueID("hooks")
        let created = try apus("create", "--bundle", bundle.path, id)
        #expect(created.status == 0, "\(created.all)")
        let pid = try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? 0
        let containerMount = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt")
        let hostMount = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        #expect(readHookLog(log).map(\.kind) == ["prestart", "createRuntime", "createContainer"])
        #expect(try apus("start", id).status == 0)
        // poststart runs after the process exec'd: sleep is running by then.
        #expect(try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) == "sleep\n")
        #expect(try apus("kill", id, "KILL").status == 0)
        try waitFor { (try? decodeState(try apus("state", id).stdout)["status"] as? String) == "stopped" }
        #expect(try apus("delete", id).status == 0)
        // delete of a deleted container must not run poststop again.
        _ = try apus("delete", "--force", id)

        let lines = readHookLog(log)
        #expect(lines.map(\.kind) == hookKinds)
        let expected: [String: (String, String)] = [
            "prestart": ("creating", hostMount), "createRuntime": ("creating", hostMount),
            "createContainer": ("creating", containerMount), "startContainer": ("created", containerMount),
            "poststart": ("running", hostMount), "poststop": ("stopped", hostMount),
        ]
        for line in lines {
            #expect(line.status == expected[line.kind]?.0, "\(line.kind) status")
            #expect(line.mountNamespace == expected[line.kind]?.1, "\(line.kind) mount namespace")
            #expect(line.pid == (line.kind == "poststop" ? 0 : pid), "\(line.kind) pid")
        }
    }

    @Test("`run` runs the hooks too, and poststop once when it deletes")
    func runRunsHooks() throws {
        let (bundle, log) = try hookBundle(command: ["true"])
        let result = try apus("run", "--bundle", bundle.path, uniqueID("hooks"))
        #expect(result.status == 0, "\(result.all)")
        #expect(readHookLog(log).map(\.kind) == hookKinds)
    }

    @Test(
        "a failing prestart, createRuntime, createContainer or startContainer hook aborts; poststop still runs",
        arguments: ["prestart", "createRuntime", "createContainer", "startContainer"])
    func failureAborts(kind: String) throws {
        let (bundle, log) = try hookBundle(
            failing: kind, command: ["sh", "-c", "echo user-process-ran >> /shared/log"])
        let id = uniqueID("hookfail")
        let before = HostSnapshot.take(mentioning: id)
        let created = try apus("create", "--bundle", bundle.path, id)
        if kind == "startContainer" {
            #expect(created.status == 0, "\(created.all)")
            let started = try apus("start", id)
            #expect(started.status == 1)
            #expect(started.stderr.contains("startContainer"), "\(started.all)")
            try waitFor { (try? decodeState(try apus("state", id).stdout)["status"] as? String) == "stopped" }
            #expect(try apus("delete", id).status == 0)
        } else {
            #expect(created.status == 1)
            #expect(created.stderr.contains("\(kind) hook #0"), "\(created.all)")
            #expect(created.stderr.contains(".hooks.\(kind)[0]"), "\(created.all)")
        }
        let kinds = readHookLog(log).map(\.kind)
        let upTo = hookKinds.firstIndex(of: kind) ?? 0
        #expect(kinds == Array(hookKinds[...upTo]) + ["poststop"], "\(kinds)")
        #expect(!kinds.contains("user-process-ran"))
        #expect(HostSnapshot.take(mentioning: id) == before)
        #expect(processes(mentioning: id).isEmpty)
    }

    @Test("a failing poststop hook only warns")
    func failureWarns() throws {
        let (bundle, log) = try hookBundle(failing: "poststop", command: ["true"])
        let result = try apus("run", "--bundle", bundle.path, uniqueID("hookwarn"))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stderr.contains("warning") && result.stderr.contains("poststop"), "\(result.all)")
        #expect(readHookLog(log).map(\.kind) == hookKinds)
    }

    /// runtime.md (1.2+): a failed poststart hook is an error, the container is stopped and
    /// the lifecycle goes on (delete, poststop). `run` deletes it, as after any exit.
    @Test("a failing poststart hook fails run, stops and deletes the container, poststop runs")
    func poststartFailureFailsRun() throws {
        let (bundle, log) = try hookBundle(failing: "poststart", command: ["sleep", "300"])
        let id = uniqueID("spec-hook")
        let result = try apus("run", "-d", "--bundle", bundle.path, id)
        #expect(
            result.status == 1 && result.stderr.contains("poststart hook #0")
                && result.stderr.contains(".hooks.poststart[0]"), "\(result.all)")
        #expect(readHookLog(log).map(\.kind) == hookKinds)
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
        #expect(processes(mentioning: id).isEmpty)

        // runc 1.5.1: the same exit status, and nothing left of its container either.
        let runc = try Env.requireRunc()
        let root = Both.runcRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let runcID = uniqueID("spec-hook-runc")
        let theirs = try sh(runc, ["--root", root, "run", "-d", "--bundle", bundle.path, runcID])
        #expect(theirs.status == result.status, "runc: \(theirs.all)")
        #expect(
            HostSnapshot.take(root: root, mentioning: runcID) == HostSnapshot(stateEntries: [], mounts: [], cgroups: [])
        )
        #expect(processes(mentioning: runcID).isEmpty)
    }

    /// runtime.md: poststart hooks run after the user-specified process is executed. The hook
    /// reads the comm of the state's pid, which is the user process by then. runc 1.5.1 runs
    /// them at create, while its init still waits for start (a difference on purpose).
    @Test("a poststart hook sees the user process already exec'd; runc 1.5.1 runs it at create, before")
    func poststartSeesUserProcess() throws {
        let bundle = try TestBundle()
        let log = bundle.path + "/comm.log"
        func logged() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no log)" }
        FileManager.default.createFile(atPath: log, contents: nil)
        let script = #"pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p'); cat /proc/$pid/comm >> "# + log
        var hooks = Spec.Hooks()
        hooks.poststart = [Spec.Hook(path: "/bin/sh", args: ["sh", "-c", script])]
        bundle.spec.hooks = hooks
        bundle.spec.process?.args = ["sleep", "300"]
        try bundle.save()
        let id = uniqueID("hooks")
        defer { _ = try? apus("delete", "--force", id) }
        #expect(try apus("create", "--bundle", bundle.path, id).status == 0)
        #expect(logged() == "", "poststart ran at create")
        let started = try apus("start", id)
        #expect(started.status == 0, "\(started.all)")
        #expect(logged() == "sleep\n")

        FileManager.default.createFile(atPath: log, contents: nil)
        let runc = try Env.requireRunc()
        let root = Both.runcRoot()
        let runcID = uniqueID("spec-hook-runc")
        defer {
            _ = try? sh(runc, ["--root", root, "delete", "--force", runcID])
            try? FileManager.default.removeItem(atPath: root)
        }
        let created = try sh(runc, ["--root", root, "create", "--bundle", bundle.path, runcID])
        #expect(created.status == 0, "runc: \(created.all)")
        #expect(!logged().isEmpty && logged() != "sleep\n", "runc 1.5.1 now runs poststart after the exec: \(logged())")
    }

    @Test("a failing poststart hook fails start and leaves the container stopped; delete runs poststop")
    func poststartFailureFailsStart() throws {
        let (bundle, log) = try hookBundle(failing: "poststart", command: ["sleep", "300"])
        let id = uniqueID("spec-hook")
        #expect(try apus("create", "--bundle", bundle.path, id).status == 0)
        let pid = Int32(try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? 0)
        let started = try apus("start", id)
        #expect(
            started.status == 1 && started.stderr.contains("poststart hook #0")
                && started.stderr.contains(".hooks.poststart[0]"), "\(started.all)")
        #expect(try decodeState(try apus("state", id).stdout)["status"] as? String == "stopped")
        #expect(!isLive(pid), "init \(pid) still runs")
        #expect(try apus("delete", id).status == 0)
        #expect(readHookLog(log).map(\.kind) == hookKinds)
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
    }

    @Test("a hook that outlives its timeout fails the create")
    func timeout() throws {
        let bundle = try TestBundle()
        bundle.spec.hooks = Spec.Hooks(createRuntime: [
            Spec.Hook(path: "/bin/sleep", args: ["sleep", "30"], timeout: 1)
        ])
        try bundle.save()
        let id = uniqueID("hooktimeout")
        let start = Date()
        let created = try apus("create", "--bundle", bundle.path, id)
        #expect(created.status == 1)
        #expect(created.stderr.contains("timed out"), "\(created.all)")
        #expect(Date().timeIntervalSince(start) < 20)
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
    }

    @Test("hooks get their args and env")
    func argsAndEnv() throws {
        let bundle = try TestBundle()
        let out = bundle.path + "/env.out"
        bundle.spec.hooks = Spec.Hooks(createRuntime: [
            Spec.Hook(
                path: "/bin/sh", args: ["sh", "-c", "echo \"$0 $1 $HOOKVAR\" > \(out)", "a0", "a1"], env: ["HOOKVAR=v"])
        ])
        bundle.spec.process?.args = ["true"]
        try bundle.save()
        #expect(try apus("run", "--bundle", bundle.path, uniqueID("hookenv")).status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "a0 a1 v\n")
    }

    @Test("a createRuntime hook that moves a veth end into the container gives it a working interface")
    func vethNetworking() throws {
        guard
            FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
                || FileManager.default.isExecutableFile(atPath: "/sbin/ip"),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter")
        else {
            try Test.cancel("veth hook: needs ip (iproute2) and nsenter (util-linux) on the host")
        }
        let subnet = "10.\(200 + Int.random(in: 0..<50)).\(Int.random(in: 0..<250)).0"
        let prefix = subnet.dropLast(2)
        let hostAddress = "\(prefix).1", containerAddress = "\(prefix).2"
        let script = Env.repo.appendingPathComponent("spec-fixtures/hooks/veth.sh").path
        let bundle = try TestBundle { spec in
            spec.hooks = Spec.Hooks(createRuntime: [
                Spec.Hook(path: script, args: ["veth.sh", "\(hostAddress)/24", "\(containerAddress)/24"])
            ])
            // busybox ping needs a raw socket.
            for set in [\Spec.Process.Capabilities.bounding, \.effective, \.permitted] {
                spec.process?.capabilities?[keyPath: set]?.append("CAP_NET_RAW")
            }
        }
        bundle.spec.process?.args = ["sleep", "300"]
        try bundle.save()
        let id = uniqueID("veth")
        let started = try apus("run", "-d", "--bundle", bundle.path, id)
        defer { _ = try? apus("delete", "--force", id) }
        #expect(started.status == 0, "\(started.all)")
        let inside = try apus("exec", id, "sh", "-c", "ip -4 addr show eth0; ping -c 1 -W 2 \(hostAddress)")
        #expect(inside.status == 0, "\(inside.all)")
        #expect(inside.stdout.contains("inet \(containerAddress)/24"), "\(inside.all)")
        let fromHost = try sh("/bin/busybox", ["ping", "-c", "1", "-W", "2", containerAddress])
        #expect(fromHost.status == 0, "\(fromHost.all)")
        let pid = try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? 0
        #expect(try apus("delete", "--force", id).status == 0)
        // The host end goes with the container's network namespace.
        try waitFor { !((try? sh("/usr/sbin/ip", ["link", "show", "vapus\(pid)"]).status == 0) ?? false) }
    }
}
