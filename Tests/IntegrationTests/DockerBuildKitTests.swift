import Foundation
import Testing

/// BuildKit (`DOCKER_BUILDKIT=1`) in dockerd 20.10 does not run RUN steps through
/// containerd or the daemon's `runtimes`: its runc executor (moby's
/// builder/builder-next/executor_unix.go, `CommandCandidates: []string{"runc"}`) runs
/// `runc --log … --log-format json run --bundle … ID` with the first `runc` in dockerd's
/// PATH and no `--root`, so the runtime keeps each step under its default state root. The
/// suite's dockerd has `binDir` first in its PATH, whose `runc` is a symlink the test points
/// at apus or at runc 1.5.1.
extension DockerTests {
    /// Which runtime a build runs its RUN steps with, and where that runtime keeps state
    /// when no `--root` is given (root's default: /run/apus, /run/runc).
    struct BuildRuntime {
        var name: String
        var binary: String
        var stateRoot: String
    }

    static let buildKitDockerfile = """
        FROM \(image)
        RUN echo built by RUN > /built && id -u > /uid
        RUN trap 'echo released by USR1 > /released; exit 0' USR1; echo waiting; while :; do sleep 0.1; done
        RUN ["sh", "-c", "{ cat /built /uid /released; id; hostname; pwd; umask; ulimit -n; grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status; env | sort; cut -d' ' -f5 /proc/self/mountinfo; } | tee /seen"]

        """

    @Test(
        "BuildKit: RUN steps are run by the runc in dockerd's PATH (a symlink to apus), the image is the same as under runc 1.5.1"
    )
    func buildKit() throws {
        let docker = try docker
        guard let runc = Env.runc else {
            try Test.cancel("runc 1.5.1 is not at ../shared/tools/runc (or APUS_RUNC): no comparison made")
        }
        let context = docker.dir + "/buildkit-context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try Self.buildKitDockerfile.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        defer { try? docker.pointRunc(at: docker.apus) }
        var seen: [String: String] = [:]
        for runtime in [
            BuildRuntime(name: "apus", binary: docker.apus, stateRoot: "/run/apus"),
            BuildRuntime(name: "runc", binary: runc, stateRoot: "/run/runc"),
        ] {
            try docker.pointRunc(at: runtime.binary)
            let tag = docker.newName("buildkit-\(runtime.name)")
            let image = try buildHoldingAStep(docker, context: context, tag: tag, runtime: runtime)
            defer { _ = try? docker.cli(["rmi", "--force", tag]) }
            guard let image else { continue }
            let run = try docker.cli(["run", "--rm", tag, "cat", "/seen"])
            #expect(run.status == 0, "\(runtime.name): \(run.all)")
            seen[runtime.name] = run.stdout
            #expect(image.stdout.contains("built by RUN\n"), "\(runtime.name): \(image.all)")
        }
        let mine = seen["apus"] ?? ""
        #expect(mine.hasPrefix("built by RUN\n0\nreleased by USR1\nuid=0(root) gid=0(root)"), "\(mine)")
        #expect(mine.contains("NoNewPrivs:\t0\n"), "\(mine)")
        #expect(mine == seen["runc"], "apus:\n\(mine)\nrunc:\n\(seen["runc"] ?? "")")
    }

    /// Runs `docker build` with BuildKit in the background, waits until the RUN step that
    /// blocks appears in `runtime`'s own state (the proof that it, not another runc, runs
    /// it: the container is in its state root, with its bundle under BuildKit's executor
    /// dir), releases the step with `RUNTIME kill ID USR1`, and returns the build's output
    /// once it has finished; nil when the step never appeared (the build is then stopped).
    func buildHoldingAStep(_ docker: DockerDaemon, context: String, tag: String, runtime: BuildRuntime) throws
        -> Output?
    {
        var environment = docker.environment
        environment["DOCKER_BUILDKIT"] = "1"
        let build = try BackgroundCommand(
            DockerDaemon.dockerCLI,
            [
                "-H", "unix://" + docker.socket, "build", "--progress", "plain", "--network", "none", "--no-cache",
                "-t", tag, context,
            ], environment: environment, log: docker.dir + "/\(tag).log")
        defer { build.stop() }
        var step: [String: Any]?
        let deadline = Date().addingTimeInterval(120)
        while step == nil && build.isRunning && Date() < deadline {
            step = try Self.buildKitSteps(docker, runtime: runtime).first
            if step == nil { usleep(100_000) }
        }
        guard let step, let id = step["id"] as? String else {
            Issue.record("\(runtime.name): no RUN step in \(runtime.stateRoot): \(build.output.suffix(2000))")
            return nil
        }
        // Only the runtime that runs the step knows it by this id under its root.
        let state = try sh(runtime.binary, ["--root", runtime.stateRoot, "state", id])
        #expect(state.status == 0 && state.stdout.contains("\"status\": \"running\""), "\(runtime.name): \(state.all)")
        let kill = try sh(runtime.binary, ["--root", runtime.stateRoot, "kill", id, "USR1"])
        #expect(kill.status == 0, "\(runtime.name): \(kill.all)")
        let finished = build.wait(seconds: 120)
        #expect(finished, "\(runtime.name): the build did not finish: \(build.output.suffix(2000))")
        let output = Output(status: build.status, stdout: build.output, stderr: "")
        #expect(output.status == 0, "\(runtime.name): \(output.stdout.suffix(3000))")
        // `runc run` deletes the container when its process exits: no state, no cgroup.
        #expect(!FileManager.default.fileExists(atPath: "\(runtime.stateRoot)/\(id)"), "\(runtime.name)")
        docker.expectNoCgroups(named: id)
        return output
    }

    /// The containers `runtime` lists, running, under its default root whose bundle is in
    /// this daemon's BuildKit executor directory and whose process is the step that waits
    /// for SIGUSR1 (the steps before it may still be listed, on their way out).
    static func buildKitSteps(_ docker: DockerDaemon, runtime: BuildRuntime) throws -> [[String: Any]] {
        let list = try sh(runtime.binary, ["--root", runtime.stateRoot, "list", "--format", "json"])
        guard list.status == 0, let data = list.stdout.data(using: .utf8),
            let entries = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else { return [] }
        return entries.filter {
            guard let bundle = $0["bundle"] as? String, bundle.hasPrefix(docker.dir + "/data/buildkit/executor/"),
                $0["status"] as? String == "running",
                let config = try? Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")),
                let spec = try? JSONSerialization.jsonObject(with: config) as? [String: Any],
                let process = spec["process"] as? [String: Any], let args = process["args"] as? [String]
            else { return false }
            return args.joined(separator: " ").contains("released by USR1")
        }
    }
}

/// A command running in the background with its stdout and stderr in one file, its own
/// process group, stopped (the whole group) when no longer wanted.
final class BackgroundCommand: @unchecked Sendable {
    let pid: pid_t
    let log: String
    private(set) var status: Int32 = -1
    private var reaped = false

    init(_ program: String, _ args: [String], environment: [String: String], log: String) throws {
        self.log = log
        pid = try DockerDaemon.spawnDaemon([program] + args, log: log, environment: environment)
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    var isRunning: Bool {
        if reaped { return false }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return true }
        reaped = true
        status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        return false
    }

    /// Waits for the command to exit (a bound, not a timing assertion).
    func wait(seconds: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning {
            if Date() >= deadline { return false }
            usleep(20_000)
        }
        return true
    }

    func stop() {
        guard isRunning else { return }
        kill(-pid, SIGTERM)
        if !wait(seconds: 10) { kill(-pid, SIGKILL) }
        _ = wait(seconds: 10)
    }
}
