import Foundation
import OCI
import Testing

/// CRIU 4.2 from ../shared/tools (Debian's 3.17 fails on this kernel), or APUS_CRIU.
enum CRIUEnv {
    static let path: String? = {
        let shared = Env.repo.deletingLastPathComponent().appendingPathComponent("shared/tools/criu").path
        let candidates = [ProcessInfo.processInfo.environment["APUS_CRIU"], shared].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// nil when criu can check this kernel; otherwise why not.
    static let skipReason: String? = {
        guard let path else { return "criu 4.2 is not at ../shared/tools/criu (or set APUS_CRIU)" }
        guard let out = try? sh(path, ["check"]), out.status == 0 else {
            return "`criu check` fails here (missing libraries or kernel features)"
        }
        return nil
    }()

    /// Set by the cgroup2 VM: there criu 4.2 cannot dump a new network namespace's links on
    /// the VM's 6.1 kernel (netlink EINVAL; runc 1.5.1 fails the same way), so the
    /// containers stay in the VM's own network namespace.
    static let hostNetworkNamespace = ProcessInfo.processInfo.environment["APUS_CR_HOST_NETNS"] == "1"

    static func require() throws -> String {
        if let reason = skipReason { try Test.cancel(Comment(rawValue: reason)) }
        return path ?? ""
    }
}

/// Runs `apus --root <test root> --criu <criu> ARGS…` with stdio /dev/null, or the given
/// handles: a container started this way holds them, and a host file as its stdio is
/// something criu cannot dump. Returns the exit status.
@discardableResult
func apusDetached(_ args: [String], stdout: FileHandle = .nullDevice, stdin: FileHandle = .nullDevice) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Env.apus ?? "/nonexistent")
    process.arguments = ["--root", Env.stateRoot, "--criu", CRIUEnv.path ?? "/nonexistent"] + args
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

/// `apus --criu <criu> ARGS…` with output captured (for commands that start no container).
func apusCRIU(_ args: String...) throws -> Output {
    try apusArgs(["--criu", CRIUEnv.path ?? "/nonexistent"] + args, timeout: 120)
}

/// Waits until `condition` holds or `seconds` pass (a bound on waiting, never the result).
func waitUntil(seconds: Double = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// A busybox bundle whose process counts in a loop into /tmp/count of its (writable) rootfs.
func countingBundle(terminal: Bool = false, extra: String = "") throws -> TestBundle {
    let bundle = try TestBundle {
        $0.root?.readonly = false
        $0.process?.terminal = terminal
        if CRIUEnv.hostNetworkNamespace { $0.linux?.namespaces?.removeAll { $0.type == .network } }
    }
    try bundle.command("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; \(extra) sleep 0.05; done")
    return bundle
}

func count(_ bundle: TestBundle) -> Int {
    let text = (try? String(contentsOfFile: bundle.rootfs + "/tmp/count", encoding: .utf8)) ?? ""
    return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
}

func containerPid(_ id: String) -> Int32? {
    guard let out = try? apus("state", id), out.status == 0,
        let object = try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
    else { return nil }
    return (object["pid"] as? NSNumber)?.int32Value
}

/// Alive and not a zombie (one whose parent has not reaped it yet is gone as a process).
func isLiveProcess(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

func tempDirectory(_ prefix: String) -> String {
    NSTemporaryDirectory() + "\(prefix)-\(UInt32.random(in: 0..<UInt32.max))"
}

@Suite(.integration, .serialized) struct CheckpointTests {
    @Test("checkpoint stops the counter and removes the container; restore continues it; --leave-running keeps it")
    func countingContainer() throws {
        _ = try CRIUEnv.require()
        let bundle = try countingBundle()
        let id = uniqueID("cr")
        let images = tempDirectory("apus-cr-img")
        defer {
            _ = try? apus("delete", "--force", id)
            try? FileManager.default.removeItem(atPath: images)
        }
        #expect(try apusDetached(["run", "-d", "--bundle", bundle.path, id]) == 0)
        #expect(waitUntil { count(bundle) >= 5 })
        let pid = try #require(containerPid(id))
        let dumped = try apusCRIU("checkpoint", "--image-path", images, id)
        #expect(dumped.status == 0, "\(dumped.all)")
        #expect(waitUntil { !isLiveProcess(pid) }, "init \(pid) is gone")
        #expect(try apus("state", id).status != 0, "the container is gone, as with runc")
        let stopped = count(bundle)
        #expect(stopped >= 5)
        usleep(300_000)
        #expect(count(bundle) == stopped, "it stopped counting")

        #expect(try apusDetached(["restore", "-d", "--image-path", images, "--bundle", bundle.path, id]) == 0)
        #expect(waitUntil { count(bundle) > stopped + 3 }, "restored, it counts on from \(stopped)")
        #expect(count(bundle) < stopped + 200, "from where it stopped, not from zero")
        #expect(try apus("state", id).stdout.contains("\"running\""))
        let exec = try apus("exec", id, "cat", "/tmp/count")
        #expect(exec.status == 0, "\(exec.all)")
        #expect((Int(exec.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > stopped)

        let again = tempDirectory("apus-cr-img2")
        defer { try? FileManager.default.removeItem(atPath: again) }
        let leave = try apusCRIU("checkpoint", "--leave-running", "--image-path", again, id)
        #expect(leave.status == 0, "\(leave.all)")
        let now = count(bundle)
        #expect(waitUntil { count(bundle) > now + 2 }, "--leave-running: it keeps counting")
        #expect(try apus("state", id).stdout.contains("\"running\""))
        let deleted = try apus("delete", "--force", id)
        #expect(deleted.status == 0, "\(deleted.all)")
        #expect(HostSnapshot.take(mentioning: id) == HostSnapshot(stateEntries: [], mounts: [], cgroups: []))
    }

    @Test("a container with pipes as stdio writes to the new pipes after restore (inherit_fd)")
    func pipeStdio() throws {
        _ = try CRIUEnv.require()
        let bundle = try countingBundle(extra: "echo $i;")
        let id = uniqueID("crpipe")
        let images = tempDirectory("apus-cr-pipe")
        defer {
            _ = try? apus("delete", "--force", id)
            try? FileManager.default.removeItem(atPath: images)
        }
        let first = Pipe()
        #expect(try apusDetached(["run", "-d", "--bundle", bundle.path, id], stdout: first.fileHandleForWriting) == 0)
        try first.fileHandleForWriting.close()
        #expect(readOutput(first.fileHandleForReading, until: "\n5\n").contains("\n5\n"))
        let dumped = try apusCRIU("checkpoint", "--image-path", images, id)
        #expect(dumped.status == 0, "\(dumped.all)")
        let stopped = count(bundle)
        let second = Pipe()
        let restored = try apusDetached(
            ["restore", "-d", "--image-path", images, "--bundle", bundle.path, id], stdout: second.fileHandleForWriting)
        #expect(restored == 0)
        try second.fileHandleForWriting.close()
        let expected = "\n\(stopped + 3)\n"
        #expect(readOutput(second.fileHandleForReading, until: expected).contains(expected))
    }

    @Test("a terminal container: the restored pty master goes to the new --console-socket")
    func terminal() throws {
        _ = try CRIUEnv.require()
        let bundle = try countingBundle(terminal: true, extra: "[ -t 1 ] && touch /tmp/tty;")
        let id = uniqueID("crtty")
        let images = tempDirectory("apus-cr-tty")
        defer {
            _ = try? apus("delete", "--force", id)
            try? FileManager.default.removeItem(atPath: images)
        }
        let console = try ConsoleReceiver(path: bundle.path + "/first.sock")
        defer { console.stop() }
        #expect(try apusDetached(["run", "-d", "--console-socket", console.path, "--bundle", bundle.path, id]) == 0)
        #expect(console.waitForPty())
        #expect(waitUntil { FileManager.default.fileExists(atPath: bundle.rootfs + "/tmp/tty") })
        let dumped = try apusCRIU("checkpoint", "--image-path", images, id)
        #expect(dumped.status == 0, "\(dumped.all)")
        try? FileManager.default.removeItem(atPath: bundle.rootfs + "/tmp/tty")
        let stopped = count(bundle)

        let missing = try apusCRIU("restore", "-d", "--image-path", images, "--bundle", bundle.path, id)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("--console-socket"), "\(missing.stderr)")
        let second = try ConsoleReceiver(path: bundle.path + "/second.sock")
        defer { second.stop() }
        let restored = try apusDetached([
            "restore", "-d", "--console-socket", second.path, "--image-path", images, "--bundle", bundle.path, id,
        ])
        #expect(restored == 0)
        #expect(second.waitForPty())
        #expect(waitUntil { count(bundle) > stopped + 2 })
        #expect(waitUntil { FileManager.default.fileExists(atPath: bundle.rootfs + "/tmp/tty") }, "stdout is a tty")
    }

    @Test("restore runs prestart and createRuntime with the restored pid; poststop runs at checkpoint and delete")
    func hooks() throws {
        _ = try CRIUEnv.require()
        let bundle = try countingBundle()
        let log = bundle.path + "/hooks.log"
        bundle.spec.hooks = Spec.Hooks()
        bundle.spec.hooks?.prestart = [loggingHook("prestart", log: log)]
        bundle.spec.hooks?.createRuntime = [loggingHook("createRuntime", log: log)]
        bundle.spec.hooks?.poststop = [loggingHook("poststop", log: log)]
        try bundle.save()
        let id = uniqueID("crhook")
        let images = tempDirectory("apus-cr-hook")
        defer {
            _ = try? apus("delete", "--force", id)
            try? FileManager.default.removeItem(atPath: images)
        }
        #expect(try apusDetached(["run", "-d", "--bundle", bundle.path, id]) == 0)
        #expect(try apusCRIU("checkpoint", "--image-path", images, id).status == 0)
        try? FileManager.default.removeItem(atPath: log)
        #expect(try apusDetached(["restore", "-d", "--image-path", images, "--bundle", bundle.path, id]) == 0)
        let pid = try #require(containerPid(id))
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(
            lines.map { $0.split(separator: " ").prefix(3).joined(separator: " ") } == [
                "prestart creating \(pid)", "createRuntime creating \(pid)",
            ])
        #expect(try apus("delete", "--force", id).status == 0)
        let after = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(after.contains("poststop stopped"), "\(after)")
    }

    @Test("a container in a user namespace: host devices and masked files are external mounts")
    func userNamespace() throws {
        _ = try CRIUEnv.require()
        let bundle = try countingBundle()
        bundle.spec.linux?.namespaces?.append(.init(type: .user))
        bundle.spec.linux?.uidMappings = [.init(containerID: 0, hostID: 100_000, size: 65_536)]
        bundle.spec.linux?.gidMappings = [.init(containerID: 0, hostID: 100_000, size: 65_536)]
        // sysfs needs a network namespace the user namespace owns (runc fails the same).
        if CRIUEnv.hostNetworkNamespace { bundle.spec.mounts?.removeAll { $0.destination == "/sys" } }
        try bundle.save()
        _ = try sh("/bin/chown", ["-R", "100000:100000", bundle.rootfs])
        let id = uniqueID("cruser")
        let images = tempDirectory("apus-cr-user")
        defer {
            _ = try? apus("delete", "--force", id)
            try? FileManager.default.removeItem(atPath: images)
        }
        #expect(try apusDetached(["run", "-d", "--bundle", bundle.path, id]) == 0)
        #expect(waitUntil { count(bundle) >= 5 })
        let dumped = try apusCRIU("checkpoint", "--image-path", images, id)
        #expect(dumped.status == 0, "\(dumped.all)")
        let stopped = count(bundle)
        #expect(try apusDetached(["restore", "-d", "--image-path", images, "--bundle", bundle.path, id]) == 0)
        #expect(waitUntil { count(bundle) > stopped + 2 })
        // The images were opened to the container's root for the restore (timens-0.img to
        // anyone, for criu's task before its uid map): afterwards only that root reads them.
        func mode(_ path: String) -> mode_t {
            var info = stat()
            return lstat(path, &info) == 0 ? info.st_mode & 0o777 : 0
        }
        #expect(mode(images) == 0o700, "the image directory is 0700 again")
        #expect(mode(images + "/pages-1.img") == 0o600 && mode(images + "/core-1.img") == 0o600)
        let exec = try apus("exec", id, "sh", "-c", "cat /proc/self/uid_map; echo x > /dev/null && echo null-ok")
        #expect(exec.stdout.contains("100000") && exec.stdout.contains("null-ok"), "\(exec.all)")
    }

    @Test("restore in the foreground (containerd's -no-subreaper spelling): waits, exits with init's code, deletes")
    func foregroundRestore() throws {
        _ = try CRIUEnv.require()
        let bundle = try countingBundle()
        let id = uniqueID("crfg")
        let images = tempDirectory("apus-cr-fg")
        defer {
            _ = try? apus("delete", "--force", id)
            try? FileManager.default.removeItem(atPath: images)
        }
        #expect(try apusDetached(["run", "-d", "--bundle", bundle.path, id]) == 0)
        #expect(try apusCRIU("checkpoint", "--image-path", images, id).status == 0)
        let stopped = count(bundle)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Env.apus ?? "/nonexistent")
        process.arguments = [
            "--root", Env.stateRoot, "--criu", CRIUEnv.path ?? "", "restore", "-no-subreaper", "-image-path", images,
            "-bundle", bundle.path, id,
        ]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        #expect(waitUntil { count(bundle) > stopped + 2 }, "restored and counting")
        #expect(process.isRunning, "restore waits for the container")
        // criu resumes the tasks before restore records the container (slow in the VM).
        #expect(waitUntil { (try? apus("state", id))?.stdout.contains("\"running\"") == true })
        #expect(try apus("kill", id, "KILL").status == 0)
        let exited = waitUntil { !process.isRunning }
        #expect(exited)
        if !exited { kill(process.processIdentifier, SIGKILL) }  // never wait forever below
        process.waitUntilExit()
        #expect(process.terminationStatus == 137)
        #expect(try apus("state", id).status != 0, "deleted after it exited, as run does")
    }

    @Test("a failed checkpoint leaves the container running and its image directory as it was")
    func failedCheckpoint() throws {
        _ = try CRIUEnv.require()
        let bundle = try countingBundle()
        let id = uniqueID("crfail")
        let images = tempDirectory("apus-cr-fail")
        defer {
            _ = try? apus("delete", "--force", id)
            try? FileManager.default.removeItem(atPath: images)
        }
        #expect(try apusDetached(["run", "-d", "--bundle", bundle.path, id]) == 0)
        // Nobody listens on port 1: criu freezes the container, fails to send its pages.
        let failed = try apusCRIU("checkpoint", "--page-server", "127.0.0.1:1", "--image-path", images, id)
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("checkpoint \(id)"), "\(failed.stderr)")
        #expect(failed.stderr.contains("dump.log"), "criu's own error is in the message: \(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: images), "the image directory it made is gone")
        #expect(try apus("state", id).stdout.contains("\"running\""))
        let now = count(bundle)
        #expect(waitUntil { count(bundle) > now + 2 }, "it still counts")
        let dumped = try apusCRIU("checkpoint", "--image-path", images, id)
        #expect(dumped.status == 0, "a later checkpoint works: \(dumped.all)")
    }

    @Test("images are runc's: a runc 1.5.1 checkpoint restores under apus, an apus checkpoint under runc")
    func imagesCrossRuntimes() throws {
        let criu = try CRIUEnv.require()
        let runc = try Env.requireRunc()
        let bundle = try countingBundle()
        let runcRoot = tempDirectory("apus-cr-runc-root")
        let fromRunc = tempDirectory("apus-cr-from-runc")
        let fromApus = tempDirectory("apus-cr-from-apus")
        let (first, second, third) = (uniqueID("crx-runc"), uniqueID("crx-apus"), uniqueID("crx-runc2"))
        // runc 1.5.1 finds criu on $PATH only.
        let path = (criu as NSString).deletingLastPathComponent + ":/usr/sbin:/usr/bin:/sbin:/bin"
        func runcDetached(_ args: [String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: runc)
            process.arguments = ["--root", runcRoot] + args
            process.environment = ["PATH": path]
            (process.standardInput, process.standardOutput) = (FileHandle.nullDevice, FileHandle.nullDevice)
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        defer {
            for id in [first, third] { _ = try? sh(runc, ["--root", runcRoot, "delete", "--force", id]) }
            _ = try? apus("delete", "--force", second)
            for dir in [runcRoot, fromRunc, fromApus] { try? FileManager.default.removeItem(atPath: dir) }
        }
        #expect(try runcDetached(["run", "-d", "--bundle", bundle.path, first]) == 0)
        #expect(waitUntil { count(bundle) >= 5 })
        let runcDump = try sh(
            runc, ["--root", runcRoot, "checkpoint", "--image-path", fromRunc, first], environment: ["PATH": path])
        #expect(runcDump.status == 0, "runc checkpoint: \(runcDump.all)")
        let stoppedByRunc = count(bundle)

        #expect(try apusDetached(["restore", "-d", "--image-path", fromRunc, "--bundle", bundle.path, second]) == 0)
        #expect(waitUntil { count(bundle) > stoppedByRunc + 3 }, "apus restored runc's images: it counts on")
        #expect(count(bundle) < stoppedByRunc + 200, "from where runc stopped it")
        #expect(try apus("state", second).stdout.contains("\"running\""))
        let apusDump = try apusCRIU("checkpoint", "--image-path", fromApus, second)
        #expect(apusDump.status == 0, "\(apusDump.all)")
        let stoppedByApus = count(bundle)

        // On cgroup v2 apus binds the container's own cgroup directory as its cgroup mount, an
        // external mount in the image; runc mounts cgroup2 itself and maps no such mount
        // ("mnt: No mapping for …mountpoint"), so only runc → apus works there.
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
            try Test.cancel("apus → runc on cgroup v2: runc 1.5.1 maps no external cgroup mount")
        }
        #expect(try runcDetached(["restore", "-d", "--image-path", fromApus, "--bundle", bundle.path, third]) == 0)
        #expect(waitUntil { count(bundle) > stoppedByApus + 3 }, "runc restored apus's images: it counts on")
        #expect(count(bundle) < stoppedByApus + 200, "from where apus stopped it")
        let state = try sh(runc, ["--root", runcRoot, "state", third])
        #expect(state.stdout.contains("\"running\""), "\(state.all)")
    }

    /// The one config.json annotation apus acts on (features' potentiallyUnsafeConfigAnnotations):
    /// checkpoint re-reads config.json and hands criu the config file `org.criu.config` names.
    /// An option criu does not know fails the dump and the container runs on; the same file
    /// without it dumps.
    @Test("org.criu.config: criu reads the file the annotation names")
    func criuConfigAnnotation() throws {
        _ = try CRIUEnv.require()
        let bundle = try countingBundle()
        let config = bundle.path + "/criu.conf"
        let option = "apus-unknown-option-\(getpid())"
        try "\(option)\n".write(toFile: config, atomically: true, encoding: .utf8)
        bundle.spec.annotations = ["org.criu.config": config]
        try bundle.save()
        let id = uniqueID("crconf")
        let images = tempDirectory("apus-cr-conf")
        defer {
            _ = try? apus("delete", "--force", id)
            try? FileManager.default.removeItem(atPath: images)
        }
        #expect(try apusDetached(["run", "-d", "--bundle", bundle.path, id]) == 0)
        let failed = try apusCRIU("checkpoint", "--image-path", images, id)
        #expect(failed.status == 1 && failed.stderr.contains(option), "\(failed.all)")
        #expect(try apus("state", id).stdout.contains("\"running\""))
        let now = count(bundle)
        #expect(waitUntil { count(bundle) > now + 2 }, "it still counts")
        try "# no options\n".write(toFile: config, atomically: true, encoding: .utf8)
        let dumped = try apusCRIU("checkpoint", "--image-path", images, id)
        #expect(dumped.status == 0, "\(dumped.all)")
        #expect(FileManager.default.fileExists(atPath: images + "/inventory.img"))
    }

    @Test("bad input: each a clear error, exit 1, the container unchanged")
    func badInput() throws {
        _ = try CRIUEnv.require()
        let bundle = try countingBundle()
        let id = uniqueID("crbad")
        let images = tempDirectory("apus-cr-bad")
        defer {
            _ = try? apus("delete", "--force", id)
            try? FileManager.default.removeItem(atPath: images)
        }
        #expect(try apusDetached(["run", "-d", "--bundle", bundle.path, id]) == 0)
        let noCriu = try apus("--criu", "/nonexistent/criu", "checkpoint", "--image-path", images, id)
        #expect(noCriu.status == 1)
        #expect(noCriu.stderr.contains("/nonexistent/criu"), "\(noCriu.stderr)")
        let emptyPath = try sh(
            Env.apus ?? "", ["--root", Env.stateRoot, "checkpoint", "--image-path", images, id],
            environment: ["PATH": "/nonexistent"])
        #expect(emptyPath.status == 1)
        #expect(emptyPath.stderr.contains("no criu on $PATH"), "\(emptyPath.stderr)")
        // A criu that answers VERSION with 3.10 (older than apus needs): a python stand-in
        // speaking criu's RPC on fd 3 (criu_resp: type VERSION, success, criu_version 3.10).
        let oldCriu = images + "-old-criu"
        try """
        #!/usr/bin/python3
        import socket, sys
        s = socket.socket(fileno=int(sys.argv[2]))
        s.recv(4096)
        s.send(bytes([0x08, 0x0a, 0x10, 0x01, 0x52, 0x04, 0x08, 0x03, 0x10, 0x0a]))
        """.write(toFile: oldCriu, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: oldCriu) }
        chmod(oldCriu, 0o755)
        let tooOld = try apus("--criu", oldCriu, "checkpoint", "--image-path", images, id)
        #expect(tooOld.status == 1)
        #expect(tooOld.stderr.contains("is criu 3.10") && tooOld.stderr.contains("3.11 or later"), "\(tooOld.stderr)")
        #expect(!FileManager.default.fileExists(atPath: images), "nothing written")
        // --pre-dump needs the kernel's soft-dirty tracking: this host's kernel has none (a
        // clear error, nothing written); the VM's kernel has it (the pre-dump works and the
        // container runs on).
        let info = try apusCRIU("info", "--format", "json")
        let report = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any]
        let softDirty = (report?["checkpoint"] as? [String: Any])?["preDump"] as? Bool == true
        if softDirty {
            let preImages = images + "-pre"
            defer { try? FileManager.default.removeItem(atPath: preImages) }
            let preDump = try apusCRIU("checkpoint", "--pre-dump", "--image-path", preImages, id)
            #expect(preDump.status == 0, "\(preDump.all)")
            #expect(try apus("state", id).stdout.contains("\"running\""), "a pre-dump leaves it running")
        } else {
            let preDump = try apusCRIU("checkpoint", "--pre-dump", "--image-path", images, id)
            #expect(preDump.status == 1)
            #expect(preDump.stderr.contains("CONFIG_MEM_SOFT_DIRTY"), "\(preDump.stderr)")
            #expect(!FileManager.default.fileExists(atPath: images))
        }
        let exists = try apusCRIU("restore", "-d", "--image-path", images, "--bundle", bundle.path, id)
        #expect(exists.status == 1)
        #expect(exists.stderr.contains("already exists"), "\(exists.stderr)")
        let notImages = try apusCRIU("restore", "-d", "--image-path", bundle.path, "--bundle", bundle.path, id + "x")
        #expect(notImages.status == 1)
        #expect(notImages.stderr.contains("not a checkpoint image directory"), "\(notImages.stderr)")
        #expect(try apus("state", id + "x").status != 0, "nothing was created")
        #expect(try apus("state", id).stdout.contains("\"running\""))
        let now = count(bundle)
        #expect(waitUntil { count(bundle) > now + 2 })
    }
}

/// A console-socket receiver (python3, as recvtty): prints "pty" once it has the master,
/// then keeps reading it so the terminal never blocks.
final class ConsoleReceiver {
    let path: String
    let process = Process()
    let output = Pipe()

    init(path: String) throws {
        self.path = path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            "-c",
            """
            import socket, os, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1)
            print("listening", flush=True)
            c, _ = s.accept()
            msg, fds, _, _ = socket.recv_fds(c, 1024, 1)
            print("pty" if fds else "nofd", flush=True)
            while True:
                try:
                    if not os.read(fds[0], 4096): break
                except OSError:
                    break
            """, path,
        ]
        process.standardOutput = output
        try process.run()
        _ = readOutput(output.fileHandleForReading, until: "listening\n")
    }

    func waitForPty() -> Bool { readOutput(output.fileHandleForReading, until: "pty\n").contains("pty\n") }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: path)
    }
}

@Suite(.integration) struct CheckpointSupportTests {
    @Test("features and info say whether checkpoint works here, and why not")
    func reported() throws {
        let criu = try CRIUEnv.require()
        let features = try apus("--criu", criu, "features")
        #expect(features.stdout.contains("\"io.github.apus.checkpoint\": \"yes: criu 4.2"), "\(features.stdout)")
        let info = try apus("--criu", criu, "info")
        #expect(info.stdout.contains("checkpoint/restore:  yes: criu 4.2"), "\(info.stdout)")
        let missing = try apus("--criu", "/nonexistent/criu", "info")
        #expect(missing.stdout.contains("checkpoint/restore:  no: criu /nonexistent/criu"), "\(missing.stdout)")
    }
}
