import Foundation
import Testing

/// podman (4.3, Debian 12) with apus as its OCI runtime: every command goes through
/// podman and conmon exactly as a user's would, and each test asserts what the user
/// sees. Everything podman keeps lives under one temp dir (`--root`, `--runroot`,
/// `--tmpdir`, the network config dir), never in the host's default storage.
final class PodmanLab: Sendable {
    static let image = "localhost/apus-busybox:latest"

    /// nil when the suite can run; otherwise why not.
    static let skipReason: String? = {
        if let reason = Env.skipReason { return reason }
        for (tool, package) in [("podman", "podman"), ("conmon", "conmon"), ("script", "bsdutils"), ("tar", "tar")]
        where PodmanLab.which(tool) == nil {
            return "\(tool) is not installed (apt-get install \(package))"
        }
        return nil
    }()

    static var enabled: Bool { skipReason == nil }

    @TaskLocal static var current: PodmanLab?

    let dir: String
    let apus: String
    /// A shell script named `apus` that runs the real one and appends
    /// `STATUS<TAB>CWD<TAB>ARGS` to `invocationLog`.
    let loggingApus: String
    let invocationLog: String
    let environment: [String: String]
    /// Paths podman creates outside `dir` whatever its flags say, which did not
    /// exist before the suite: removed at the end.
    let hostPathsToRestore: [String]

    /// Paths podman 4.3 writes on the host regardless of --root/--runroot: the
    /// image blob-info cache (podman import), netavark's run dir, and the
    /// cgroupfs parent with conmon's own cgroup in every v1 hierarchy; and apus's default
    /// state root, since podman passes no --root.
    static func hostPathsPodmanTouches() -> [String] {
        var paths = [
            "/var/lib/containers/cache/blob-info-cache-v1.boltdb", "/var/lib/containers/cache", "/var/lib/containers",
            "/run/containers/networks", "/run/containers", "/run/apus",
        ]
        for controller in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let parent = "/sys/fs/cgroup/\(controller)/libpod_parent"
            paths += [parent + "/conmon", parent]
        }
        return paths
    }

    init() {
        apus = Env.apus ?? "/nonexistent"
        dir = NSTemporaryDirectory() + "apus-podman-\(getpid())"
        hostPathsToRestore = Self.hostPathsPodmanTouches().filter { !FileManager.default.fileExists(atPath: $0) }
        invocationLog = dir + "/invocations.log"
        loggingApus = dir + "/wrap/apus"
        var env = ProcessInfo.processInfo.environment
        env["CONTAINERS_CONF"] = dir + "/containers.conf"
        env["CONTAINERS_STORAGE_CONF"] = dir + "/storage.conf"
        env["SHELL"] = "/bin/sh"
        environment = env
    }

    /// Writes podman's configuration and the logging wrapper, and imports the image.
    func prepare() throws {
        for sub in ["root", "runroot", "tmp", "networks", "wrap"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        // No CAP_SYS_RESOURCE here: podman's default hard rlimits (1048576)
        // cannot be set by any runtime, so the suite sets its own.
        let containersConf = """
            [containers]
            default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

            [engine]
            cgroup_manager = "cgroupfs"
            events_logger = "file"

            [network]
            network_config_dir = "\(dir)/networks"

            """
        try containersConf.write(toFile: dir + "/containers.conf", atomically: true, encoding: .utf8)
        // The same with `no_pivot_root`, which makes podman pass `create --no-pivot`.
        try containersConf.replacingOccurrences(of: "[engine]\n", with: "[engine]\nno_pivot_root = true\n")
            .write(toFile: dir + "/containers-no-pivot.conf", atomically: true, encoding: .utf8)
        try """
        [storage]
        driver = "overlay"
        graphroot = "\(dir)/root"
        runroot = "\(dir)/runroot"

        """.write(toFile: dir + "/storage.conf", atomically: true, encoding: .utf8)

        try """
        #!/bin/sh
        \(apus) "$@"
        status=$?
        printf '%s\\t%s\\t%s\\n' "$status" "$PWD" "$*" >>\(invocationLog)
        exit $status

        """.write(toFile: loggingApus, atomically: true, encoding: .utf8)
        chmod(loggingApus, 0o755)

        // The image: the busybox rootfs the other integration tests use, as a tar.
        let bundle = dir + "/bundle"
        let made = try sh("/bin/bash", [Env.repo.appendingPathComponent("spec-fixtures/make-bundle.sh").path, bundle])
        guard made.status == 0 else { throw TestFailure("make-bundle.sh failed: \(made.all)") }
        let tar = try sh(
            PodmanLab.which("tar") ?? "/bin/tar", ["-C", bundle + "/rootfs", "-cf", dir + "/busybox.tar", "."])
        guard tar.status == 0 else { throw TestFailure("tar failed: \(tar.all)") }
        let imported = try podman(["import", "--change", "CMD [\"/bin/sh\"]", dir + "/busybox.tar", Self.image])
        guard imported.status == 0 else { throw TestFailure("podman import failed: \(imported.all)") }
    }

    /// The global flags every podman command of the suite gets.
    func globalFlags(runtime: String? = nil) -> [String] {
        [
            "--root", dir + "/root", "--runroot", dir + "/runroot", "--tmpdir", dir + "/tmp", "--runtime",
            runtime ?? apus,
        ]
    }

    /// `podman GLOBAL-FLAGS ARGS…` with apus (or `runtime`) as the runtime.
    @discardableResult
    func podman(_ args: [String], runtime: String? = nil, conf: String? = nil, timeout: TimeInterval = 30) throws
        -> Output
    {
        var env = environment
        if let conf { env["CONTAINERS_CONF"] = dir + "/" + conf }
        return try PodmanLab.spawn(
            [PodmanLab.which("podman") ?? "/usr/bin/podman"] + globalFlags(runtime: runtime) + args, environment: env,
            timeout: timeout)
    }

    /// `podman run --network none ARGS…`: the default bridge network works too, but
    /// netavark then adds firewall chains and sets net.ipv4.ip_forward on the host,
    /// which a test must not leave behind.
    @discardableResult
    func run(_ args: [String], runtime: String? = nil) throws -> Output {
        try podman(["run", "--network", "none"] + args, runtime: runtime)
    }

    /// `podman run -d --name NAME ARGS…`; returns the container id.
    func start(_ name: String, _ args: [String], runtime: String? = nil) throws -> String {
        let out = try run(["-d", "--name", name] + args, runtime: runtime)
        let id = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard out.status == 0, id.count == 64 else { throw TestFailure("podman run -d \(name) failed: \(out.all)") }
        return id
    }

    /// Runs `command` (a podman command line) under `script`, so podman's stdin
    /// is a real terminal of 30 rows and 100 columns. Types `input` once the
    /// container's shell has printed its prompt; returns everything the terminal
    /// showed and the exit status.
    func terminal(_ command: String, input: String, timeout: TimeInterval = 30) throws -> Output {
        try PodmanLab.spawn(
            [PodmanLab.which("script") ?? "/usr/bin/script", "-eqc", "stty cols 100 rows 30; " + command, "/dev/null"],
            environment: environment, input: input,
            // busybox ash's prompt: "/ # " for root, "/ $ " for a user.
            after: ["/ # ", "/ $ "], mergeOutput: true, timeout: timeout)
    }

    /// `podman inspect --format FORMAT NAME`, trimmed.
    func inspect(_ name: String, _ format: String) throws -> String {
        try podman(["inspect", "--format", format, name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The runtime invocations logged since the last call, as (status, argv).
    func takeInvocations() -> [(status: Int32, args: [String])] {
        let text = (try? String(contentsOfFile: invocationLog, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: invocationLog)
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let status = Int32(fields[0]) else { return nil }
            return (status, fields[2].split(separator: " ").map(String.init))
        }
    }

    /// Nothing of container `id` is left on the host: no apus state, no cgroup, no
    /// conmon or container process, and (all containers being gone) no mount
    /// under the suite's dir.
    func expectNoTraces(of id: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!FileManager.default.fileExists(atPath: "/run/apus/" + id), sourceLocation: sourceLocation)
        var cgroups: [String] = []
        for controller in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            cgroups += HostSnapshot.findDirectories(named: id, under: "/sys/fs/cgroup/" + controller, depth: 3) ?? []
        }
        #expect(cgroups == [], sourceLocation: sourceLocation)
        // conmon exits just after podman has reaped the container.
        try? waitFor(5) { processes(mentioning: id).isEmpty }
        #expect(processes(mentioning: id) == [], sourceLocation: sourceLocation)
        // containers/storage bind-mounts its overlay dir on itself, privately; a podman
        // that exits on an error (a failed start, with runc too) leaves that mount
        // until the next podman command unmounts it.
        let storage = " \(dir)/root/overlay "
        #expect(mounts(under: dir).filter { !$0.contains(storage) } == [], sourceLocation: sourceLocation)
    }

    func mounts(under path: String) -> [String] {
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return mountinfo.split(separator: "\n").map(String.init).filter { $0.contains(path + "/") }
    }

    /// Removes every container, unmounts what podman may have left under `dir`,
    /// removes `dir` and the host paths podman created outside it.
    func tearDown() {
        _ = try? podman(["rm", "--all", "--force", "--time", "0"])
        let leftover = mounts(under: dir)
        if !leftover.isEmpty { print("podman: mounts left under \(dir): \(leftover)") }
        for line in leftover.reversed() {
            let fields = line.split(separator: " ")
            if fields.count > 4 { _ = try? sh("/bin/umount", ["-l", String(fields[4])]) }
        }
        try? FileManager.default.removeItem(atPath: dir)
        var removed: [String] = []
        for path in hostPathsToRestore where FileManager.default.fileExists(atPath: path) {
            // rmdir, not a recursive removal: a directory something else now
            // uses is left alone.
            if unlink(path) == 0 || rmdir(path) == 0 { removed.append(path) }
        }
        if !removed.isEmpty { print("podman: removed what podman left on the host: \(removed.joined(separator: " "))") }
        let conmons = processes(mentioning: dir)
        if !conmons.isEmpty { print("podman: processes left that mention \(dir): \(conmons)") }
    }
}

extension PodmanLab {
    /// Runs `argv` to completion like `sh`, but with every descriptor above 2 closed in
    /// the child and signals reset. Foundation's Process hands its child a socket whose
    /// closing tells it the child exited; podman passes it on to conmon, which outlives
    /// `podman run -d`, so with Process the test would wait for the container's end.
    /// With `input`, writes it to the child's stdin once its output shows one of
    /// `prompts` (at once when there are none).
    static func spawn(
        _ argv: [String], environment: [String: String], input: String? = nil, after prompts: [String] = [],
        mergeOutput: Bool = false, timeout: TimeInterval = 30
    ) throws -> Output {
        let base = NSTemporaryDirectory() + "apus-podman-out-\(UInt32.random(in: 0..<UInt32.max))"
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        var stdin: [Int32] = [-1, -1]
        guard pipe(&stdin) == 0 else { throw TestFailure("pipe: \(String(cString: strerror(errno)))") }
        defer { close(stdin[1]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if input != nil {
            posix_spawn_file_actions_adddup2(&actions, stdin[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, base + ".out", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if mergeOutput {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, base + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        PodmanLab.closeFrom3(&actions)
        // The test runner's threads block most signals, and a child inherits the mask.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        close(stdin[0])
        guard spawned == 0 else { throw TestFailure("spawn \(argv[0]): \(String(cString: strerror(spawned)))") }

        let shown = { (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "" }
        var pending = input
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            guard reaped == 0 || errno == EINTR else {
                throw TestFailure("waitpid \(argv[0]): \(String(cString: strerror(errno)))")
            }
            if let text = pending, prompts.isEmpty || prompts.contains(where: { shown().contains($0) }) {
                _ = text.withCString { write(stdin[1], $0, strlen($0)) }
                pending = nil
            }
            if Date() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                break
            }
            usleep(10_000)
        }
        let signal = status & 0x7f
        return Output(
            status: signal == 0 ? (status >> 8) & 0xff : 128 + signal, stdout: shown(),
            stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
    }

    /// `posix_spawn_file_actions_addclosefrom_np(actions, 3)` (glibc 2.34), which Swift's
    /// Glibc module does not export; before it, a close action for each open descriptor.
    static func closeFrom3(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(actions, 3)
            return
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let fd = Int32(name), fd > 2 { posix_spawn_file_actions_addclose(actions, fd) }
        }
    }

    static func which(_ tool: String) -> String? {
        ["/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/local/bin/"].map { $0 + tool }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// A runtime invocation with its values replaced by placeholders: B bundle, F pid
    /// file, S console socket, P process file, R resources file, L log file, ID the
    /// container id.
    static func invocationShape(_ args: [String]) -> String {
        let placeholders = ["--bundle": "B", "--pid-file": "F", "--console-socket": "S", "--process": "P"]
        var shape: [String] = []
        var index = 0
        while index < args.count {
            let arg = args[index]
            if let placeholder = placeholders[arg] {
                shape += [arg, placeholder]
                index += 2
                continue
            }
            if arg.hasPrefix("--resources=") {
                shape.append("--resources=R")
            } else if arg.hasPrefix("--log=") {
                shape.append("--log=L")
            } else if arg.count == 64, arg.allSatisfy(\.isHexDigit) {
                shape.append("ID")
            } else {
                shape.append(arg)
            }
            index += 1
        }
        return shape.joined(separator: " ")
    }
}

/// Sets up one `PodmanLab` around the whole suite and tears it down after it.
struct PodmanLabScope: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard PodmanLab.skipReason == nil else { return try await function() }
        let lab = PodmanLab()
        defer { lab.tearDown() }
        try lab.prepare()
        try await PodmanLab.$current.withValue(lab) { try await function() }
    }
}

extension Trait where Self == PodmanLabScope {
    static var podmanLab: Self { Self() }
}

@Suite(
    "podman", .enabled(if: PodmanLab.enabled, Comment(rawValue: PodmanLab.skipReason ?? "")), .serialized, .podmanLab)
struct PodmanTests {
    var lab: PodmanLab {
        get throws { try #require(PodmanLab.current) }
    }

    @Test("podman info shows apus as the OCI runtime")
    func info() throws {
        let lab = try lab
        let out = try lab.podman(["info", "--format", "json"])
        #expect(out.status == 0, "\(out.all)")
        let json = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
        let host = json?["host"] as? [String: Any]
        let runtime = host?["ociRuntime"] as? [String: Any]
        // A runtime given by path is named by its path.
        #expect((runtime?["name"] as? String)?.hasSuffix("apus") == true)
        #expect(runtime?["path"] as? String == lab.apus)
        #expect((runtime?["version"] as? String)?.hasPrefix("apus version ") == true)
        #expect(host?["cgroupManager"] as? String == "cgroupfs")
    }

    @Test("run --rm: the process's output and exit code, and nothing left behind")
    func runRemove() throws {
        let lab = try lab
        let cidFile = lab.dir + "/run-rm.cid"
        let out = try lab.run([
            "--rm", "--cidfile", cidFile, PodmanLab.image, "sh", "-c", "echo hello from apus; echo oops >&2; exit 7",
        ])
        #expect(out.status == 7)
        #expect(out.stdout == "hello from apus\n")
        #expect(out.stderr == "oops\n")
        let id = try String(contentsOfFile: cidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try lab.podman(["container", "exists", id]).status == 1)
        lab.expectNoTraces(of: id)
    }

    @Test("run -d, exec, logs, stop, rm")
    func detached() throws {
        let lab = try lab
        let id = try lab.start(
            "detached",
            [
                PodmanLab.image, "sh", "-c",
                "echo started; trap 'echo stopping; exit 0' TERM; while :; do sleep 0.1; done",
            ])
        #expect(try lab.inspect("detached", "{{.State.Status}}") == "running")

        let exec = try lab.podman(["exec", "detached", "sh", "-c", "echo in exec; cat /proc/1/cmdline; exit 3"])
        #expect(exec.status == 3)
        #expect(exec.stdout.hasPrefix("in exec\nsh\0-c\0"))
        let env = try lab.podman([
            "exec", "-e", "GREETING=hi", "-w", "/tmp", "-u", "1000", "detached", "sh", "-c",
            "echo $GREETING $(pwd) $(id -u)",
        ])
        #expect(env.stdout == "hi /tmp 1000\n", "\(env.all)")

        try waitFor(5) { try lab.podman(["logs", "detached"]).stdout.contains("started") }
        let stop = try lab.podman(["stop", "--time", "10", "detached"])
        #expect(stop.status == 0, "\(stop.all)")
        #expect(try lab.inspect("detached", "{{.State.Status}} {{.State.ExitCode}}") == "exited 0")
        #expect(try lab.podman(["logs", "detached"]).stdout == "started\nstopping\n")
        let rm = try lab.podman(["rm", "detached"])
        #expect(rm.status == 0, "\(rm.all)")
        lab.expectNoTraces(of: id)
    }

    @Test("run -it and exec -it: a terminal from conmon's console socket, with the window size")
    func interactive() throws {
        let lab = try lab
        let podman = "podman " + lab.globalFlags().joined(separator: " ")
        let run = try lab.terminal(
            podman + " run -it --rm --network none \(PodmanLab.image) sh", input: "tty; stty size; exit 5\n")
        #expect(run.status == 5, "\(run.stdout)")
        #expect(run.stdout.contains("/dev/pts/0\r\n30 100\r\n"), "\(run.stdout)")

        let id = try lab.start("interactive", [PodmanLab.image, "sleep", "1000"])
        let exec = try lab.terminal(podman + " exec -it -u 1000 interactive sh", input: "tty; id -u; exit 4\n")
        #expect(exec.status == 4, "\(exec.stdout)")
        #expect(exec.stdout.contains("/dev/pts/"), "\(exec.stdout)")
        #expect(exec.stdout.contains("\r\n1000\r\n"), "\(exec.stdout)")
        try lab.podman(["rm", "--force", "--time", "0", "interactive"])
        lab.expectNoTraces(of: id)
    }

    /// A command that prints a v1 cgroup file, or its cgroup2 equivalent.
    static func cgroupFile(_ v1: String, _ v2: String) -> [String] {
        ["sh", "-c", "cat /sys/fs/cgroup/\(v1) 2>/dev/null || cat /sys/fs/cgroup/\(v2)"]
    }

    @Test("run --memory and --pids-limit: the limits in the container's cgroup")
    func limits() throws {
        let lab = try lab
        let memory = try lab.run(
            ["--rm", "--memory", "64m", PodmanLab.image] + Self.cgroupFile("memory/memory.limit_in_bytes", "memory.max")
        )
        #expect(memory.status == 0, "\(memory.all)")
        #expect(memory.stdout == "67108864\n")
        let pids = try lab.run(
            ["--rm", "--pids-limit", "42", PodmanLab.image] + Self.cgroupFile("pids/pids.max", "pids.max"))
        #expect(pids.status == 0, "\(pids.all)")
        #expect(pids.stdout == "42\n")
        // The limit holds: with sh and two sleeps, the third fork fails.
        let fork = try lab.run([
            "--rm", "--pids-limit", "3", PodmanLab.image, "sh", "-c", "sleep 5 & sleep 5 & sleep 5 & echo forked",
        ])
        #expect(fork.status == 2)
        #expect(fork.stdout == "")
        #expect(fork.stderr == "sh: can't fork: Resource temporarily unavailable\n")
    }

    @Test("run --cap-drop: the capability sets the process has, and chown denied")
    func capDrop() throws {
        let lab = try lab
        let only = try lab.run([
            "--rm", "--cap-drop", "ALL", "--cap-add", "CHOWN", PodmanLab.image, "grep", "^Cap", "/proc/self/status",
        ])
        #expect(only.status == 0, "\(only.all)")
        #expect(only.stdout.contains("CapEff:\t0000000000000001\n"), "\(only.stdout)")
        #expect(only.stdout.contains("CapBnd:\t0000000000000001\n"), "\(only.stdout)")

        let defaults = try lab.run(["--rm", PodmanLab.image, "grep", "^CapEff", "/proc/self/status"])
        // podman's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE
        // SETFCAP SETGID SETPCAP SETUID SYS_CHROOT.
        #expect(defaults.status == 0, "\(defaults.all)")
        #expect(defaults.stdout == "CapEff:\t00000000a80425fb\n", "\(defaults.all)")
        let dropped = try lab.run([
            "--rm", "--cap-drop", "CHOWN", PodmanLab.image, "sh", "-c",
            "grep ^CapEff /proc/self/status; touch /x; chown 1000 /x",
        ])
        #expect(dropped.status == 1, "\(dropped.all)")
        #expect(dropped.stdout == "CapEff:\t00000000a80425fa\n", "\(dropped.all)")
        #expect(dropped.stderr.contains("Operation not permitted"), "\(dropped.stderr)")
    }

    @Test("run --read-only: writing the rootfs fails with EROFS, /tmp stays writable")
    func readOnly() throws {
        let lab = try lab
        let out = try lab.run([
            "--rm", "--read-only", PodmanLab.image, "sh", "-c",
            "touch /x || echo rootfs refused; touch /tmp/x && echo tmp ok; grep ' / ' /proc/mounts",
        ])
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stderr.contains("touch: /x: Read-only file system"), "\(out.stderr)")
        #expect(out.stdout.hasPrefix("rootfs refused\ntmp ok\noverlay / overlay ro,"), "\(out.stdout)")
    }

    /// podman adds "tmpcopyup" to the options of every --tmpfs mount unless told notmpcopyup.
    @Test("run --tmpfs over an image directory: the tmpfs starts with the image's files")
    func tmpfsCopyUp() throws {
        let lab = try lab
        let out = try lab.run([
            "--rm", "--tmpfs", "/etc", PodmanLab.image, "sh", "-c",
            "grep -c ^apus: /etc/passwd; cat /etc/hostname > /dev/null && echo hostname; echo x > /etc/new && echo written; grep ' /etc ' /proc/mounts | cut -d' ' -f3",
        ])
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout == "1\nhostname\nwritten\ntmpfs\n", "\(out.all)")
        let empty = try lab.run(["--rm", "--tmpfs", "/etc:notmpcopyup", PodmanLab.image, "ls", "/etc/passwd"])
        #expect(empty.status != 0, "without tmpcopyup the image's /etc/passwd is hidden: \(empty.all)")
    }

    @Test(
        "run --user: the uid and gids the process gets",
        arguments: [
            ("1000:1000", "uid=1000(apus) gid=1000(apus) groups=1000(apus)"),
            ("nobody", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"),
            // podman adds a passwd entry for a uid the image does not know.
            ("4242", "uid=4242(4242) gid=0(root) groups=0(root)"),
        ])
    func user(_ user: String, _ expected: String) throws {
        let lab = try lab
        let out = try lab.run(["--rm", "--user", user, PodmanLab.image, "id"])
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout == expected + "\n")
    }

    @Test("pause and unpause: the freezer, podman's state, exec after thaw")
    func pause() throws {
        let lab = try lab
        let id = try lab.start("pausing", [PodmanLab.image, "sleep", "1000"])
        let pid = Int32(try lab.inspect("pausing", "{{.State.Pid}}")) ?? 0
        let freezer = try #require(freezerDirectory(of: pid))
        func freezerState() -> String {
            ((try? String(contentsOfFile: freezer + "/freezer.state", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        #expect(try lab.podman(["pause", "pausing"]).status == 0)
        #expect(try lab.inspect("pausing", "{{.State.Status}}") == "paused")
        #expect(freezerState() == "FROZEN")
        let refused = try lab.podman(["exec", "pausing", "true"])
        #expect(refused.status != 0)

        #expect(try lab.podman(["unpause", "pausing"]).status == 0)
        #expect(try lab.inspect("pausing", "{{.State.Status}}") == "running")
        #expect(freezerState() == "THAWED")
        #expect(try lab.podman(["exec", "pausing", "echo", "thawed"]).stdout == "thawed\n")
        try lab.podman(["rm", "--force", "--time", "0", "pausing"])
        lab.expectNoTraces(of: id)
    }

    @Test("top and stats --no-stream: the container's processes and cgroup usage")
    func topAndStats() throws {
        let lab = try lab
        let id = try lab.start("watched", ["--memory", "64m", PodmanLab.image, "sleep", "1000"])
        let top = try lab.podman(["top", "watched", "pid", "args"])
        #expect(top.status == 0, "\(top.all)")
        let rows = top.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(rows == ["PID COMMAND", "1 sleep 1000"], "\(top.stdout)")

        let stats = try lab.podman(["stats", "--no-stream", "--format", "json", "watched"])
        #expect(stats.status == 0, "\(stats.all)")
        let entries = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [[String: Any]]
        let entry = try #require(entries?.first)
        #expect(entry["pids"] as? String == "1")
        // 64 MiB in podman's decimal units.
        #expect((entry["mem_usage"] as? String)?.hasSuffix("/ 67.11MB") == true, "\(entry)")
        try lab.podman(["rm", "--force", "--time", "0", "watched"])
        lab.expectNoTraces(of: id)
    }

    @Test("update: new memory and CPU limits reach the running container's cgroup")
    func update() throws {
        let lab = try lab
        // podman 4.3's update has no --pids-limit (4.4 adds it).
        let id = try lab.start("updated", ["--memory", "64m", PodmanLab.image, "sleep", "1000"])
        let update = try lab.podman(["update", "--memory", "128m", "--cpu-shares", "512", "updated"])
        #expect(update.status == 0, "\(update.all)")
        let memory = try lab.podman(
            ["exec", "updated"] + Self.cgroupFile("memory/memory.limit_in_bytes", "memory.max"))
        #expect(memory.stdout == "134217728\n", "\(memory.all)")
        let shares = try lab.podman(["exec", "updated"] + Self.cgroupFile("cpu/cpu.shares", "cpu.weight"))
        // cgroup2 shows the weight runc 1.5.1's conversion gives 512 shares.
        let unified = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        #expect(shares.stdout == (unified ? "59\n" : "512\n"), "\(shares.all)")
        try lab.podman(["rm", "--force", "--time", "0", "updated"])
        lab.expectNoTraces(of: id)
    }

    @Test(
        "a container that cannot start: podman's error is apus's reason, with podman's exit code",
        arguments: [
            (
                ["/nonexistent"], Int32(127),
                "apus: exec: \"/nonexistent\": No such file or directory (config.json .process.args[0])"
            ),
            (
                ["/etc/passwd"], Int32(126),
                "apus: exec: \"/etc/passwd\": Permission denied (config.json .process.args[0])"
            ),
        ])
    func failingStart(_ command: [String], _ status: Int32, _ reason: String) throws {
        let lab = try lab
        let cidFile = lab.dir + "/failing-\(status).cid"
        let out = try lab.run(["--rm", "--cidfile", cidFile, PodmanLab.image] + command)
        #expect(out.status == status)
        #expect(out.stderr.hasPrefix("Error: \(lab.apus): \(reason)"), "\(out.stderr)")
        let id = try String(contentsOfFile: cidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        lab.expectNoTraces(of: id)
    }

    @Test("exec of a missing command: podman's error is apus's reason")
    func failingExec() throws {
        let lab = try lab
        let id = try lab.start("execfail", [PodmanLab.image, "sleep", "1000"])
        let out = try lab.podman(["exec", "execfail", "/nonexistent"])
        #expect(out.status == 127)
        #expect(
            out.stderr.hasPrefix(
                "Error: \(lab.apus): apus: exec: \"/nonexistent\": No such file or directory (exec process .args[0])"),
            "\(out.stderr)")
        #expect(try lab.inspect("execfail", "{{.State.Status}}") == "running")
        try lab.podman(["rm", "--force", "--time", "0", "execfail"])
        lab.expectNoTraces(of: id)
    }

    /// What makes podman and conmon call the runtime, each with the invocations
    /// (status and shape, see `invocationShape`) it must cause: together, every
    /// way podman 4.3 calls a runtime.
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var expected: Set<String>
        var trigger: @Sendable (PodmanLab, String) throws -> Void
        var testDescription: String { name }
    }

    static let create = "0 create --bundle B --pid-file F ID"
    static let start = "0 start ID"
    static let delete = "0 delete --force ID"
    static let execDetached = "0 exec --pid-file F --process P --detach ID"
    static let killed = "0 kill ID 9"

    static let invocations: [Row] = [
        Row(name: "podman info", expected: ["0 --version"]) { lab, runtime throws in
            #expect(try lab.podman(["info"], runtime: runtime).status == 0)
        },
        Row(name: "run --rm", expected: [create, start, delete]) { lab, runtime throws in
            #expect(try lab.run(["--rm", PodmanLab.image, "true"], runtime: runtime).status == 0)
        },
        Row(name: "run --rm of a missing command", expected: ["1 create --bundle B --pid-file F ID", delete]) {
            lab, runtime throws in
            #expect(try lab.run(["--rm", PodmanLab.image, "/nonexistent"], runtime: runtime).status == 127)
        },
        Row(name: "run -it", expected: ["0 create --bundle B --pid-file F --console-socket S ID", start, delete]) {
            lab, runtime throws in
            let command = "podman \(lab.globalFlags(runtime: runtime).joined(separator: " ")) run -it --rm"
            let out = try lab.terminal(command + " --network none \(PodmanLab.image) sh", input: "exit 6\n")
            #expect(out.status == 6, "\(out.stdout)")
        },
        Row(
            name: "run --preserve-fds",
            expected: ["0 create --bundle B --pid-file F --preserve-fds 1 ID", start, delete]
        ) { lab, runtime throws in
            let podman = "podman \(lab.globalFlags(runtime: runtime).joined(separator: " "))"
            let command = podman + " run --rm --network none --preserve-fds 1 \(PodmanLab.image) ls /proc/1/fd/3"
            let out = try PodmanLab.spawn(["/bin/sh", "-c", command + " 3</dev/null"], environment: lab.environment)
            #expect(out.stdout == "/proc/1/fd/3\n", "\(out.all)")
        },
        Row(
            name: "--runtime-flag log, log-format=json and a failing start",
            expected: [
                "1 --log=L --log-format=json create --bundle B --pid-file F ID",
                "0 --log=L --log-format=json delete --force ID",
            ]
        ) { lab, runtime throws in
            let log = lab.dir + "/runtime.log"
            let out = try lab.podman(
                [
                    "--runtime-flag", "log=" + log, "--runtime-flag", "log-format=json", "run", "--rm", "--network",
                    "none", PodmanLab.image, "/nonexistent",
                ], runtime: runtime)
            #expect(out.status == 127)
            // One JSON object per line; the last says what failed.
            let last = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").last ?? ""
            let entry = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
            #expect(entry?["level"] as? String == "error")
            #expect((entry?["msg"] as? String)?.hasPrefix("exec: \"/nonexistent\": No such file or directory") == true)
            #expect(entry?["time"] is String)
        },
        Row(
            name: "run with no_pivot_root", expected: ["0 create --bundle B --pid-file F --no-pivot ID", start, delete]
        ) {
            lab, runtime throws in
            let out = try lab.podman(
                ["run", "--rm", "--network", "none", PodmanLab.image, "true"], runtime: runtime,
                conf: "containers-no-pivot.conf")
            #expect(out.status == 0, "\(out.all)")
        },
        Row(name: "exec", expected: [create, start, execDetached, killed, delete]) { lab, runtime throws in
            _ = try lab.start("shape", [PodmanLab.image, "sleep", "1000"], runtime: runtime)
            #expect(try lab.podman(["exec", "shape", "true"], runtime: runtime).status == 0)
            try lab.podman(["rm", "--force", "--time", "0", "shape"], runtime: runtime)
        },
        Row(
            name: "exec of a missing command",
            expected: [create, start, "1 exec --pid-file F --process P --detach ID", killed, delete]
        ) { lab, runtime throws in
            _ = try lab.start("shape", [PodmanLab.image, "sleep", "1000"], runtime: runtime)
            #expect(try lab.podman(["exec", "shape", "/nonexistent"], runtime: runtime).status == 127)
            try lab.podman(["rm", "--force", "--time", "0", "shape"], runtime: runtime)
        },
        Row(
            name: "exec -it",
            expected: [
                create, start, "0 exec --pid-file F --process P --detach --tty --console-socket S ID", killed, delete,
            ]
        ) { lab, runtime throws in
            _ = try lab.start("shape", [PodmanLab.image, "sleep", "1000"], runtime: runtime)
            let command = "podman \(lab.globalFlags(runtime: runtime).joined(separator: " ")) exec -it shape sh"
            #expect(try lab.terminal(command, input: "exit 6\n").status == 6)
            try lab.podman(["rm", "--force", "--time", "0", "shape"], runtime: runtime)
        },
        Row(
            name: "exec --preserve-fds",
            expected: [create, start, "0 exec --pid-file F --process P --detach --preserve-fds 1 ID", killed, delete]
        ) { lab, runtime throws in
            _ = try lab.start("shape", [PodmanLab.image, "sleep", "1000"], runtime: runtime)
            let podman = "podman \(lab.globalFlags(runtime: runtime).joined(separator: " "))"
            let command = podman + " exec --preserve-fds 1 shape ls /proc/self/fd/3"
            let out = try PodmanLab.spawn(["/bin/sh", "-c", command + " 3</dev/null"], environment: lab.environment)
            #expect(out.status == 0, "\(out.all)")
            try lab.podman(["rm", "--force", "--time", "0", "shape"], runtime: runtime)
        },
        Row(name: "stop", expected: [create, start, "0 kill ID 15", delete]) { lab, runtime throws in
            _ = try lab.start(
                "shape", [PodmanLab.image, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"],
                runtime: runtime)
            #expect(try lab.podman(["stop", "shape"], runtime: runtime).status == 0)
            try lab.podman(["rm", "shape"], runtime: runtime)
        },
        Row(name: "kill -s HUP, kill", expected: [create, start, "0 kill ID 1", killed, delete]) {
            lab, runtime throws in
            _ = try lab.start("shape", [PodmanLab.image, "sleep", "1000"], runtime: runtime)
            #expect(try lab.podman(["kill", "--signal", "HUP", "shape"], runtime: runtime).status == 0)
            #expect(try lab.podman(["kill", "shape"], runtime: runtime).status == 0)
            try lab.podman(["rm", "shape"], runtime: runtime)
        },
        Row(name: "pause, unpause", expected: [create, start, "0 pause ID", "0 resume ID", killed, delete]) {
            lab, runtime throws in
            _ = try lab.start("shape", [PodmanLab.image, "sleep", "1000"], runtime: runtime)
            #expect(try lab.podman(["pause", "shape"], runtime: runtime).status == 0)
            #expect(try lab.podman(["unpause", "shape"], runtime: runtime).status == 0)
            try lab.podman(["rm", "--force", "--time", "0", "shape"], runtime: runtime)
        },
        Row(name: "update", expected: [create, start, "0 update --resources=R ID", killed, delete]) {
            lab, runtime throws in
            _ = try lab.start("shape", [PodmanLab.image, "sleep", "1000"], runtime: runtime)
            #expect(try lab.podman(["update", "--memory", "100m", "shape"], runtime: runtime).status == 0)
            try lab.podman(["rm", "--force", "--time", "0", "shape"], runtime: runtime)
        },
    ]

    @Test("every runtime invocation podman and conmon make, logged by a wrapper", arguments: invocations)
    func invocation(_ row: Row) throws {
        let lab = try lab
        _ = lab.takeInvocations()
        try row.trigger(lab, lab.loggingApus)
        let seen = Set(lab.takeInvocations().map { "\($0.status) \(PodmanLab.invocationShape($0.args))" })
        #expect(seen == row.expected)
    }
}
