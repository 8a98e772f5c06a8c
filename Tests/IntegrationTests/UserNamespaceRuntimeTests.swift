import Foundation
import OCI
import Testing

/// apus run the way rootless podman runs it, without podman: euid 0 inside a user
/// namespace owned by an unprivileged user (`unshare --user --map-root-user` as a throwaway
/// user), XDG_RUNTIME_DIR set, USER unset, no `--root`, and a config with no user
/// namespace, `cgroupsPath` null and `resources` {}.
@Suite("uid 0 in a user namespace (rootless podman's runtime)", .serialized, .integration)
final class UserNamespaceRuntimeTests {
    let user = "apusrl\(UInt32.random(in: 0..<UInt32.max) % 1_000_000)"
    var uid: UInt32 = 0
    var gid: UInt32 = 0
    var userAdded = false
    let runtimeDir = NSTemporaryDirectory() + "apus-xdg-\(UInt32.random(in: 0..<UInt32.max))"
    var ids: [String] = []

    init() throws {
        for tool in ["/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/bin/setpriv", "/usr/bin/unshare"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            throw TestFailure("\(tool) is missing (apt-get install passwd util-linux)")
        }
        let added = try sh("/usr/sbin/useradd", ["--system", "--no-create-home", "--shell", "/bin/false", user])
        guard added.status == 0 else { throw TestFailure("useradd \(user): \(added.all)") }
        userAdded = true
        guard let entry = getpwnam(user) else { throw TestFailure("getpwnam \(user) after useradd") }
        uid = entry.pointee.pw_uid
        gid = entry.pointee.pw_gid
        try FileManager.default.createDirectory(atPath: runtimeDir, withIntermediateDirectories: false)
        chmod(runtimeDir, 0o700)
        chown(runtimeDir, uid, gid)
    }

    deinit {
        // As host root: whatever a failed test left (containers, state), then the user.
        for id in ids {
            _ = try? sh(Env.apus ?? "/nonexistent", ["--root", runtimeDir + "/apus", "delete", "--force", id])
        }
        try? FileManager.default.removeItem(atPath: runtimeDir)
        if userAdded { _ = try? sh("/usr/sbin/userdel", [user]) }
    }

    /// `apus ARGS…` as uid 0 of a new user namespace of the throwaway user, with
    /// XDG_RUNTIME_DIR (unless nil) and without USER.
    func apusInUserNamespace(_ args: [String], runtimeDir: String?, script: String? = nil) throws -> Output {
        var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "APUS": Env.apus ?? "/nonexistent"]
        if let runtimeDir { env["XDG_RUNTIME_DIR"] = runtimeDir }
        let inner = script.map { ["/bin/sh", "-c", $0, "sh"] + args } ?? [Env.apus ?? "/nonexistent"] + args
        return try sh(
            "/usr/bin/setpriv",
            [
                "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", "/usr/bin/unshare", "--user",
                "--map-root-user",
            ]
                + inner, environment: env)
    }

    /// A busybox bundle shaped like rootless podman's config on cgroup v1: no user
    /// namespace, no cgroupsPath, `resources` {}; and, since `unshare -r` maps only uid 0,
    /// no mount option naming another id (what `apus spec --rootless` drops too).
    func bundle(_ args: [String]) throws -> TestBundle {
        let bundle = try TestBundle { spec in
            spec.process?.args = args
            spec.linux?.cgroupsPath = nil
            spec.linux?.resources = Spec.Linux.Resources()
            let namespaces = spec.linux?.namespaces?.filter { $0.type != .user }
            spec.linux?.namespaces = namespaces
            spec.mounts = spec.mounts?.map { mount in
                var mount = mount
                mount.options = mount.options?.filter { !$0.hasPrefix("gid=") && !$0.hasPrefix("uid=") }
                return mount
            }
        }
        return bundle
    }

    func probeUserNamespaces() throws {
        let probe = try sh(
            "/usr/bin/setpriv",
            [
                "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", "/usr/bin/unshare", "--user",
                "--map-root-user",
                "/bin/true",
            ])
        if probe.status != 0 {
            try Test.cancel("an unprivileged user cannot create a user namespace here: \(probe.all)")
        }
    }

    @Test("run: works, state under $XDG_RUNTIME_DIR/apus, nothing left behind")
    func runs() throws {
        try probeUserNamespaces()
        let bundle = try bundle(["sh", "-c", "echo hi; id -u; cat /proc/self/uid_map | tr -s ' '"])
        let id = uniqueID("userns")
        ids.append(id)
        let out = try apusInUserNamespace(["run", "--bundle", bundle.path, id], runtimeDir: runtimeDir)
        #expect(out.status == 0, "\(out.all)")
        // uid 0 of the runtime's namespace, which is the throwaway user on the host.
        #expect(out.stdout == "hi\n0\n 0 \(uid) 1\n", "\(out.all)")
        #expect(!out.stderr.contains("error"), "\(out.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/run/apus/\(id)"))
        let left = (try? FileManager.default.contentsOfDirectory(atPath: runtimeDir + "/apus")) ?? ["<no apus dir>"]
        #expect(left.isEmpty, "\(left)")
        #expect(HostSnapshot.findDirectories(named: id, under: "/sys/fs/cgroup", depth: 4) == [])

        // create, then the state is there; delete removes it.
        let id2 = uniqueID("userns")
        ids.append(id2)
        let lifecycle = try apusInUserNamespace(
            [bundle.path, id2], runtimeDir: runtimeDir,
            script: """
                set -e
                "$APUS" create --bundle "$1" "$2"
                test -f "$XDG_RUNTIME_DIR/apus/$2/state.json" && echo state-in-runtime-dir
                "$APUS" state "$2" | grep -o '"status": *"[a-z]*"'
                "$APUS" delete --force "$2"
                """)
        #expect(lifecycle.status == 0, "\(lifecycle.all)")
        #expect(lifecycle.stdout.contains("state-in-runtime-dir\n"), "\(lifecycle.all)")
        #expect(lifecycle.stdout.contains("\"created\""), "\(lifecycle.all)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: runtimeDir + "/apus")) ?? []).isEmpty)
    }

    @Test("without XDG_RUNTIME_DIR: an error naming it and what to do, exit 1, nothing created")
    func missingRuntimeDir() throws {
        try probeUserNamespaces()
        let bundle = try bundle(["true"])
        let id = uniqueID("userns")
        ids.append(id)
        let out = try apusInUserNamespace(["run", "--bundle", bundle.path, id], runtimeDir: nil)
        #expect(out.status == 1, "\(out.all)")
        #expect(out.stderr.contains("XDG_RUNTIME_DIR is not set"), "\(out.stderr)")
        #expect(out.stderr.contains("--root"), "\(out.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/run/apus/\(id)"))
        #expect(!FileManager.default.fileExists(atPath: runtimeDir + "/apus"))

        // A runtime dir this user cannot write: the error says so too.
        let rootOwned = NSTemporaryDirectory() + "apus-xdg-root-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: rootOwned, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: rootOwned) }
        chmod(rootOwned, 0o755)
        let denied = try apusInUserNamespace(["run", "--bundle", bundle.path, id], runtimeDir: rootOwned)
        #expect(denied.status == 1, "\(denied.all)")
        #expect(denied.stderr.contains("XDG_RUNTIME_DIR"), "\(denied.stderr)")
        #expect(!FileManager.default.fileExists(atPath: rootOwned + "/apus"))
    }

    @Test("a cgroupsPath without limits it cannot create is a warning; a limit it cannot apply is an error")
    func limitWithoutCgroup() throws {
        try probeUserNamespaces()
        let bundle = try bundle(["true"])
        let path = uniqueID("userns-cg")
        bundle.spec.linux?.cgroupsPath = "/" + path
        try bundle.save()
        let warned = try apusInUserNamespace(["run", "--bundle", bundle.path, path], runtimeDir: runtimeDir)
        ids.append(path)
        #expect(warned.status == 0, "\(warned.all)")
        #expect(warned.stderr.contains("warning: rootless: container runs without a cgroup"), "\(warned.stderr)")
        #expect(HostSnapshot.findDirectories(named: path, under: "/sys/fs/cgroup", depth: 2) == [])

        bundle.spec.linux?.cgroupsPath = nil
        bundle.spec.linux?.resources?.pids = .init(limit: 42)
        try bundle.save()
        let id = uniqueID("userns")
        ids.append(id)
        let out = try apusInUserNamespace(["run", "--bundle", bundle.path, id], runtimeDir: runtimeDir)
        #expect(out.status == 1, "\(out.all)")
        #expect(out.stderr.contains("config.json .linux.resources.pids"), "\(out.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: runtimeDir + "/apus")) ?? []).isEmpty)
    }
}
