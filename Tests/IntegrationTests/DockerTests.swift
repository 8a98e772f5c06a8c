import Foundation
import Testing

/// Docker (Debian 12's docker.io 20.10) with apus registered as a runtime and made the
/// default: every container goes through dockerd, its managed containerd and the
/// io.containerd.runc.v2 shim exactly as a user's would, and each test asserts what the
/// user sees (output, exit code, `docker inspect`). The suite runs a dockerd of its own
/// whose data, state, sockets, containerd and cgroup parent live under one temp dir or
/// carry its name; the host's docker (/var/run/docker.sock) is never addressed.
@Suite(
    "docker", .enabled(if: DockerDaemon.enabled, Comment(rawValue: DockerDaemon.skipReason ?? "")), .serialized,
    DockerDaemon.Scope())
struct DockerTests {
    static let image = "apus-busybox:latest"

    var docker: DockerDaemon {
        get throws {
            if let reason = DockerDaemon.startFailure {
                try Test.cancel("dockerd cannot run here: \(reason)")
            }
            return try #require(DockerDaemon.current)
        }
    }

    @Test("docker info: apus is registered and the default runtime")
    func info() throws {
        let docker = try docker
        let out = try docker.cli(["info", "--format", "{{.DefaultRuntime}} {{json .Runtimes}}"])
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout.hasPrefix("apus "), "\(out.stdout)")
        #expect(out.stdout.contains("\"path\":\"\(docker.apus)\""), "\(out.stdout)")
    }

    @Test("run --rm: output, exit code, and nothing left behind")
    func runRemove() throws {
        let docker = try docker
        let name = docker.newName("rm")
        let out = try docker.cli([
            "run", "--rm", "--name", name, Self.image, "sh", "-c", "echo hello from apus; echo oops >&2; exit 7",
        ])
        #expect(out.status == 7, "\(out.all)")
        #expect(out.stdout == "hello from apus\n")
        #expect(out.stderr.hasSuffix("oops\n"), "\(out.stderr)")
        #expect(try docker.cli(["inspect", name]).status != 0)
        docker.expectNoCgroups(named: name)
    }

    @Test("run -d, exec (output and exit code), logs, stop (SIGTERM to PID 1), rm")
    func detached() throws {
        let docker = try docker
        let name = docker.newName("detached")
        let id = try docker.start(
            name,
            [Self.image, "sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo started; while :; do sleep 0.1; done"])
        defer { docker.remove(name) }
        #expect(try docker.waitForLogs(name, containing: "started"))
        #expect(try docker.inspect(name, "{{.HostConfig.Runtime}} {{.State.Status}}") == "apus running")
        // apus itself keeps the container: its state, under the root the shim gives it.
        let state = try apus("state", id, root: docker.runtimeRoot)
        #expect(state.status == 0 && state.stdout.contains("\"status\": \"running\""), "\(state.all)")
        let exec = try docker.cli(["exec", name, "cat", "/proc/1/cmdline"])
        #expect(exec.status == 0, "\(exec.all)")
        #expect(exec.stdout.replacingOccurrences(of: "\0", with: " ").hasPrefix("sh -c trap"), "\(exec.stdout)")
        #expect(try docker.cli(["exec", name, "sh", "-c", "exit 3"]).status == 3)
        let stop = try docker.cli(["stop", "--time", "10", name])
        #expect(stop.status == 0, "\(stop.all)")
        #expect(try docker.inspect(name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0")
        let logs = try docker.cli(["logs", name])
        #expect(logs.stdout == "started\ngot TERM\n", "\(logs.all)")
        #expect(try docker.cli(["rm", name]).status == 0)
        docker.expectNoTraces(of: id)
    }

    @Test("kill -s USR1: the container's trap runs and it keeps running")
    func killSignal() throws {
        let docker = try docker
        let name = docker.newName("usr1")
        _ = try docker.start(
            name, [Self.image, "sh", "-c", "trap 'echo got USR1' USR1; echo ready; while :; do sleep 0.1; done"])
        defer { docker.remove(name) }
        #expect(try docker.waitForLogs(name, containing: "ready"))
        let kill = try docker.cli(["kill", "--signal", "USR1", name])
        #expect(kill.status == 0, "\(kill.all)")
        #expect(try docker.waitForLogs(name, containing: "got USR1"))
        #expect(try docker.inspect(name, "{{.State.Running}}") == "true")
    }

    @Test("pause and unpause: docker's state, the freezer, exec after thaw")
    func pause() throws {
        let docker = try docker
        let name = docker.newName("pause")
        let id = try docker.start(name, [Self.image, "sleep", "1000"])
        defer { docker.remove(name) }
        let freezer = "/sys/fs/cgroup/freezer/\(docker.cgroupParent)/\(id)/freezer.state"
        #expect(try docker.cli(["pause", name]).status == 0)
        #expect(try docker.inspect(name, "{{.State.Status}} {{.State.Paused}}") == "paused true")
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/freezer") {
            #expect(DockerDaemon.read(freezer) == "FROZEN")
        }
        #expect(try docker.cli(["unpause", name]).status == 0)
        #expect(try docker.inspect(name, "{{.State.Status}} {{.State.Paused}}") == "running false")
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/freezer") {
            #expect(DockerDaemon.read(freezer) == "THAWED")
        }
        let exec = try docker.cli(["exec", name, "echo", "thawed"])
        #expect(exec.stdout == "thawed\n", "\(exec.all)")
    }

    @Test("update --memory: the new limit reaches the running container's cgroup")
    func update() throws {
        let docker = try docker
        let name = docker.newName("update")
        _ = try docker.start(name, [Self.image, "sleep", "1000"])
        defer { docker.remove(name) }
        // On cgroup v1 docker refuses a memory limit above an unset swap limit alone.
        let update = try docker.cli(["update", "--memory", "64m", "--memory-swap", "128m", name])
        #expect(update.status == 0, "\(update.all)")
        #expect(try docker.inspect(name, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}") == "67108864 134217728")
        let file = DockerDaemon.cgroupV1 ? "/sys/fs/cgroup/memory/memory.limit_in_bytes" : "/sys/fs/cgroup/memory.max"
        let seen = try docker.cli(["exec", name, "cat", file])
        #expect(seen.stdout == "67108864\n", "\(seen.all)")
    }

    @Test("restart, and --restart always: the same container started again by apus")
    func restart() throws {
        let docker = try docker
        let name = docker.newName("restart")
        _ = try docker.start(name, [Self.image, "sh", "-c", "echo run; sleep 1000"])
        defer { docker.remove(name) }
        let restart = try docker.cli(["restart", "--time", "0", name])
        #expect(restart.status == 0, "\(restart.all)")
        #expect(try docker.inspect(name, "{{.State.Status}}") == "running")
        #expect(try docker.waitForLogs(name, containing: "run\nrun\n"))

        let always = docker.newName("always")
        _ = try docker.start(always, ["--restart", "always", Self.image, "sh", "-c", "echo run; exit 3"])
        defer { docker.remove(always) }
        #expect(try docker.waitForLogs(always, containing: "run\nrun\n"))
        let count = Int(try docker.inspect(always, "{{.RestartCount}}")) ?? 0
        #expect(count >= 1)
    }

    @Test("run -t and exec -t: a terminal through apus's console socket")
    func terminal() throws {
        let docker = try docker
        let run = try sh(
            "/usr/bin/script",
            [
                "-qec", "\(DockerDaemon.dockerCLI) -H unix://\(docker.socket) run --rm -t \(Self.image) tty",
                "/dev/null",
            ],
            environment: docker.environment)
        #expect(run.status == 0, "\(run.all)")
        #expect(run.stdout.contains("/dev/pts/0"), "\(run.all)")
        let name = docker.newName("tty")
        _ = try docker.start(name, [Self.image, "sleep", "1000"])
        defer { docker.remove(name) }
        let exec = try sh(
            "/usr/bin/script",
            ["-qec", "\(DockerDaemon.dockerCLI) -H unix://\(docker.socket) exec -t \(name) tty", "/dev/null"],
            environment: docker.environment)
        #expect(exec.status == 0, "\(exec.all)")
        #expect(exec.stdout.contains("/dev/pts/"), "\(exec.all)")
    }

    @Test("top: the container's processes, from the runtime's ps")
    func top() throws {
        let docker = try docker
        let name = docker.newName("top")
        _ = try docker.start(name, [Self.image, "sleep", "1000"])
        defer { docker.remove(name) }
        let out = try docker.cli(["top", name])
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout.contains("sleep 1000"), "\(out.all)")
    }

    @Test("-m with no swap: a process over the limit is OOM-killed, exit 137, OOMKilled true")
    func oomKill() throws {
        let docker = try docker
        let swap = DockerDaemon.read("/proc/swaps").split(separator: "\n").dropFirst()
        if !swap.isEmpty {
            try Test.cancel("OOM kill through docker: the host has swap (\(swap.joined(separator: "; ")))")
        }
        let name = docker.newName("oom")
        defer { docker.remove(name) }
        let out = try docker.cli([
            "run", "--name", name, "-m", "32m", "--memory-swap", "32m", Self.image, "dd", "if=/dev/zero",
            "of=/dev/null", "bs=100M", "count=1",
        ])
        #expect(out.status == 137, "\(out.all)")
        #expect(try docker.inspect(name, "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137")
    }

    /// One `docker run --rm` and what it must print; the same run under runc 1.5.1 must
    /// print the same.
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var flags: [String]
        var command: [String]
        var expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        let limits = DockerDaemon.cgroupV1
        return [
            Case(
                name: "--pids-limit", flags: ["--pids-limit", "42"],
                command: ["cat", limits ? "/sys/fs/cgroup/pids/pids.max" : "/sys/fs/cgroup/pids.max"], expected: "42\n"),
            Case(
                name: "--cpus", flags: ["--cpus", "0.5"],
                command: limits
                    ? ["cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"]
                    : ["cat", "/sys/fs/cgroup/cpu.max"],
                expected: limits ? "50000\n100000\n" : "50000 100000\n"),
            Case(
                name: "--cpuset-cpus 0", flags: ["--cpuset-cpus", "0"],
                command: ["grep", "Cpus_allowed_list", "/proc/self/status"], expected: "Cpus_allowed_list:\t0\n"),
            Case(
                name: "--ulimit nofile", flags: ["--ulimit", "nofile=1024:2048"],
                command: ["sh", "-c", "ulimit -n; ulimit -Hn"], expected: "1024\n2048\n"),
            Case(
                name: "--cap-drop ALL --cap-add CHOWN", flags: ["--cap-drop", "ALL", "--cap-add", "CHOWN"],
                command: ["grep", "-E", "^Cap(Eff|Prm|Bnd)", "/proc/self/status"],
                expected: "CapPrm:\t0000000000000001\nCapEff:\t0000000000000001\nCapBnd:\t0000000000000001\n"),
            Case(
                name: "--cap-drop CHOWN: chown fails", flags: ["--cap-drop", "CHOWN"],
                command: ["sh", "-c", "grep CapEff /proc/self/status; chown 1000 /tmp 2>/dev/null || echo denied"],
                expected: "CapEff:\t00000000a80425fa\ndenied\n"),
            Case(
                name: "--security-opt no-new-privileges", flags: ["--security-opt", "no-new-privileges"],
                command: ["grep", "NoNewPrivs", "/proc/self/status"], expected: "NoNewPrivs:\t1\n"),
            Case(
                // The tmpfs takes the mode of the image's /run (755), as runc gives it.
                name: "--read-only --tmpfs /run", flags: ["--read-only", "--tmpfs", "/run"],
                command: [
                    "sh", "-c", "touch /x 2>&1; touch /run/x && echo run writable; grep ' /run ' /proc/mounts",
                ],
                expected:
                    "touch: /x: Read-only file system\nrun writable\ntmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,mode=755 0 0\n"
            ),
            Case(
                name: "--mount type=tmpfs", flags: ["--mount", "type=tmpfs,destination=/t,tmpfs-size=1m"],
                command: ["sh", "-c", "grep ' /t ' /proc/mounts; touch /t/x && echo written"],
                expected: "tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k 0 0\nwritten\n"),
            Case(
                name: "--net none", flags: ["--net", "none"], command: ["sh", "-c", "ls /sys/class/net"],
                expected: "lo\n"),
            Case(
                name: "--hostname", flags: ["--hostname", "apus-test"], command: ["hostname"], expected: "apus-test\n"),
            Case(
                name: "--user 1000", flags: ["--user", "1000"], command: ["id"],
                expected: "uid=1000(apus) gid=1000(apus) groups=1000(apus)\n"),
            Case(name: "-w", flags: ["-w", "/usr/bin"], command: ["pwd"], expected: "/usr/bin\n"),
            Case(
                name: "-e", flags: ["-e", "GREETING=hello docker"], command: ["sh", "-c", "echo $GREETING"],
                expected: "hello docker\n"),
            Case(
                name: "--sysctl net.ipv4.ip_forward=1 in its own netns",
                flags: ["--net", "none", "--sysctl", "net.ipv4.ip_forward=1"],
                command: ["cat", "/proc/sys/net/ipv4/ip_forward"], expected: "1\n"),
            Case(
                name: "--init: docker-init is PID 1", flags: ["--init"],
                command: ["sh", "-c", "tr '\\0' ' ' </proc/1/cmdline; echo"],
                expected: "/sbin/docker-init -- sh -c tr '\\0' ' ' </proc/1/cmdline; echo \n"),
            Case(
                name: "--device /dev/null:/dev/mynull", flags: ["--device", "/dev/null:/dev/mynull"],
                command: ["sh", "-c", "echo x >/dev/mynull && stat -c '%F %t,%T' /dev/mynull"],
                expected: "character special file 1,3\n"),
        ]
    }()

    @Test("docker run --rm FLAGS: what the process sees, the same under runc 1.5.1", arguments: cases)
    func runCase(_ item: Case) throws {
        let docker = try docker
        let apus = try docker.cli(["run", "--rm"] + item.flags + [Self.image] + item.command)
        #expect(apus.status == 0, "\(apus.all)")
        #expect(apus.stdout == item.expected, "\(apus.all)")
        guard docker.hasRunc else {
            try Test.cancel("runc 1.5.1 is not at ../shared/tools/runc (or APUS_RUNC): no comparison made")
        }
        let runc = try docker.cli(["run", "--rm", "--runtime", "runc15"] + item.flags + [Self.image] + item.command)
        #expect(runc.status == apus.status, "\(runc.all)")
        #expect(runc.stdout == apus.stdout, "runc: \(runc.all)")
    }

    @Test("-v HOSTDIR:/data:ro: the host's file is read, writes fail with EROFS")
    func bindReadOnly() throws {
        let docker = try docker
        let share = docker.dir + "/share"
        try FileManager.default.createDirectory(atPath: share, withIntermediateDirectories: true)
        try "from the host\n".write(toFile: share + "/file", atomically: true, encoding: .utf8)
        let out = try docker.cli([
            "run", "--rm", "-v", share + ":/data:ro", Self.image, "sh", "-c", "cat /data/file; touch /data/new 2>&1",
        ])
        #expect(out.status == 1, "\(out.all)")
        #expect(out.stdout == "from the host\ntouch: /data/new: Read-only file system\n", "\(out.all)")
        #expect(!FileManager.default.fileExists(atPath: share + "/new"))
    }

    @Test("a named volume keeps what one container wrote for the next")
    func namedVolume() throws {
        let docker = try docker
        let volume = docker.newName("vol")
        #expect(try docker.cli(["volume", "create", volume]).status == 0)
        defer { _ = try? docker.cli(["volume", "rm", "--force", volume]) }
        let write = try docker.cli(["run", "--rm", "-v", volume + ":/vol", Self.image, "sh", "-c", "echo kept >/vol/f"])
        #expect(write.status == 0, "\(write.all)")
        let read = try docker.cli(["run", "--rm", "-v", volume + ":/vol:ro", Self.image, "cat", "/vol/f"])
        #expect(read.stdout == "kept\n", "\(read.all)")
    }

    @Test("--net host: the container is in the host's network namespace")
    func hostNetwork() throws {
        let docker = try docker
        let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        let out = try docker.cli(["run", "--rm", "--net", "host", Self.image, "readlink", "/proc/self/ns/net"])
        #expect(out.stdout == host + "\n", "\(out.all)")
        let own = try docker.cli(["run", "--rm", "--net", "none", Self.image, "readlink", "/proc/self/ns/net"])
        #expect(own.status == 0 && own.stdout != host + "\n", "\(own.all)")
    }

    @Test("--net container:NAME: the second container is in the first one's network namespace")
    func containerNetwork() throws {
        let docker = try docker
        let name = docker.newName("netowner")
        _ = try docker.start(name, ["--net", "none", Self.image, "sleep", "1000"])
        defer { docker.remove(name) }
        let owner = try docker.cli(["exec", name, "readlink", "/proc/self/ns/net"])
        #expect(owner.status == 0, "\(owner.all)")
        let joined = try docker.cli([
            "run", "--rm", "--net", "container:" + name, Self.image, "readlink", "/proc/self/ns/net",
        ])
        #expect(joined.status == 0 && joined.stdout == owner.stdout, "\(joined.all) vs \(owner.all)")
    }

    @Test("--volumes-from: a second container sees what the first wrote to its volume")
    func volumesFrom() throws {
        let docker = try docker
        let name = docker.newName("volowner")
        _ = try docker.start(
            name, ["-v", "/shared", Self.image, "sh", "-c", "echo from the owner >/shared/f; sleep 1000"])
        defer { _ = try? docker.cli(["rm", "--force", "--volumes", name]) }
        var seen = Output(status: -1, stdout: "", stderr: "")
        try? waitFor(20) {
            seen = try docker.cli(["run", "--rm", "--volumes-from", name, Self.image, "cat", "/shared/f"])
            return seen.status == 0
        }
        #expect(seen.stdout == "from the owner\n", "\(seen.all)")
    }

    @Test("stats --no-stream: the container's pids and memory limit from its cgroup")
    func stats() throws {
        let docker = try docker
        let name = docker.newName("stats")
        _ = try docker.start(name, ["-m", "64m", "--memory-swap", "64m", Self.image, "sleep", "1000"])
        defer { docker.remove(name) }
        let out = try docker.cli(["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", name])
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout.hasPrefix("\(name) 1 "), "\(out.all)")
        #expect(out.stdout.hasSuffix(" / 64MiB\n"), "\(out.all)")
    }

    @Test("a user-defined network: --ip, ping between two containers, -p 127.0.0.1:PORT reached from the host")
    func userNetwork() throws {
        let docker = try docker
        let network = docker.newName("net")
        // A subnet of the suite's own; `iptables: false` keeps the host's firewall as it is.
        let subnet = "10.213.\(getpid() % 200 + 20)"
        let created = try docker.cli(["network", "create", "--subnet", subnet + ".0/24", network])
        #expect(created.status == 0, "\(created.all)")
        defer { _ = try? docker.cli(["network", "rm", network]) }
        let server = docker.newName("server")
        let port = 20_000 + Int(getpid() % 20_000)
        _ = try docker.start(
            server,
            [
                "--net", network, "--ip", subnet + ".10", "-p", "127.0.0.1:\(port):8080", Self.image, "sh", "-c",
                "echo served by the container >/tmp/index.html; exec httpd -f -p 8080 -h /tmp",
            ])
        defer { docker.remove(server) }
        let client = try docker.cli([
            "run", "--rm", "--net", network, "--ip", subnet + ".11", Self.image, "sh", "-c",
            "ip -4 addr show eth0 | grep -o 'inet [0-9./]*'; ping -c 1 -W 5 \(subnet).10 >/dev/null && echo pong",
        ])
        #expect(client.status == 0, "\(client.all)")
        #expect(client.stdout == "inet \(subnet).11/24\npong\n", "\(client.all)")
        #expect(
            try docker.inspect(server, "{{(index .NetworkSettings.Networks \"\(network)\").IPAddress}}") == subnet
                + ".10")
        var page = Output(status: -1, stdout: "", stderr: "")
        try? waitFor(20) {
            page = try sh(
                "/usr/bin/python3",
                [
                    "-c",
                    "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=2).read().decode(), end='')",
                    "http://127.0.0.1:\(port)/index.html",
                ])
            return page.status == 0
        }
        #expect(page.stdout == "served by the container\n", "\(page.all)")
    }

    @Test("docker build (the classic builder): RUN steps run in containers of apus, the image holds what they wrote")
    func build() throws {
        let docker = try docker
        let tag = docker.newName("built")
        let context = docker.dir + "/" + tag
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try """
        FROM \(Self.image)
        RUN echo built by RUN > /built && id -u > /uid
        RUN ["sh", "-c", "cat /built /uid; grep NoNewPrivs /proc/self/status"]

        """.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        // dockerd's default runtime (apus) runs every RUN step; --network none: the suite's
        // daemon has no bridge.
        var environment = docker.environment
        environment["DOCKER_BUILDKIT"] = "0"
        let built = try sh(
            DockerDaemon.dockerCLI,
            ["-H", "unix://" + docker.socket, "build", "--network", "none", "--no-cache", "-t", tag, context],
            environment: environment, timeout: 120)
        #expect(built.status == 0, "\(built.all)")
        #expect(built.stdout.contains("built by RUN\n0\nNoNewPrivs:\t0\n"), "\(built.all)")
        let run = try docker.cli(["run", "--rm", tag, "cat", "/built", "/uid"])
        #expect(run.status == 0 && run.stdout == "built by RUN\n0\n", "\(run.all)")
        #expect(try docker.cli(["rmi", tag]).status == 0)
        // The builder removes each step's container.
        let left = try docker.cli(["ps", "--all", "--quiet"])
        #expect(left.status == 0 && left.stdout.isEmpty, "\(left.all)")
    }

    /// Each v1 controller's hierarchy id (/proc/cgroups): which hierarchy it is bound to.
    static func hierarchies() -> [String] {
        DockerDaemon.read("/proc/cgroups").split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            $0.split(separator: "\t").prefix(2).joined(separator: " ")
        }
    }

    @Test(
        "systemd as PID 1 in its own cgroup namespace: boots to running, stops on SIGRTMIN+3, as under runc 1.5.1")
    func systemd() throws {
        let docker = try docker
        if Env.runc == nil { try Test.cancel("runc 1.5.1 is not at ../shared/tools/runc (or APUS_RUNC)") }
        let image = try docker.systemdImage()
        let before = Self.hierarchies()
        let hostNamespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/cgroup")
        var seen: [String: [String]] = [:]
        for runtime in ["apus", "runc15"] {
            let name = docker.newName("systemd-\(runtime)")
            // Never the host's /sys/fs/cgroup: an empty tmpfs, where systemd (CAP_SYS_ADMIN)
            // mounts the hierarchies itself, each rooted at the container's cgroup by its
            // cgroup namespace. SIGTERM would make systemd re-execute; SIGRTMIN+3 halts it.
            let id = try docker.start(
                name,
                [
                    "--runtime", runtime, "--cgroupns", "private", "--cap-add", "SYS_ADMIN", "--stop-signal",
                    "SIGRTMIN+3", "--tmpfs", "/sys/fs/cgroup", "--tmpfs", "/run", "--tmpfs", "/run/lock", image,
                    "/sbin/init",
                ])
            defer { docker.remove(name) }
            var state = ""
            try? waitFor(90) {
                state = try docker.cli(["exec", name, "systemctl", "is-system-running"]).stdout
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                return !["", "initializing", "starting"].contains(state)
            }
            let cgroup = try docker.cli(["exec", name, "cat", "/proc/1/cgroup"])
            let namespace = try docker.cli(["exec", name, "readlink", "/proc/1/ns/cgroup"])
            #expect(
                namespace.status == 0 && namespace.stdout != hostNamespace + "\n", "\(runtime): \(namespace.all)")
            let failed = try docker.cli(["exec", name, "systemctl", "list-units", "--failed", "--no-legend"])
            let stop = try docker.cli(["stop", "--time", "30", name])
            let exit = try docker.inspect(name, "{{.State.Status}} {{.State.ExitCode}}")
            seen[runtime] = [state, cgroup.stdout, failed.stdout, "\(stop.status)", exit]
            #expect(try docker.cli(["rm", name]).status == 0)
            docker.expectNoTraces(of: id)
        }
        let mine = seen["apus"] ?? []
        #expect(mine.first == "running", "\(mine)")
        #expect(mine.count == 5 && mine[1].hasSuffix("\n0::/init.scope\n"), "\(mine)")
        #expect(mine.suffix(2) == ["0", "exited 0"], "\(mine)")
        #expect(mine == seen["runc15"], "apus: \(mine)\nrunc: \(seen["runc15"] ?? [])")
        // No v1 controller changed hierarchy (systemd mounted the ones bound already).
        #expect(Self.hierarchies() == before)
    }
}

/// A dockerd of the suite's own: `--data-root`, `--exec-root`, the pid file and the socket
/// under `dir`, its managed containerd under the exec root with a namespace of its own,
/// `--cgroup-parent` named after the suite. With `.noBridge`, no bridge, no iptables, no
/// forwarding; with `.defaultBridge`, Docker's stock network (docker0, iptables NAT,
/// ip-masq, ip-forward) in a network namespace of the daemon's own.
final class DockerDaemon: @unchecked Sendable {
    enum Network {
        /// `bridge: none`, `iptables: false`: nothing of the host's network is changed.
        case noBridge
        /// The daemon's defaults, as a normal install has them, but dockerd is started by
        /// `unshare --net`: its bridge, veths, iptables rules, sysctls and docker-proxy live
        /// in that namespace and end with it, and the host's firewall is never touched.
        case defaultBridge
    }

    static let dockerd = PodmanLab.which("dockerd") ?? "/usr/sbin/dockerd"
    /// Debian's client, of the daemon's version (a newer one may sit in /usr/local/bin).
    static let dockerCLI = "/usr/bin/docker"
    static let unshare = "/usr/bin/unshare"
    static let nsenter = "/usr/bin/nsenter"

    static let skipReason: String? = {
        if let reason = Env.skipReason { return reason }
        for tool in [dockerd, dockerCLI] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "docker.io is not installed (apt-get install docker.io): no \(tool)"
        }
        for (tool, package) in [("/usr/bin/tar", "tar"), ("/usr/bin/script", "bsdutils")]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (apt-get install \(package))"
        }
        return nil
    }()

    static var enabled: Bool { skipReason == nil }
    static let cgroupV1 = !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")

    @TaskLocal static var current: DockerDaemon?
    /// Why the suite's dockerd could not be started; its tests are cancelled with it.
    @TaskLocal static var startFailure: String?

    struct Scope: SuiteTrait, TestScoping {
        var isRecursive: Bool { false }

        func provideScope(
            for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
        ) async throws {
            guard DockerDaemon.enabled else { return try await function() }
            let daemon = DockerDaemon()
            do {
                try daemon.startUp()
            } catch {
                _ = daemon.shutdown()
                return try await DockerDaemon.$startFailure.withValue("\(error)") { try await function() }
            }
            defer { for problem in daemon.shutdown() { Issue.record(Comment(rawValue: problem)) } }
            try await DockerDaemon.$current.withValue(daemon) { try await function() }
        }
    }

    let dir: String
    let apus: String
    let cgroupParent: String
    let namespace: String
    let hasRunc: Bool
    let network: Network
    var socket: String { dir + "/docker.sock" }
    /// First in dockerd's PATH: its `runc` is what BuildKit runs RUN steps with (dockerd
    /// 20.10's BuildKit ignores `runtimes` and `default-runtime`), a symlink to apus.
    var binDir: String { dir + "/bin" }
    /// dockerd's network namespace (its own with `.defaultBridge`).
    var netns: String { "/proc/\(pid)/ns/net" }
    /// The `--root` the containerd shim passes to apus: dockerd 20.10 names it runtime-runc
    /// for every runtime of io.containerd.runc.v2, whatever the runtime's name.
    var runtimeRoot: String { "\(dir)/exec/runtime-runc/\(namespace)" }
    private var pid: pid_t = 0
    let environment: [String: String]
    /// Paths dockerd 20.10 and its containerd create outside their roots whatever the
    /// flags say (the trust key, containerd's opt dir, the plugin socket dir), which did
    /// not exist before the suite: removed at the end.
    private let hostPathsToRestore: [String]
    private var counter = 0
    private let lock = NSLock()

    init(name: String = "apus-docker-\(getpid())", network: Network = .noBridge) {
        namespace = name
        dir = NSTemporaryDirectory() + namespace
        cgroupParent = namespace
        apus = Env.apus ?? "/nonexistent"
        hasRunc = Env.runc != nil
        self.network = network
        hostPathsToRestore = [
            "/etc/docker/key.json", "/etc/docker", "/opt/containerd/bin", "/opt/containerd/lib", "/opt/containerd",
            "/run/docker/plugins", "/run/docker",
        ].filter { !FileManager.default.fileExists(atPath: $0) }
        var env = ProcessInfo.processInfo.environment
        env["DOCKER_CONFIG"] = dir + "/cli"
        env["DOCKER_HOST"] = "unix://" + dir + "/docker.sock"
        env["PATH"] = dir + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        // dockerd sends its containerd SIGUSR1 before killing it when health checks fail
        // (a loaded machine), and containerd dumps its stacks to TMPDIR: keep that in dir.
        env["TMPDIR"] = dir + "/tmp"
        environment = env
    }

    /// The daemon.json the README shows, with the suite's paths: apus registered and the
    /// default, runc 1.5.1 beside it as `runc15` for comparisons.
    var daemonJSON: String {
        var runtimes = "    \"apus\": {\"path\": \"\(apus)\"}"
        if let runc = Env.runc { runtimes += ",\n    \"runc15\": {\"path\": \"\(runc)\"}" }
        let networking =
            network == .noBridge
            ? """
              "bridge": "none",
              "iptables": false,
              "ip-masq": false,
              "ip-forward": false,

            """ : ""
        return """
            {
              "data-root": "\(dir)/data",
              "exec-root": "\(dir)/exec",
              "pidfile": "\(dir)/docker.pid",
              "hosts": ["unix://\(socket)"],
              "containerd-namespace": "\(namespace)",
              "cgroup-parent": "/\(cgroupParent)",
              "runtimes": {
            \(runtimes)
              },
              "default-runtime": "apus",
            \(networking)  "storage-driver": "overlay2"
            }

            """
    }

    func startUp() throws {
        for sub in ["data", "exec", "cli", "tmp"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        try daemonJSON.write(toFile: dir + "/daemon.json", atomically: true, encoding: .utf8)
        try pointRunc(at: apus)
        // unshare(1) with --net alone does not fork: the pid is dockerd's.
        let launcher = network == .defaultBridge ? [Self.unshare, "--net", "--"] : []
        pid = try Self.spawnDaemon(
            launcher + [Self.dockerd, "--config-file", dir + "/daemon.json"], log: dir + "/dockerd.log",
            environment: environment)
        let deadline = Date().addingTimeInterval(30)
        while try cli(["version"], timeout: 5).status != 0 {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                throw TestFailure("dockerd exited: \(Self.read(dir + "/dockerd.log").suffix(1500))")
            }
            guard Date() < deadline else {
                throw TestFailure("dockerd did not answer in 30 s: \(Self.read(dir + "/dockerd.log").suffix(1500))")
            }
            usleep(50_000)
        }
        // The image: the busybox rootfs the other integration tests use, as a tar.
        let bundle = dir + "/bundle"
        let made = try sh("/bin/bash", [Env.repo.appendingPathComponent("spec-fixtures/make-bundle.sh").path, bundle])
        guard made.status == 0 else { throw TestFailure("make-bundle.sh failed: \(made.all)") }
        let tar = try sh("/usr/bin/tar", ["-C", bundle + "/rootfs", "-cf", dir + "/busybox.tar", "."])
        guard tar.status == 0 else { throw TestFailure("tar failed: \(tar.all)") }
        let imported = try cli(["import", "--change", "CMD [\"/bin/sh\"]", dir + "/busybox.tar", DockerTests.image])
        guard imported.status == 0 else { throw TestFailure("docker import failed: \(imported.all)") }
    }

    /// Makes `runc` in dockerd's PATH (`binDir`) the runtime at `path`, atomically (a new
    /// symlink renamed over the old): what BuildKit's next RUN step is run with.
    func pointRunc(at path: String) throws {
        try FileManager.default.createDirectory(atPath: binDir, withIntermediateDirectories: true)
        let temporary = binDir + "/.runc-\(UUID().uuidString)"
        try FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: path)
        guard rename(temporary, binDir + "/runc") == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TestFailure("rename \(temporary) to \(binDir)/runc: \(reason)")
        }
    }

    /// `PROGRAM ARGS…` in dockerd's network namespace (nsenter --net alone: the mount
    /// namespace stays the host's, so /sys and the cgroup hierarchies are the ones dockerd sees).
    func inNetns(_ program: String, _ args: [String], timeout: TimeInterval = 60) throws -> Output {
        try sh(Self.nsenter, ["--net=" + netns, "--", program] + args, environment: environment, timeout: timeout)
    }

    /// Starts the daemon with its own process group, every descriptor above 2 closed and
    /// signals reset (the test runner's threads block most of them).
    static func spawnDaemon(_ argv: [String], log: String, environment: [String: String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        PodmanLab.closeFrom3(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard spawned == 0 else { throw TestFailure("spawn \(argv[0]): \(String(cString: strerror(spawned)))") }
        return pid
    }

    static func subdirectories(of path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: path + "/" + $0, isDirectory: &isDir) && isDir.boolValue
        }
    }

    static func read(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func newName(_ prefix: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        counter += 1
        return "\(namespace)-\(prefix)-\(counter)"
    }

    /// A Debian image with systemd, of the host's release, from the apt sources the host
    /// uses (mmdebstrap, minbase), imported once per suite; its tar stays under `dir`.
    func systemdImage() throws -> String {
        let image = "apus-systemd:latest"
        if try cli(["image", "inspect", image]).status == 0 { return image }
        let mmdebstrap = "/usr/bin/mmdebstrap"
        if !FileManager.default.isExecutableFile(atPath: mmdebstrap) {
            try Test.cancel("\(mmdebstrap) is missing (apt-get install mmdebstrap)")
        }
        let release = Self.read("/etc/os-release").split(separator: "\n").first { $0.hasPrefix("VERSION_CODENAME=") }
        guard let codename = release?.split(separator: "=").last.map(String.init) else {
            throw TestFailure("no VERSION_CODENAME in /etc/os-release")
        }
        let tar = dir + "/debian-systemd.tar"
        let made = try sh(
            mmdebstrap,
            ["--quiet", "--variant=minbase", "--include=systemd,systemd-sysv", "--mode=root", codename, tar],
            timeout: 900)
        guard made.status == 0 else {
            try Test.cancel("mmdebstrap \(codename) failed (no apt mirror reachable?): \(made.all.suffix(600))")
        }
        let imported = try cli(["import", "--change", "CMD [\"/sbin/init\"]", tar, image], timeout: 300)
        guard imported.status == 0 else { throw TestFailure("docker import \(tar): \(imported.all)") }
        return image
    }

    /// `docker ARGS…` against the suite's dockerd.
    @discardableResult
    func cli(_ args: [String], timeout: TimeInterval = 60) throws -> Output {
        try sh(Self.dockerCLI, ["-H", "unix://" + socket] + args, environment: environment, timeout: timeout)
    }

    /// `docker run -d --name NAME ARGS…`; returns the container id.
    func start(_ name: String, _ args: [String]) throws -> String {
        let out = try cli(["run", "-d", "--name", name] + args)
        let id = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard out.status == 0, id.count == 64 else { throw TestFailure("docker run -d \(name) failed: \(out.all)") }
        return id
    }

    func inspect(_ name: String, _ format: String) throws -> String {
        try cli(["inspect", "--format", format, name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits (a bound, not a timing assertion) until `docker logs NAME` shows `text`.
    func waitForLogs(_ name: String, containing text: String, seconds: TimeInterval = 20) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try cli(["logs", name]).all.contains(text) { return true }
            usleep(50_000)
        }
        return false
    }

    func remove(_ name: String) {
        _ = try? cli(["rm", "--force", name])
    }

    /// No cgroup named after `name` (a container id) under the suite's cgroup parent.
    func expectNoCgroups(named name: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var cgroups: [String] = []
        for controller in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let parent = "/sys/fs/cgroup/\(controller)/\(cgroupParent)"
            cgroups += HostSnapshot.findDirectories(named: name, under: parent, depth: 2) ?? []
        }
        #expect(cgroups == [], sourceLocation: sourceLocation)
    }

    /// Nothing of container `id` is left: no cgroup, no runtime state, no process, no mount.
    func expectNoTraces(of id: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectNoCgroups(named: id, sourceLocation: sourceLocation)
        let state = "\(runtimeRoot)/\(id)"
        #expect(!FileManager.default.fileExists(atPath: state), "\(state)", sourceLocation: sourceLocation)
        let deadline = Date().addingTimeInterval(5)
        while !processes(mentioning: id).isEmpty && Date() < deadline { usleep(20_000) }
        #expect(processes(mentioning: id) == [], sourceLocation: sourceLocation)
        #expect(mounts(mentioning: id) == [], sourceLocation: sourceLocation)
    }

    func mounts(mentioning needle: String) -> [String] {
        Self.read("/proc/self/mountinfo").split(separator: "\n").map(String.init).filter { $0.contains(needle) }
    }

    /// Removes every container, stops dockerd (which stops its containerd), then removes
    /// what is left: shims, mounts under `dir` (lazily), the cgroup parent, `dir` and the
    /// host paths dockerd created. Returns what a test should not have left.
    func shutdown() -> [String] {
        var problems: [String] = []
        if pid > 0 {
            let left = ((try? cli(["ps", "-aq"]).stdout) ?? "").split(separator: "\n").map(String.init)
            if !left.isEmpty {
                problems.append("containers left by a test: \(left)")
                _ = try? cli(["rm", "--force"] + left)
            }
            kill(pid, SIGTERM)
            var status: Int32 = 0
            let deadline = Date().addingTimeInterval(20)
            while waitpid(pid, &status, WNOHANG) == 0 && Date() < deadline { usleep(20_000) }
            if kill(pid, 0) == 0 {
                problems.append("dockerd ignored SIGTERM for 20 s")
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
            }
            pid = 0
        }
        // Shims and containerd, had they outlived dockerd: ours mention `dir`.
        let strays = processes(mentioning: dir)
        if !strays.isEmpty { problems.append("processes left after dockerd stopped: \(strays)") }
        for stray in strays { kill(stray, SIGKILL) }
        let mounted = mounts(mentioning: dir + "/")
        for line in mounted.reversed() {
            let fields = line.split(separator: " ")
            if fields.count > 4 { _ = try? sh("/bin/umount", ["-l", String(fields[4])]) }
        }
        // The parent is where dockerd put it: under the hierarchy's root, or under the
        // test process's own cgroup when that is not the root (seen in a sandbox).
        var parents: [String] = []
        for controller in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            parents +=
                HostSnapshot.findDirectories(
                    named: cgroupParent, under: "/sys/fs/cgroup/\(controller)", depth: 4) ?? []
        }
        for parent in parents {
            // BuildKit puts its RUN steps' cgroups under PARENT/buildkit: runc removes each
            // step's own and leaves that directory (apus also removes the parents it made).
            let buildkit = parent + "/buildkit"
            for child in Self.subdirectories(of: buildkit) {
                problems.append("cgroup left: \(buildkit)/\(child)")
                rmdir(buildkit + "/" + child)
            }
            rmdir(buildkit)
            for child in Self.subdirectories(of: parent) {
                problems.append("cgroup left: \(parent)/\(child)")
                rmdir(parent + "/" + child)
            }
            rmdir(parent)
        }
        try? FileManager.default.removeItem(atPath: dir)
        for path in hostPathsToRestore where FileManager.default.fileExists(atPath: path) {
            // rmdir, not a recursive removal: a directory something else now uses is left alone.
            _ = unlink(path) == 0 || rmdir(path) == 0
        }
        return problems
    }
}
