import Foundation
import OCI
import Testing

/// Real rootless podman (issue 15): a throwaway user with subuid/subgid ranges runs
/// `podman --runtime apus`, which runs apus as uid 0 of the user's user namespace with
/// XDG_RUNTIME_DIR set and USER unset; the same commands under runc 1.5.1 give the same
/// output. Storage (vfs), runroot and the runtime dir live in the user's home, which is
/// removed with the user and every process of it (podman's pause process included).
@Suite("rootless podman", .serialized, .integration)
final class RootlessPodmanTests {
    let user = "apuspod\(UInt32.random(in: 0..<UInt32.max) % 1_000_000)"
    var uid: uid_t = 0
    var home = ""
    var userAdded = false
    /// "START COUNT" of the user's /etc/subuid range.
    var subordinate = ""
    static let runc = Env.runc ?? ""

    init() throws {
        let added = try sh("/usr/sbin/useradd", ["--create-home", "--shell", "/bin/sh", user])
        guard added.status == 0 else { throw TestFailure("useradd \(user): \(added.all)") }
        userAdded = true
        guard let entry = getpwnam(user) else { throw TestFailure("getpwnam \(user) after useradd") }
        uid = entry.pointee.pw_uid
        home = String(cString: entry.pointee.pw_dir)
    }

    deinit {
        if userAdded {
            killProcesses(of: uid)
            _ = try? sh("/usr/sbin/userdel", ["--remove", user])
        }
    }

    /// SIGKILL to every process of `uid`, by pid, until none is left (podman leaves a pause
    /// process holding its user namespace; conmon may still be exiting).
    func killProcesses(of uid: uid_t) {
        for _ in 0..<100 {
            let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap {
                name -> Int32? in
                guard let pid = Int32(name) else { return nil }
                var st = stat()
                return stat("/proc/\(name)", &st) == 0 && st.st_uid == uid ? pid : nil
            }
            if pids.isEmpty { return }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(20_000)
        }
    }

    /// Writes the user's podman configuration and imports the busybox image.
    func prepare() throws {
        for tool in ["/usr/bin/podman", "/usr/bin/newuidmap", "/usr/bin/newgidmap", "/usr/sbin/runuser"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            try Test.cancel("\(tool) is missing (apt-get install podman uidmap util-linux)")
        }
        let ranges = (try? String(contentsOfFile: "/etc/subuid", encoding: .utf8)) ?? ""
        guard let range = ranges.split(separator: "\n").first(where: { $0.hasPrefix("\(user):") }) else {
            try Test.cancel("useradd gave \(user) no /etc/subuid range (SUB_UID_COUNT in /etc/login.defs)")
        }
        subordinate = range.split(separator: ":").dropFirst().joined(separator: " ")
        _ = try Env.requireRunc()
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
        // The runtime the user's podman runs: a copy it can read and execute wherever the
        // build tree is.
        try FileManager.default.copyItem(atPath: Env.apus ?? "/nonexistent", toPath: home + "/apus")
        let bundle = try TestBundle()
        let tar = try sh("/bin/tar", ["-C", bundle.rootfs, "-cf", home + "/busybox.tar", "."])
        guard tar.status == 0 else { throw TestFailure("tar busybox rootfs: \(tar.all)") }
        _ = try sh("/bin/chown", ["-R", "\(user):", home])
        let imported = try podman(
            ["import", "--change", "CMD [\"/bin/sh\"]", home + "/busybox.tar", "localhost/apus-busybox:latest"],
            timeout: 120)
        guard imported.status == 0 else { throw TestFailure("podman import: \(imported.all)") }
    }

    /// `podman ARGS…` as the user, in a login-like environment without USER.
    func podman(_ args: [String], runtime: String? = nil, timeout: TimeInterval = 60) throws -> Output {
        let env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=\(home)", "XDG_RUNTIME_DIR=\(home)/xdg"]
        let global = runtime.map { ["--runtime", $0] } ?? []
        // PodmanLab.spawn, not Process: conmon outlives `podman run -d` and would inherit
        // the descriptor Process waits on.
        return try PodmanLab.spawn(
            ["/usr/sbin/runuser", "-u", user, "--", "/usr/bin/env", "-i"] + env + ["/usr/bin/podman"] + global + args,
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: timeout)
    }

    @Test("run --rm, run -d / exec / rm: as with runc 1.5.1, and nothing left in $XDG_RUNTIME_DIR/apus")
    func runs() throws {
        try prepare()
        let apus = home + "/apus"
        let image = "localhost/apus-busybox:latest"
        let script = "echo hello; id -u; cat /proc/self/uid_map | tr -s ' '; exit 7"
        var outputs: [String: Output] = [:]
        for runtime in [apus, Self.runc] {
            outputs[runtime] = try podman(
                ["run", "--rm", "--network", "none", image, "sh", "-c", script], runtime: runtime)
        }
        let mine = outputs[apus]
        let theirs = outputs[Self.runc]
        #expect(mine?.status == 7, "\(mine?.all ?? "")")
        #expect(mine?.stdout == "hello\n0\n 0 \(uid) 1\n 1 \(subordinate)\n", "\(mine?.all ?? "")")
        #expect(mine?.stdout == theirs?.stdout, "apus: \(mine?.all ?? "")\nrunc: \(theirs?.all ?? "")")
        #expect(mine?.status == theirs?.status)

        let name = "box\(UInt32.random(in: 0..<UInt32.max) % 1000)"
        let started = try podman(
            ["run", "-d", "--name", name, "--network", "none", image, "sleep", "1000"], runtime: apus)
        #expect(started.status == 0, "\(started.all)")
        let exec = try podman(["exec", name, "cat", "/proc/1/cmdline"], runtime: apus)
        #expect(exec.status == 0 && exec.stdout == "sleep\u{0}1000\u{0}", "\(exec.all)")
        let removed = try podman(["rm", "--force", "--time", "0", name], runtime: apus)
        #expect(removed.status == 0, "\(removed.all)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: home + "/xdg/apus")) ?? ["<no apus dir>"]
        #expect(left.isEmpty, "\(left)")
    }
}
