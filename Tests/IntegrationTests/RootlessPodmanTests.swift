import Foundation
import OCI
import Testing

/// A throwaway user with /etc/subuid and /etc/subgid ranges, podman's per-user
/// configuration in its home (`cgroup_manager = "cgroupfs"`, `events_logger = "file"`, vfs
/// storage), copies of apus and runc 1.5.1 it can run, and the busybox image in its storage.
/// Everything lives in the user's home, which `tearDown` removes with the user after killing
/// every process of it (podman's pause process, conmon, slirp4netns, containers). The
/// rootless podman and buildah suites share it.
final class RootlessLab: @unchecked Sendable {
    static let image = "localhost/apus-busybox:latest"
    static let path = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

    /// nil when a rootless suite can run; otherwise why not.
    static let skipReason: String? = {
        if let reason = Env.skipReason { return reason }
        for (tool, package) in [
            ("/usr/bin/podman", "podman"), ("/usr/bin/newuidmap", "uidmap"), ("/usr/bin/newgidmap", "uidmap"),
            ("/usr/sbin/runuser", "util-linux"), ("/usr/bin/script", "bsdutils"), ("/usr/sbin/useradd", "passwd"),
        ] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (apt-get install \(package))"
        }
        if Env.runc == nil { return "runc 1.5.1 is not at ../shared/tools/runc beside the repository (or APUS_RUNC)" }
        return nil
    }()

    @TaskLocal static var current: RootlessLab?
    /// Why the suite's lab could not be set up (each test then fails with it).
    @TaskLocal static var setUpFailure: String?

    let user: String
    var uid: uid_t = 0
    var home = ""
    var userAdded = false
    /// "START COUNT" of the user's /etc/subuid range.
    var subordinate = ""
    var subordinateRange: Range<uid_t> = 0..<0
    /// This lab holds /dev/net/tun widened (`TunDevice`); released at the end.
    var holdsTun = false
    /// The lab's containers use slirp4netns, podman's default rootless network.
    var network = true
    /// Why slirp4netns cannot run here, if it cannot.
    var slirpSkip: String?
    var withPodman = true
    /// useradd gives the user ranges in /etc/subuid and /etc/subgid (false: none, so that
    /// podman maps only the user's own id).
    let subordinateIDs: Bool
    var apus: String { home + "/apus" }
    var runc: String { home + "/runc" }
    var runtimeDir: String { home + "/xdg" }

    init(prefix: String = "rl-pod", subordinateIDs: Bool = true) throws {
        user = "\(prefix)\(UInt32.random(in: 0..<UInt32.max) % 1_000_000)"
        self.subordinateIDs = subordinateIDs
        // SUB_UID_COUNT=0 (login.defs, overridden for this call): no range is allocated.
        let noRanges = subordinateIDs ? [] : ["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]
        let added = try sh("/usr/sbin/useradd", noRanges + ["--create-home", "--shell", "/bin/sh", user])
        guard added.status == 0 else { throw TestFailure("useradd \(user): \(added.all)") }
        userAdded = true
        guard let entry = getpwnam(user) else { throw TestFailure("getpwnam \(user) after useradd") }
        uid = entry.pointee.pw_uid
        home = String(cString: entry.pointee.pw_dir)
    }

    /// Removes the user, its home (storage included) and every process of it and of its
    /// subordinate ids; restores /dev/net/tun's mode.
    func tearDown() {
        if holdsTun { TunDevice.release() }
        guard userAdded else { return }
        killProcesses()
        let removed = try? sh("/usr/sbin/userdel", ["--remove", user])
        if removed?.status != 0 { print("rootless: userdel --remove \(user): \(removed?.all ?? "")") }
    }

    /// SIGKILL to every process of the user or of its subordinate ids, by pid, until none is
    /// left (podman leaves a pause process holding its user namespace; conmon may still be
    /// exiting). The ranges are the user's alone, so no other process is touched.
    func killProcesses() {
        for _ in 0..<100 {
            let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap {
                name -> Int32? in
                guard let pid = Int32(name) else { return nil }
                var st = stat()
                guard stat("/proc/\(name)", &st) == 0 else { return nil }
                return st.st_uid == uid || subordinateRange.contains(st.st_uid) ? pid : nil
            }
            if pids.isEmpty { return }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(20_000)
        }
    }

    /// Writes the user's podman configuration, copies the runtimes, imports the busybox
    /// image and widens /dev/net/tun. Returns why the suite must skip, if it must.
    func prepare() throws -> String? {
        let ranges = (try? String(contentsOfFile: "/etc/subuid", encoding: .utf8)) ?? ""
        let range = ranges.split(separator: "\n").first(where: { $0.hasPrefix("\(user):") })
        if subordinateIDs {
            guard let range else {
                return "useradd gave \(user) no /etc/subuid range (SUB_UID_COUNT in /etc/login.defs)"
            }
            let fields = range.split(separator: ":").dropFirst().compactMap { UInt32($0) }
            subordinate = fields.map(String.init).joined(separator: " ")
            if fields.count == 2 { subordinateRange = fields[0]..<(fields[0] + fields[1]) }
        } else if let range {
            throw TestFailure("useradd -K SUB_UID_COUNT=0 still gave \(user) a range: \(range)")
        }
        let files = [
            "xdg/": "",
            ".config/containers/containers.conf": """
            [containers]
            default_ulimits = []

            [engine]
            cgroup_manager = "cgroupfs"
            events_logger = "file"

            """,
            ".config/containers/storage.conf": "[storage]\ndriver = \"vfs\"\n",
        ]
        for (path, text) in files {
            let full = home + "/" + path
            if path.hasSuffix("/") {
                try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
                chmod(full, 0o700)
            } else {
                try FileManager.default.createDirectory(
                    atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try text.write(toFile: full, atomically: false, encoding: .utf8)
            }
        }
        // The runtimes the user runs: copies it can read and execute wherever the build
        // tree and ../shared are.
        try FileManager.default.copyItem(atPath: Env.apus ?? "/nonexistent", toPath: apus)
        try FileManager.default.copyItem(atPath: Env.runc ?? "/nonexistent", toPath: runc)
        guard withPodman else {
            _ = try sh("/bin/chown", ["-R", "\(user):", home])
            return nil
        }
        let bundle = try TestBundle()
        // Without ranges only uid 0 exists in the user's namespace: every file root's.
        let owners = subordinateIDs ? [] : ["--owner=0", "--group=0", "--numeric-owner"]
        let tar = try sh("/bin/tar", owners + ["-C", bundle.rootfs, "-cf", home + "/busybox.tar", "."])
        guard tar.status == 0 else { throw TestFailure("tar busybox rootfs: \(tar.all)") }
        _ = try sh("/bin/chown", ["-R", "\(user):", home])
        let imported = try podman(
            ["import", "--change", "CMD [\"/bin/sh\"]", home + "/busybox.tar", Self.image], timeout: 120)
        guard imported.status == 0 else { throw TestFailure("podman import: \(imported.all)") }

        if network {
            slirpSkip = try TunDevice.widen()
            holdsTun = slirpSkip == nil
        }
        return nil
    }

    /// The environment podman gets from a login of the user, without USER.
    var environment: [String] { [Self.path, "HOME=\(home)", "XDG_RUNTIME_DIR=\(runtimeDir)"] }

    /// The command line that runs `podman [--runtime R] ARGS…` as the user.
    func podmanArgv(_ args: [String], runtime: String?) -> [String] {
        let global = runtime.map { ["--runtime", $0] } ?? []
        return ["/usr/sbin/runuser", "-u", user, "--", "/usr/bin/env", "-i"] + environment + ["/usr/bin/podman"]
            + global + args
    }

    /// `podman ARGS…` as the user. PodmanLab.spawn, not Process: conmon outlives
    /// `podman run -d` and would inherit the descriptor Process waits on.
    func podman(_ args: [String], runtime: String? = nil, timeout: TimeInterval = 60) throws -> Output {
        try PodmanLab.spawn(
            podmanArgv(args, runtime: runtime), environment: ["PATH": "/usr/bin:/bin"], timeout: timeout)
    }

    /// `podman ARGS…` under `script`, so podman's stdin is a terminal; types `input` once the
    /// container's shell shows its prompt.
    func terminal(_ args: [String], runtime: String, input: String) throws -> Output {
        let command = podmanArgv(args, runtime: runtime).map { "'\($0)'" }.joined(separator: " ")
        return try PodmanLab.spawn(
            ["/usr/bin/script", "-eqc", "stty cols 100 rows 30; " + command, "/dev/null"],
            environment: ["PATH": "/usr/bin:/bin"], input: input, after: ["/ # "], mergeOutput: true, timeout: 60)
    }

    /// What apus left in its state root: nothing, once every container is gone.
    func stateLeft() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: runtimeDir + "/apus")) ?? []
    }
}

/// slirp4netns opens /dev/net/tun as the user; without udev the node is 0600 root and
/// every runtime's default rootless network fails on it. Labs widen it while any of them
/// needs it, in this process or in another test run on the host (suites run concurrently,
/// and so do other checkouts' suites); the last holder restores the mode it had. Holds are
/// shared flocks on the device itself; widening and the last-holder check run under a flock
/// of /dev/net, and the mode to restore waits in `modeFile` until it is restored (so a
/// crashed run's successor restores it). Nothing of it is left once the mode is back.
enum TunDevice {
    static let device = "/dev/net/tun"
    static let modeFile = "/run/apus-test-tun.mode"
    static let lock = NSLock()
    /// This process's hold: one descriptor with a shared flock, and how many labs use it.
    nonisolated(unsafe) static var holdFD: Int32 = -1
    nonisolated(unsafe) static var holders = 0

    /// Runs `body` holding the host-wide mutex.
    static func exclusively<T>(_ body: () throws -> T) throws -> T {
        let fd = open("/dev/net", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw TestFailure("open /dev/net: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        return try body()
    }

    /// Takes a hold (0666 while held); nil, or why slirp4netns cannot run here (no hold).
    static func widen() throws -> String? {
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/slirp4netns") {
            return "/usr/bin/slirp4netns is missing (apt-get install slirp4netns)"
        }
        lock.lock()
        defer { lock.unlock() }
        return try exclusively { () throws -> String? in
            var st = stat()
            guard stat(device, &st) == 0 else { return "\(device) does not exist (modprobe tun)" }
            if holders == 0 {
                // Opening the device makes no interface (that takes TUNSETIFF).
                let fd = open(device, O_RDONLY | O_CLOEXEC)
                guard fd >= 0, flock(fd, LOCK_SH) == 0 else {
                    throw TestFailure("hold \(device): \(String(cString: strerror(errno)))")
                }
                holdFD = fd
                // The first holder on the host remembers the mode (unless a crashed run
                // left it: then that one is still the one to restore).
                if !FileManager.default.fileExists(atPath: modeFile) && st.st_mode & 0o666 != 0o666 {
                    try String(st.st_mode & 0o7777, radix: 8).write(toFile: modeFile, atomically: true, encoding: .utf8)
                }
                if st.st_mode & 0o666 != 0o666 { chmod(device, 0o666) }
            }
            holders += 1
            return nil
        }
    }

    /// Ends a hold; the last holder on the host restores the remembered mode.
    static func release() {
        lock.lock()
        defer { lock.unlock() }
        holders -= 1
        guard holders == 0 else { return }
        _ = try? exclusively {
            // Every other holder keeps a shared lock: an exclusive one is ours only if none is left.
            if flock(holdFD, LOCK_EX | LOCK_NB) == 0,
                let text = try? String(contentsOfFile: modeFile, encoding: .utf8),
                let mode = mode_t(text.trimmingCharacters(in: .whitespacesAndNewlines), radix: 8)
            {
                chmod(device, mode)
                unlink(modeFile)
            }
            close(holdFD)
            holdFD = -1
        }
    }
}

/// Sets up one `RootlessLab` around a suite and tears it down after it, failure or not.
struct RootlessLabScope: SuiteTrait, TestScoping {
    var prefix: String
    /// Configure podman and import the image (not needed by suites that run apus directly).
    var podman = true
    var subordinateIDs = true
    /// slirp4netns: /dev/net/tun widened while the suite runs.
    var network = true
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard RootlessLab.skipReason == nil else { return try await function() }
        let lab: RootlessLab
        do {
            lab = try RootlessLab(prefix: prefix, subordinateIDs: subordinateIDs)
            lab.withPodman = podman
            lab.network = network
        } catch {
            return try await RootlessLab.$setUpFailure.withValue("\(error)") { try await function() }
        }
        defer { lab.tearDown() }
        let outcome: String?
        do {
            outcome = try lab.prepare().map { "skip: " + $0 }
        } catch {
            outcome = "\(error)"
        }
        try await RootlessLab.$setUpFailure.withValue(outcome) {
            try await RootlessLab.$current.withValue(lab) { try await function() }
        }
    }
}

extension Trait where Self == RootlessLabScope {
    static func rootlessLab(
        prefix: String, podman: Bool = true, subordinateIDs: Bool = true, network: Bool = true
    ) -> Self {
        Self(prefix: prefix, podman: podman, subordinateIDs: subordinateIDs, network: network)
    }
}

extension RootlessLab {
    /// The suite's lab; a test is cancelled (skipped with the reason) when the machine
    /// lacks something, and fails when setting the lab up failed.
    static var forTest: RootlessLab {
        get throws {
            if let failure = setUpFailure {
                if failure.hasPrefix("skip: ") { try Test.cancel(Comment(rawValue: String(failure.dropFirst(6)))) }
                throw TestFailure("setting up the rootless lab: \(failure)")
            }
            return try #require(current)
        }
    }
}

/// Real rootless podman (issue 15): podman runs apus as uid 0 of the user's user namespace
/// with XDG_RUNTIME_DIR set and USER unset; every scenario runs under runc 1.5.1 too, under
/// the same podman and user, and must show the same.
@Suite(
    "rootless podman", .enabled(if: RootlessLab.skipReason == nil, Comment(rawValue: RootlessLab.skipReason ?? "")),
    .serialized, .rootlessLab(prefix: "rl-pod"))
struct RootlessPodmanTests {
    var lab: RootlessLab { get throws { try RootlessLab.forTest } }

    /// `podman run ARGS…` under apus and under runc; expects the same status and output.
    @discardableResult
    func compare(
        _ args: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (apus: Output, runc: Output) {
        let lab = try lab
        let mine = try lab.podman(["run"] + args, runtime: lab.apus)
        let theirs = try lab.podman(["run"] + args, runtime: lab.runc)
        #expect(mine.status == theirs.status, "apus: \(mine.all)\nrunc: \(theirs.all)", sourceLocation: sourceLocation)
        #expect(mine.stdout == theirs.stdout, "apus: \(mine.all)\nrunc: \(theirs.all)", sourceLocation: sourceLocation)
        return (mine, theirs)
    }

    @Test("run --rm, run -d / exec / stop / rm: as with runc 1.5.1, and nothing left in $XDG_RUNTIME_DIR/apus")
    func runs() throws {
        let lab = try lab
        let script = "echo hello; id -u; cat /proc/self/uid_map | tr -s ' '; exit 7"
        let (mine, _) = try compare(["--rm", "--network", "none", RootlessLab.image, "sh", "-c", script])
        #expect(mine.status == 7, "\(mine.all)")
        #expect(mine.stdout == "hello\n0\n 0 \(lab.uid) 1\n 1 \(lab.subordinate)\n", "\(mine.all)")

        // run -d, exec (output and exit status), stop (SIGTERM to PID 1, whose trap sets the
        // exit status), rm: the same statuses and output under both runtimes.
        var seen: [String: [String]] = [:]
        for runtime in [lab.apus, lab.runc] {
            let name = "rl-box\(UInt32.random(in: 0..<UInt32.max) % 100_000)"
            let started = try lab.podman(
                [
                    "run", "-d", "--name", name, "--network", "none", RootlessLab.image, "sh", "-c",
                    "trap 'exit 42' TERM; touch /tmp/ready; sleep 1000 & wait",
                ], runtime: runtime)
            #expect(started.status == 0, "\(runtime): \(started.all)")
            // The trap is set once /tmp/ready exists.
            try? waitFor(10) {
                try lab.podman(["exec", name, "test", "-e", "/tmp/ready"], runtime: runtime).status == 0
            }
            let exec = try lab.podman(
                ["exec", name, "sh", "-c", "id -u; cat /proc/1/cmdline | tr '\\0' ' '; exit 3"], runtime: runtime)
            let stop = try lab.podman(["stop", "--time", "10", name], runtime: runtime)
            let code = try lab.podman(["inspect", "--format", "{{.State.ExitCode}}", name], runtime: runtime)
            let removed = try lab.podman(["rm", name], runtime: runtime)
            #expect(removed.status == 0, "\(runtime): \(removed.all)")
            seen[runtime] = ["\(exec.status) \(exec.stdout)", "\(stop.status)", code.stdout]
        }
        #expect(
            seen[lab.apus] == ["3 0\nsh -c trap 'exit 42' TERM; touch /tmp/ready; sleep 1000 & wait ", "0", "42\n"],
            "\(seen)")
        #expect(seen[lab.apus] == seen[lab.runc], "\(seen)")
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
    }

    /// One `podman run --rm` scenario: flags, command, and what it must print (a function of
    /// the lab, for the user's uid). runc must print the same.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var flags: [String]
        var command: String
        var expected: @Sendable (RootlessLab) -> String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "the default network: slirp4netns's tap0", flags: [],
            command: "ls /sys/class/net; ip -4 addr show tap0 | grep -o 'inet [0-9./]*'",
            expected: { _ in "lo\ntap0\ninet 10.0.2.100/24\n" }),
        Case(
            name: "--network none: loopback only", flags: ["--network", "none"],
            command: "ls /sys/class/net; cat /sys/class/net/lo/operstate", expected: { _ in "lo\nunknown\n" }),
        Case(
            name: "id, and --group-add tty: root of the user namespace, its groups exactly those asked for",
            flags: ["--group-add", "tty"],
            command: "id; grep -E '^(Uid|Gid|Groups)' /proc/self/status",
            expected: { _ in
                "uid=0(root) gid=0(root) groups=5(tty)\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t5 \n"
            }),
        Case(
            name: "--user 1000:1000: the image's user, mapped from the user's range", flags: ["--user", "1000:1000"],
            command: "id; cat /proc/self/uid_map | tr -s ' '",
            expected: { lab in
                "uid=1000(apus) gid=1000(apus) groups=1000(apus)\n 0 \(lab.uid) 1\n 1 \(lab.subordinate)\n"
            }),
        Case(
            name: "--userns=keep-id: the user's own uid, mapped to itself", flags: ["--userns=keep-id"],
            command: "id -u; cat /proc/self/uid_map | tr -s ' '",
            expected: { lab in
                "\(lab.uid)\n 0 1 \(lab.uid)\n \(lab.uid) 0 1\n \(lab.uid + 1) \(lab.uid + 1) \(65536 - lab.uid)\n"
            }),
        Case(
            name: "--read-only", flags: ["--read-only"], command: "touch /x 2>&1; echo $?; touch /tmp/x && echo tmp",
            expected: { _ in "touch: /x: Read-only file system\n1\ntmp\n" }),
        Case(
            name: "--tmpfs /scratch", flags: ["--tmpfs", "/scratch"],
            command: "grep ' /scratch ' /proc/mounts | cut -d' ' -f1-4; touch /scratch/a && echo written",
            expected: { lab in
                "tmpfs /scratch tmpfs rw,nosuid,nodev,relatime,uid=\(lab.uid),gid=\(lab.uid)\nwritten\n"
            }),
        Case(
            name: "--cap-drop ALL --cap-add CHOWN", flags: ["--cap-drop", "ALL", "--cap-add", "CHOWN"],
            command: "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status",
            expected: { _ in "CapPrm:\t0000000000000001\nCapEff:\t0000000000000001\nCapBnd:\t0000000000000001\n" }),
        Case(
            name: "--cap-drop CHOWN: chown fails", flags: ["--cap-drop", "CHOWN"],
            command: "grep CapEff /proc/self/status; chown 1 /tmp 2>/dev/null || echo denied",
            expected: { _ in "CapEff:\t00000000800405fa\ndenied\n" }),
        Case(
            name: "--security-opt no-new-privileges", flags: ["--security-opt", "no-new-privileges"],
            command: "grep NoNewPrivs /proc/self/status", expected: { _ in "NoNewPrivs:\t1\n" }),
        Case(
            name: "--ulimit nofile=1024:2048", flags: ["--ulimit", "nofile=1024:2048"],
            command: "ulimit -n; ulimit -Hn", expected: { _ in "1024\n2048\n" }),
        Case(
            name: "--pid host: the host's pid namespace", flags: ["--pid", "host"],
            command: "readlink /proc/self/ns/pid",
            expected: { _ in
                ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")) ?? "?") + "\n"
            }),
        Case(
            // On cgroup v1 podman drops the limit with a warning, whatever the runtime.
            name: "--memory 64m on cgroup v1: dropped, the container runs", flags: ["--memory", "64m"],
            command: "echo ran", expected: { _ in "ran\n" }),
    ]

    @Test("podman run --rm FLAGS as the user: what the process sees, the same under runc 1.5.1", arguments: cases)
    func runCase(_ item: Case) throws {
        let lab = try lab
        // slirp4netns only where a case asks for the default network.
        let network = item.flags.isEmpty || item.flags.first == "--network" ? [] : ["--network", "none"]
        if item.flags.isEmpty, let reason = lab.slirpSkip { try Test.cancel(Comment(rawValue: reason)) }
        if item.flags.first == "--memory",
            FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        {
            try Test.cancel("cgroup v2 here: --memory needs a delegated subtree (the VM's test)")
        }
        let (mine, _) = try compare(
            ["--rm"] + network + item.flags + [RootlessLab.image, "sh", "-c", item.command])
        #expect(mine.status == 0, "\(mine.all)")
        #expect(mine.stdout == item.expected(lab), "\(mine.all)")
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
    }

    @Test("-v of a directory the user owns: read, and new files on the host owned by the user")
    func userVolume() throws {
        let lab = try lab
        let share = lab.home + "/share"
        try FileManager.default.createDirectory(atPath: share, withIntermediateDirectories: true)
        try "from the host\n".write(toFile: share + "/file", atomically: false, encoding: .utf8)
        _ = try sh("/bin/chown", ["-R", "\(lab.user):", share])
        for runtime in [lab.apus, lab.runc] {
            let out = try lab.podman(
                [
                    "run", "--rm", "--network", "none", "-v", share + ":/data", RootlessLab.image, "sh", "-c",
                    "cat /data/file; echo new >/data/new; stat -c '%u %n' /data/file /data/new",
                ], runtime: runtime)
            #expect(out.status == 0, "\(runtime): \(out.all)")
            #expect(out.stdout == "from the host\n0 /data/file\n0 /data/new\n", "\(runtime): \(out.all)")
            var st = stat()
            #expect(stat(share + "/new", &st) == 0 && st.st_uid == lab.uid, "\(runtime): new file's owner \(st.st_uid)")
            unlink(share + "/new")
        }
    }

    @Test("-p 127.0.0.1:PORT:8080: the container's server reached from the host, under both runtimes")
    func publish() throws {
        let lab = try lab
        if let reason = lab.slirpSkip { try Test.cancel(Comment(rawValue: reason)) }
        for runtime in [lab.apus, lab.runc] {
            let port = try freePort()
            let name = "rl-web\(port)"
            let started = try lab.podman(
                [
                    "run", "-d", "--name", name, "-p", "127.0.0.1:\(port):8080", RootlessLab.image, "sh", "-c",
                    "echo served by the container >/tmp/index.html; exec httpd -f -p 8080 -h /tmp",
                ], runtime: runtime)
            #expect(started.status == 0, "\(runtime): \(started.all)")
            var page = Output(status: -1, stdout: "", stderr: "")
            try? waitFor(30) {
                // busybox-static's wget crashes (static glibc); python3 is a test dependency.
                page = try sh(
                    "/usr/bin/python3",
                    [
                        "-c",
                        "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=2).read().decode(), end='')",
                        "http://127.0.0.1:\(port)/index.html",
                    ])
                return page.status == 0
            }
            #expect(page.stdout == "served by the container\n", "\(runtime): \(page.all)")
            let removed = try lab.podman(["rm", "--force", "--time", "0", name], runtime: runtime)
            #expect(removed.status == 0, "\(runtime): \(removed.all)")
        }
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
    }

    /// A port nothing listens on now, from the kernel.
    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw TestFailure("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("run -it and exec -it: a terminal, and the shell's exit status, as with runc")
    func terminal() throws {
        let lab = try lab
        for runtime in [lab.apus, lab.runc] {
            let run = try lab.terminal(
                ["run", "-it", "--rm", "--network", "none", RootlessLab.image, "sh"], runtime: runtime,
                input: "tty; exit 6\n")
            #expect(run.status == 6, "\(runtime): \(run.stdout)")
            #expect(run.stdout.contains("/dev/pts/0"), "\(runtime): \(run.stdout)")

            let name = "rl-tty\(UInt32.random(in: 0..<UInt32.max) % 1000)"
            let started = try lab.podman(
                ["run", "-d", "--name", name, "--network", "none", RootlessLab.image, "sleep", "1000"],
                runtime: runtime)
            #expect(started.status == 0, "\(runtime): \(started.all)")
            let exec = try lab.terminal(["exec", "-it", name, "sh"], runtime: runtime, input: "tty; exit 5\n")
            #expect(exec.status == 5, "\(runtime): \(exec.stdout)")
            #expect(exec.stdout.contains("/dev/pts/"), "\(runtime): \(exec.stdout)")
            _ = try lab.podman(["rm", "--force", "--time", "0", name], runtime: runtime)
        }
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
    }

    @Test("top, pause (refused on cgroup v1 as with runc), kill: the same under both runtimes")
    func topPauseKill() throws {
        let lab = try lab
        var seen: [String: [Output]] = [:]
        for runtime in [lab.apus, lab.runc] {
            let name = "rl-top\(UInt32.random(in: 0..<UInt32.max) % 1000)"
            let started = try lab.podman(
                ["run", "-d", "--name", name, "--network", "none", RootlessLab.image, "sleep", "1000"],
                runtime: runtime)
            #expect(started.status == 0, "\(runtime): \(started.all)")
            let top = try lab.podman(["top", name, "pid", "args"], runtime: runtime)
            let rows = Output(
                status: top.status,
                stdout: top.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
                    .joined(separator: "\n"), stderr: "")
            let pause = try lab.podman(["pause", name], runtime: runtime)
            let kill = try lab.podman(["kill", name], runtime: runtime)
            let wait = try lab.podman(["wait", name], runtime: runtime)
            _ = try lab.podman(["rm", "--force", "--time", "0", name], runtime: runtime)
            seen[runtime] = [rows, pause, kill, wait]
            #expect(rows.stdout == "PID COMMAND\n1 sleep 1000", "\(runtime): \(top.all)")
            #expect(kill.status == 0, "\(runtime): \(kill.all)")
            #expect(wait.stdout == "137\n", "\(runtime): \(wait.all)")
        }
        let mine = seen[lab.apus] ?? []
        let theirs = seen[lab.runc] ?? []
        #expect(mine.map(\.status) == theirs.map(\.status))
        #expect(mine.map(\.stderr) == theirs.map(\.stderr))
        if !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
            // cgroup v1: a rootless container has no freezer cgroup of its own.
            #expect(mine.count == 4 && mine[1].status == 125, "\(mine.map(\.all))")
            #expect(
                mine.count == 4
                    && mine[1].stderr.contains("can not pause containers on rootless containers with cgroup V1"),
                "\(mine.map(\.all))")
        }
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
    }

    @Test("a missing command: exit 127 and podman's \"not found\" message, as with runc")
    func missingCommand() throws {
        let lab = try lab
        for command in ["/nonexistent", "nonexistent-command"] {
            let (mine, theirs) = try compare(["--rm", "--network", "none", RootlessLab.image, command])
            #expect(mine.status == 127, "\(mine.all)")
            let notFound = "OCI runtime attempted to invoke a command that was not found"
            #expect(mine.stderr.contains(notFound) && theirs.stderr.contains(notFound), "\(mine.all)\n\(theirs.all)")
            #expect(mine.stderr.contains("Error: \(lab.apus): apus: exec: \"\(command)\""), "\(mine.all)")
        }
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
    }

    @Test("20 sequential run --rm leave no container, no state and no process behind")
    func sequential() throws {
        let lab = try lab
        for index in 0..<20 {
            let out = try lab.podman(
                ["run", "--rm", "--network", "none", RootlessLab.image, "echo", "\(index)"], runtime: lab.apus)
            #expect(out.status == 0 && out.stdout == "\(index)\n", "\(out.all)")
        }
        let left = try lab.podman(["ps", "--all", "--quiet"])
        #expect(left.status == 0 && left.stdout.isEmpty, "\(left.all)")
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
        // conmon exits just after podman has reaped the container.
        try? waitFor(5) { processes(mentioning: "/usr/bin/conmon --api-version").allSatisfy { !owned($0, by: lab) } }
        let conmons = processes(mentioning: "/usr/bin/conmon --api-version").filter { owned($0, by: lab) }
        #expect(conmons.isEmpty, "\(conmons)")
    }

    func owned(_ pid: Int32, by lab: RootlessLab) -> Bool {
        var st = stat()
        return stat("/proc/\(pid)", &st) == 0 && st.st_uid == lab.uid
    }
}

/// Rootless podman for a user without /etc/subuid and /etc/subgid ranges: podman warns and
/// maps only the user's own id (its user namespace denies setgroups). Images whose files
/// all belong to root still run; each scenario runs under runc 1.5.1 too and must end the
/// same way.
@Suite(
    "rootless podman without subordinate ids",
    .enabled(if: RootlessLab.skipReason == nil, Comment(rawValue: RootlessLab.skipReason ?? "")),
    .serialized, .rootlessLab(prefix: "rl-one", subordinateIDs: false, network: false))
struct RootlessPodmanSingleMappingTests {
    var lab: RootlessLab { get throws { try RootlessLab.forTest } }

    /// `podman run --rm --network none ARGS…` under apus and under runc.
    func both(_ args: [String]) throws -> (apus: Output, runc: Output) {
        let lab = try lab
        let run = ["run", "--rm", "--network", "none"] + args
        return (try lab.podman(run, runtime: lab.apus), try lab.podman(run, runtime: lab.runc))
    }

    @Test("run --rm: uid 0 is the user, alone in the map; the exit status and output as with runc")
    func runs() throws {
        let lab = try lab
        let (mine, theirs) = try both([RootlessLab.image, "sh", "-c", "id; cat /proc/self/uid_map | tr -s ' '; exit 3"])
        #expect(mine.status == 3 && theirs.status == 3, "apus: \(mine.all)\nrunc: \(theirs.all)")
        #expect(mine.stdout == "uid=0(root) gid=0(root) groups=0(root)\n 0 \(lab.uid) 1\n", "\(mine.all)")
        #expect(mine.stdout == theirs.stdout, "runc: \(theirs.all)")
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
    }

    @Test(
        "--group-add: setgroups is denied in podman's namespace; the groups are left as they are, as runc leaves them")
    func groupAdd() throws {
        let lab = try lab
        let (mine, theirs) = try both([
            "--group-add", "tty", RootlessLab.image, "sh", "-c", "id; grep Groups /proc/self/status",
        ])
        #expect(mine.status == 0, "\(mine.all)")
        #expect(mine.stdout == "uid=0(root) gid=0(root) groups=0(root)\nGroups:\t0 \n", "\(mine.all)")
        #expect(theirs.status == mine.status && theirs.stdout == mine.stdout, "runc: \(theirs.all)")
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
    }

    @Test("--user 1000: an id outside the single mapping fails under both runtimes; apus names the unmapped id")
    func unmappedUser() throws {
        let lab = try lab
        let (mine, theirs) = try both(["--user", "1000:1000", RootlessLab.image, "id"])
        #expect(mine.status == 126 && theirs.status == 126, "apus: \(mine.all)\nrunc: \(theirs.all)")
        #expect(mine.stderr.contains("gid 1000 is not mapped in the container's user namespace"), "\(mine.all)")
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
        let left = try lab.podman(["ps", "--all", "--quiet"])
        #expect(left.status == 0 && left.stdout.isEmpty, "\(left.all)")
    }

    @Test("--userns=keep-id needs a range: podman refuses before any runtime runs, the same under both")
    func keepID() throws {
        let (mine, theirs) = try both(["--userns=keep-id", RootlessLab.image, "id"])
        #expect(mine.status == 125 && theirs.status == 125, "apus: \(mine.all)\nrunc: \(theirs.all)")
        #expect(mine.stderr.contains("keep-id requires additional UIDs or GIDs defined in /etc/subuid"), "\(mine.all)")
    }
}

/// The mistakes users make running apus rootless by hand, and what apus says: exit 1, a
/// message naming what to change, nothing left (no state, no cgroup, no process). The
/// same bundle under runc 1.5.1 fails too where runc fails.
@Suite(
    "rootless mistakes", .enabled(if: RootlessLab.skipReason == nil, Comment(rawValue: RootlessLab.skipReason ?? "")),
    .serialized, .rootlessLab(prefix: "rl-err", podman: false))
struct RootlessMistakeTests {
    var lab: RootlessLab { get throws { try RootlessLab.forTest } }

    /// A bundle of `apus spec --rootless` made by the user (its own uid and gid mapped to
    /// 0), running `id -u`, edited by `edit`.
    func bundle(_ lab: RootlessLab, _ edit: (inout Spec) -> Void = { _ in }) throws -> TestBundle {
        let bundle = try TestBundle()
        _ = try sh("/bin/chown", ["-R", "\(lab.user):", bundle.path])
        unlink(bundle.path + "/config.json")
        let made = try asUser(lab, [lab.apus, "spec", "--rootless", "--bundle", bundle.path])
        guard made.status == 0 else { throw TestFailure("apus spec --rootless: \(made.all)") }
        bundle.spec = try Spec.decode(Data(contentsOf: URL(fileURLWithPath: bundle.path + "/config.json")))
        bundle.spec.process?.terminal = false
        bundle.spec.process?.args = ["id", "-u"]
        edit(&bundle.spec)
        try bundle.save()
        return bundle
    }

    /// `ARGV` as the user, with XDG_RUNTIME_DIR `runtimeDir` (unset when nil) and no USER.
    func asUser(_ lab: RootlessLab, _ argv: [String], runtimeDir: String? = "") throws -> Output {
        let dir = runtimeDir == "" ? lab.runtimeDir : runtimeDir
        let env = [RootlessLab.path, "HOME=\(lab.home)"] + (dir.map { ["XDG_RUNTIME_DIR=\($0)"] } ?? [])
        return try sh("/usr/sbin/runuser", ["-u", lab.user, "--", "/usr/bin/env", "-i"] + env + argv)
    }

    /// Runs container `id` of `bundle` as the user under apus and runc.
    func run(_ lab: RootlessLab, _ bundle: TestBundle, _ id: String, runtimeDir: String? = "") throws -> (
        apus: Output, runc: Output
    ) {
        (
            try asUser(lab, [lab.apus, "run", "--bundle", bundle.path, id], runtimeDir: runtimeDir),
            try asUser(lab, [lab.runc, "run", "--bundle", bundle.path, id], runtimeDir: runtimeDir)
        )
    }

    /// Nothing of `id` is left: no state under the user's runtime dir, no cgroup, no process.
    func expectNothingLeft(_ lab: RootlessLab, _ id: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!lab.stateLeft().contains(id), sourceLocation: sourceLocation)
        let snapshot = HostSnapshot.take(root: lab.runtimeDir + "/apus", mentioning: id)
        #expect(snapshot.cgroups.isEmpty && snapshot.mounts.isEmpty, "\(snapshot)", sourceLocation: sourceLocation)
        #expect(processes(mentioning: id).isEmpty, sourceLocation: sourceLocation)
    }

    @Test("the user's own bundle runs: uid 0 in the container, as with runc")
    func works() throws {
        let lab = try lab
        let bundle = try bundle(lab)
        let id = uniqueID("rl-ok")
        let (mine, theirs) = try run(lab, bundle, id)
        #expect(mine.status == 0 && mine.stdout == "0\n", "\(mine.all)")
        #expect(theirs.status == 0 && theirs.stdout == mine.stdout, "\(theirs.all)")
        expectNothingLeft(lab, id)
    }

    @Test("XDG_RUNTIME_DIR unset: exit 1, says to set it or pass --root")
    func runtimeDirUnset() throws {
        let lab = try lab
        let bundle = try bundle(lab)
        let id = uniqueID("rl-noxdg")
        let (mine, theirs) = try run(lab, bundle, id, runtimeDir: nil)
        #expect(mine.status == 1 && theirs.status == 1, "apus: \(mine.all)\nrunc: \(theirs.all)")
        #expect(mine.stderr.contains("XDG_RUNTIME_DIR is not set"), "\(mine.stderr)")
        #expect(mine.stderr.contains("set XDG_RUNTIME_DIR to a directory this user can write"), "\(mine.stderr)")
        expectNothingLeft(lab, id)
    }

    @Test(
        "XDG_RUNTIME_DIR not writable (a root-owned dir, or a root-owned apus in it): exit 1, says what to change",
        arguments: [false, true])
    func runtimeDirNotWritable(_ apusDirExists: Bool) throws {
        let lab = try lab
        let bundle = try bundle(lab)
        let dir = lab.home + "/root-owned-\(apusDirExists)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if apusDirExists {
            try FileManager.default.createDirectory(atPath: dir + "/apus", withIntermediateDirectories: true)
        }
        let id = uniqueID("rl-roxdg")
        let (mine, theirs) = try run(lab, bundle, id, runtimeDir: dir)
        #expect(mine.status == 1 && theirs.status == 1, "apus: \(mine.all)\nrunc: \(theirs.all)")
        #expect(mine.stderr.contains("Permission denied"), "\(mine.stderr)")
        #expect(mine.stderr.contains("XDG_RUNTIME_DIR"), "\(mine.stderr)")
        #expect(mine.stderr.contains("or pass --root DIR"), "\(mine.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/apus")) ?? []).isEmpty)
        expectNothingLeft(lab, id)
    }

    /// The start of the user's range in /etc/subgid.
    func subordinateGID(_ lab: RootlessLab) -> UInt32? {
        let ranges = (try? String(contentsOfFile: "/etc/subgid", encoding: .utf8)) ?? ""
        let range = ranges.split(separator: "\n").first { $0.hasPrefix("\(lab.user):") }
        return range.flatMap { $0.split(separator: ":").dropFirst().first.flatMap { UInt32($0) } }
    }

    @Test("ids of the user's /etc/subuid and /etc/subgid ranges: mapped through newuidmap/newgidmap, as runc maps them")
    func subordinateRange() throws {
        let lab = try lab
        let gidStart = try #require(subordinateGID(lab))
        let bundle = try bundle(lab) {
            $0.linux?.uidMappings?.append(.init(containerID: 1, hostID: lab.subordinateRange.lowerBound, size: 1000))
            $0.linux?.gidMappings?.append(.init(containerID: 1, hostID: gidStart, size: 1000))
            $0.process?.args = ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' '"]
        }
        let id = uniqueID("rl-sub")
        let (mine, theirs) = try run(lab, bundle, id)
        let uid = lab.subordinateRange.lowerBound
        #expect(mine.status == 0, "\(mine.all)")
        #expect(
            mine.stdout == " 0 \(lab.uid) 1\n 1 \(uid) 1000\n 0 \(lab.uid) 1\n 1 \(gidStart) 1000\n", "\(mine.all)")
        #expect(theirs.status == mine.status && theirs.stdout == mine.stdout, "\(theirs.all)")
        expectNothingLeft(lab, id)
    }

    @Test("ids outside the user's /etc/subuid range: exit 1 under both runtimes, apus says what to change")
    func noSubordinateRange() throws {
        let lab = try lab
        // Past the end of the user's range: another user's, or no one's.
        let outside = lab.subordinateRange.upperBound + 1000
        let bundle = try bundle(lab) {
            $0.linux?.uidMappings?.append(.init(containerID: 1, hostID: outside, size: 1000))
        }
        let id = uniqueID("rl-map")
        let (mine, theirs) = try run(lab, bundle, id)
        #expect(mine.status == 1 && theirs.status == 1, "apus: \(mine.all)\nrunc: \(theirs.all)")
        #expect(mine.stderr.contains("write uid mappings with /usr/bin/newuidmap: exit status 1: newuidmap: uid range"))
        #expect(mine.stderr.contains("not allowed"), "\(mine.stderr)")
        #expect(
            mine.stderr.contains("the ids mapped must lie in this user's ranges in /etc/subuid (add one, e.g. usermod"),
            "\(mine.stderr)")
        #expect(mine.stderr.contains("or map only uid \(lab.uid) (config.json .linux.uidMappings)"), "\(mine.stderr)")
        expectNothingLeft(lab, id)
    }

    @Test("a memory limit the user cannot have: exit 1 under both runtimes, apus names the field and the fix")
    func limit() throws {
        let lab = try lab
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
            try Test.cancel("cgroup v2 here: a rootless limit depends on delegation (the VM's tests)")
        }
        let bundle = try bundle(lab) {
            $0.linux?.resources = Spec.Linux.Resources(memory: .init(limit: 64 << 20))
        }
        let id = uniqueID("rl-limit")
        let (mine, theirs) = try run(lab, bundle, id)
        #expect(mine.status == 1 && theirs.status == 1, "apus: \(mine.all)\nrunc: \(theirs.all)")
        #expect(mine.stderr.contains("Permission denied"), "\(mine.stderr)")
        #expect(
            mine.stderr.contains("cannot apply the limit of config.json .linux.resources.memory"), "\(mine.stderr)")
        #expect(mine.stderr.contains("remove that limit, or set .linux.cgroupsPath"), "\(mine.stderr)")
        expectNothingLeft(lab, id)
    }

    @Test("cgroupsPath naming root's existing cgroup, no limit: the join is passed over with a warning")
    func joinRefused() throws {
        let lab = try lab
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
            try Test.cancel("cgroup v2 here: this cgroup v1 case does not apply")
        }
        let name = "rl-existing-\(getpid())"
        var made: [String] = []
        defer { for dir in made.reversed() { rmdir(dir) } }
        // In every hierarchy (symlinks like cpu -> cpu,cpuacct are the same one).
        for hierarchy in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            var st = stat()
            guard lstat("/sys/fs/cgroup/" + hierarchy, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { continue }
            let dir = "/sys/fs/cgroup/\(hierarchy)/\(name)"
            if mkdir(dir, 0o755) == 0 { made.append(dir) }
        }
        let bundle = try bundle(lab) { $0.linux?.cgroupsPath = "/" + name }
        let id = uniqueID("rl-join")
        let mine = try asUser(lab, [lab.apus, "run", "--bundle", bundle.path, id])
        #expect(mine.status == 0 && mine.stdout == "0\n", "\(mine.all)")
        #expect(mine.stderr.contains("rootless: container runs outside its cgroup there"), "\(mine.stderr)")
        #expect(mine.stderr.contains("Permission denied"), "\(mine.stderr)")
        // The cgroups were root's before and stay (empty): apus removes only what it made.
        for dir in made {
            #expect(FileManager.default.fileExists(atPath: dir))
            let procs = (try? String(contentsOfFile: dir + "/cgroup.procs", encoding: .utf8)) ?? "?"
            #expect(procs.isEmpty, "\(dir): \(procs)")
        }
        #expect(!lab.stateLeft().contains(id))
        #expect(processes(mentioning: id).isEmpty)

        // With a limit the cgroup is needed: the error names it.
        let limited = try self.bundle(lab) {
            $0.linux?.cgroupsPath = "/" + name
            $0.linux?.resources = Spec.Linux.Resources(pids: .init(limit: 42))
        }
        let refused = try asUser(lab, [lab.apus, "run", "--bundle", limited.path, id])
        #expect(refused.status == 1, "\(refused.all)")
        #expect(
            refused.stderr.contains("cannot apply the limit of config.json .linux.resources.pids"), "\(refused.stderr)")
        #expect(!lab.stateLeft().contains(id))
    }

    @Test("--rootless true as real root: accepted, as runc 1.5.1 accepts it, the same output")
    func rootlessTrueAsRoot() throws {
        let runc = try Env.requireRunc()
        let bundle = try TestBundle()
        try bundle.command("id", "-u")
        let id = uniqueID("rl-forced")
        let mine = try apus("--rootless", "true", "run", "--bundle", bundle.path, id)
        let root = Env.stateRoot + "-runc"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let theirs = try sh(runc, ["--root", root, "--rootless", "true", "run", "--bundle", bundle.path, id])
        #expect(mine.status == 0 && mine.stdout == "0\n", "\(mine.all)")
        #expect(theirs.status == mine.status && theirs.stdout == mine.stdout, "\(theirs.all)")
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
    }
}
