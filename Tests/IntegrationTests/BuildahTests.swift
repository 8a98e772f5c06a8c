import Foundation
import Testing

/// buildah (Debian 12's 1.28) building a Containerfile whose RUN steps run in containers
/// of apus (`bud --runtime apus --isolation oci`), as root and as a throwaway user; each
/// build runs under runc 1.5.1 too and must print the same, and the image it makes must
/// hold what the RUN steps wrote. Rootful storage (vfs) lives in a temp dir of the suite's
/// own (`--root`, `--runroot`); the rootless one in the user's home, removed with the user.
@Suite(
    "buildah", .enabled(if: BuildahEnv.skipReason == nil, Comment(rawValue: BuildahEnv.skipReason ?? "")),
    .serialized, .rootlessLab(prefix: "rl-bld", podman: false))
struct BuildahTests {
    static let buildah = "/usr/bin/buildah"
    static let image = "localhost/apus-busybox:latest"
    static let noNetwork = ["--network", "none"]

    /// Two RUN steps, shell and exec form: the second reads what the first wrote.
    static let containerfile = """
        FROM \(image)
        RUN echo built by RUN > /built && id -u > /uid
        RUN ["sh", "-c", "cat /built /uid; grep -c . /proc/self/uid_map; grep NoNewPrivs /proc/self/status"]

        """

    /// What the build prints of its own (steps, commit, image ids), left out when comparing
    /// what the RUN steps printed.
    static func runOutput(_ stdout: String) -> [String] {
        stdout.split(separator: "\n").map(String.init).filter { line in
            !(line.hasPrefix("STEP ") || line.hasPrefix("COMMIT") || line.hasPrefix("--> ")
                || line.hasPrefix("Successfully tagged") || (line.count == 64 && line.allSatisfy(\.isHexDigit)))
        }
    }

    /// Imports the busybox rootfs as `image` with `buildah` (a function running buildah
    /// ARGS… as root or as the user); `tar` is readable by that user.
    static func importImage(tar: String, _ buildah: ([String]) throws -> Output) throws {
        let name = "rl-import-\(getpid())"
        for step in [
            ["from", "--name", name, "scratch"], ["add", name, tar, "/"], ["config", "--cmd", "/bin/sh", name],
            ["commit", "-q", name, image], ["rm", name],
        ] {
            let out = try buildah(step)
            guard out.status == 0 else { throw TestFailure("buildah \(step.joined(separator: " ")): \(out.all)") }
        }
    }

    /// Builds the Containerfile in `context` under `runtime` and runs the image it made,
    /// then removes both; returns the build and the run.
    static func buildAndRun(
        context: String, runtime: String, tag: String, network: [String], _ buildah: ([String]) throws -> Output
    ) throws -> (build: Output, run: Output) {
        let build = try buildah(
            ["bud", "--runtime", runtime, "--isolation", "oci", "--pull=never"] + network + [
                "-t", tag, "-f", context + "/Containerfile", context,
            ])
        let container = "rl-check-\(getpid())"
        _ = try buildah(["from", "--pull=never", "--name", container, tag])
        let run = try buildah(
            ["run", "--runtime", runtime, "--isolation", "oci"] + network + [container, "cat", "/built", "/uid"])
        _ = try buildah(["rm", container])
        _ = try buildah(["rmi", tag])
        return (build, run)
    }

    /// Both builds succeed, print the same from their RUN steps, and make images holding
    /// what the RUN steps wrote.
    func expectSame(
        _ mine: (build: Output, run: Output), _ theirs: (build: Output, run: Output), uid: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(mine.build.status == 0, "\(mine.build.all)", sourceLocation: sourceLocation)
        #expect(
            Self.runOutput(mine.build.stdout).prefix(2) == ["built by RUN", uid], "\(mine.build.all)",
            sourceLocation: sourceLocation)
        #expect(
            Self.runOutput(mine.build.stdout) == Self.runOutput(theirs.build.stdout),
            "apus: \(mine.build.all)\nrunc: \(theirs.build.all)", sourceLocation: sourceLocation)
        #expect(theirs.build.status == 0, "\(theirs.build.all)", sourceLocation: sourceLocation)
        #expect(mine.run.status == 0 && mine.run.stdout == "built by RUN\n\(uid)\n", "\(mine.run.all)")
        #expect(mine.run.stdout == theirs.run.stdout, "runc: \(theirs.run.all)", sourceLocation: sourceLocation)
    }

    @Test("bud --isolation oci as root: RUN steps under apus, the same as under runc 1.5.1")
    func rootful() throws {
        let runc = try Env.requireRunc()
        let dir = NSTemporaryDirectory() + "rl-buildah-\(getpid())"
        let hostPaths = PodmanLab.hostPathsPodmanTouches().filter { !FileManager.default.fileExists(atPath: $0) }
        defer {
            _ = try? sh(Self.buildah, ["--root", dir + "/root", "--runroot", dir + "/runroot", "rm", "--all"])
            try? FileManager.default.removeItem(atPath: dir)
            // rmdir, not a recursive removal: what something else now uses stays.
            for path in hostPaths { _ = unlink(path) == 0 || rmdir(path) == 0 }
        }
        try FileManager.default.createDirectory(atPath: dir + "/context", withIntermediateDirectories: true)
        try Self.containerfile.write(toFile: dir + "/context/Containerfile", atomically: false, encoding: .utf8)
        let buildah = { (args: [String]) throws -> Output in
            try sh(
                Self.buildah,
                ["--root", dir + "/root", "--runroot", dir + "/runroot", "--storage-driver", "vfs"] + args,
                environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": dir], timeout: 120)
        }
        let bundle = try TestBundle()
        let tar = try sh("/bin/tar", ["-C", bundle.rootfs, "-cf", dir + "/busybox.tar", "."])
        guard tar.status == 0 else { throw TestFailure("tar: \(tar.all)") }
        try Self.importImage(tar: dir + "/busybox.tar", buildah)

        // As root, buildah's default network is netavark's bridge, which adds firewall chains
        // and sets net.ipv4.ip_forward on the host: RUN steps without a network.
        let apus = Env.apus ?? "/nonexistent"
        let mine = try Self.buildAndRun(
            context: dir + "/context", runtime: apus, tag: "localhost/rl-built-apus", network: Self.noNetwork, buildah)
        let theirs = try Self.buildAndRun(
            context: dir + "/context", runtime: runc, tag: "localhost/rl-built-runc", network: Self.noNetwork, buildah)
        expectSame(mine, theirs, uid: "0")
        // Nothing of the builds' containers is left: no process and no mount mentions the dir.
        #expect(processes(mentioning: dir).isEmpty)
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        #expect(!mountinfo.contains(dir + "/"), "mounts under \(dir) left")
    }

    @Test("bud --isolation oci as an ordinary user: RUN steps under apus, the same as under runc 1.5.1")
    func rootless() throws {
        let lab = try RootlessLab.forTest
        let context = lab.home + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try Self.containerfile.write(toFile: context + "/Containerfile", atomically: false, encoding: .utf8)
        let bundle = try TestBundle()
        let tar = try sh("/bin/tar", ["-C", bundle.rootfs, "-cf", lab.home + "/busybox.tar", "."])
        guard tar.status == 0 else { throw TestFailure("tar: \(tar.all)") }
        _ = try sh("/bin/chown", ["-R", "\(lab.user):", context, lab.home + "/busybox.tar"])
        let buildah = { (args: [String]) throws -> Output in
            try PodmanLab.spawn(
                ["/usr/sbin/runuser", "-u", lab.user, "--", "/usr/bin/env", "-i"] + lab.environment + [Self.buildah]
                    + args, environment: ["PATH": "/usr/bin:/bin"], timeout: 120)
        }
        try Self.importImage(tar: lab.home + "/busybox.tar", buildah)
        // buildah 1.28's default rootless network fails in netavark (setns: EPERM) under
        // any runtime, runc 1.5.1 included: RUN steps without a network.
        let mine = try Self.buildAndRun(
            context: context, runtime: lab.apus, tag: "localhost/rl-built-apus", network: Self.noNetwork, buildah)
        let theirs = try Self.buildAndRun(
            context: context, runtime: lab.runc, tag: "localhost/rl-built-runc", network: Self.noNetwork, buildah)
        expectSame(mine, theirs, uid: "0")
        #expect(lab.stateLeft().isEmpty, "\(lab.stateLeft())")
    }
}

enum BuildahEnv {
    /// nil when the buildah suite can run; otherwise why not.
    static let skipReason: String? = {
        if let reason = RootlessLab.skipReason { return reason }
        if !FileManager.default.isExecutableFile(atPath: BuildahTests.buildah) {
            return "buildah is not installed (apt-get install buildah)"
        }
        return nil
    }()
}
