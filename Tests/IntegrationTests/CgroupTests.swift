import Foundation
import OCI
import Testing

/// Resource control with real containers: the files the kernel shows and the effect on the
/// process (OOM kill, fork failures, throttling, denied devices), and the cgroup commands
/// (update, pause/resume, events, ps). Every container has a unique id and is deleted.
@Suite("cgroups", .integration, .serialized)
struct CgroupTests {
    typealias Resources = Spec.Linux.Resources

    /// The container's cgroup directories as state.json records them (controller → dir).
    func cgroupPaths(_ id: String) throws -> [String: String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Env.stateRoot + "/" + id + "/state.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        guard let cgroup = object?["cgroup"] as? [String: Any], let paths = cgroup["paths"] as? [String: String] else {
            throw TestFailure("state.json of \(id) has no cgroup paths")
        }
        return paths
    }

    /// A controller's file of the container: v1 directory when there is one, else cgroup2.
    func cgroupFile(_ id: String, _ controller: String, _ file: String) throws -> String {
        let paths = try cgroupPaths(id)
        guard let dir = paths[controller] ?? paths["unified"] else { throw TestFailure("no \(controller) cgroup") }
        return try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var isUnifiedHost: Bool { FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") }

    func status(_ id: String) throws -> String {
        let out = try apus("state", id)
        guard out.status == 0 else { return "gone" }
        return try decodeState(out.stdout)["status"] as? String ?? "?"
    }

    /// Starts `apus --root … ARGS` without waiting; output goes to `log`.
    func spawn(_ args: [String], log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Env.apus ?? "/nonexistent")
        process.arguments = ["--root", Env.stateRoot] + args
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? handle.close()
        return process
    }

    func wait(_ process: Process, seconds: Double) throws {
        do {
            try waitFor(seconds) { !process.isRunning }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw error
        }
        process.waitUntilExit()
    }

    /// A detached container running `script`; deleted (forcibly) by the caller's defer.
    func runDetached(_ bundle: TestBundle, _ script: String, id: String) throws {
        try bundle.command("sh", "-c", script)
        let out = try apus("run", "-d", "--bundle", bundle.path, id)
        guard out.status == 0 else { throw TestFailure("run -d \(id): \(out.all)") }
    }

    // MARK: effects

    @Test("a memory hog over memory.limit is OOM-killed: exit 137 and an oom event")
    func memoryHogIsOOMKilled() throws {
        let limit: Int64 = 32 << 20
        let bundle = try TestBundle { $0.linux?.resources = Resources(memory: .init(limit: limit, swap: limit)) }
        // The hog starts only once `events` is watching: the test creates /go in the rootfs then.
        try bundle.command(
            "sh", "-c",
            "while [ ! -e /go ]; do sleep 0.1; done; x=$(dd if=/dev/zero bs=1M count=300 2>/dev/null | tr '\\0' a);"
                + " echo survived")
        let id = uniqueID("oom")
        defer { _ = try? apus("delete", "-f", id) }
        let runLog = NSTemporaryDirectory() + "\(id).run"
        let eventsLog = NSTemporaryDirectory() + "\(id).events"
        defer {
            try? FileManager.default.removeItem(atPath: runLog)
            try? FileManager.default.removeItem(atPath: eventsLog)
        }
        let run = try spawn(["run", "--keep", "--bundle", bundle.path, id], log: runLog)
        try waitFor(20) { try status(id) == "running" }
        let events = try spawn(["events", "--interval", "1s", id], log: eventsLog)
        // A first stats line: events has read the OOM count and is waiting in poll.
        try waitFor(20) { ((try? String(contentsOfFile: eventsLog, encoding: .utf8)) ?? "").contains("\n") }
        FileManager.default.createFile(atPath: bundle.rootfs + "/go", contents: nil)
        try wait(run, seconds: 60)
        #expect(run.terminationStatus == 137, "run: \((try? String(contentsOfFile: runLog, encoding: .utf8)) ?? "")")
        try wait(events, seconds: 10)
        #expect(events.terminationStatus == 0)
        let lines = try String(contentsOfFile: eventsLog, encoding: .utf8).split(separator: "\n")
        #expect(
            lines.contains { $0 == "{\"type\":\"oom\",\"id\":\"\(id)\"}" }, "events: \(lines.map { $0.prefix(60) })")
        // At least one kill: the kernel may pick more than one of sh, dd and tr.
        let counters = try cgroupFile(id, "memory", isUnifiedHost ? "memory.events" : "memory.oom_control")
        let kills = counters.split(separator: "\n").first { $0.hasPrefix("oom_kill ") }.flatMap {
            Int($0.dropFirst("oom_kill ".count))
        }
        #expect((kills ?? 0) >= 1, "\(counters)")
    }

    @Test("pids.max stops a fork bomb")
    func pidsLimitStopsForks() throws {
        let bundle = try TestBundle { $0.linux?.resources = Resources(pids: .init(limit: 20)) }
        // busybox sh gives up at the first failed fork ("can't fork"): count what started.
        // Long sleeps: on a loaded machine none may end and free its pid before the loop is done.
        try bundle.command("sh", "-c", "for i in $(seq 60); do sleep 60 & echo started; done; echo finished")
        let out = try apus("run", "--bundle", bundle.path, uniqueID("pids"), timeout: 60)
        let started = out.stdout.components(separatedBy: "started").count - 1
        #expect(out.stderr.contains("can't fork"), "\(out.all.prefix(400))")
        #expect(!out.stdout.contains("finished"))
        #expect(out.status != 0)
        // At most 19 processes next to the shell.
        #expect(started > 0 && started <= 19, "started: \(started)")
    }

    @Test("a cpu quota throttles a busy loop")
    func cpuQuotaThrottles() throws {
        let bundle = try TestBundle { $0.linux?.resources = Resources(cpu: .init(quota: 10_000, period: 100_000)) }
        let id = uniqueID("cpu")
        defer { _ = try? apus("delete", "-f", id) }
        try runDetached(bundle, "while :; do :; done", id: id)
        var throttled = 0
        try waitFor(10) {
            let stat = try cgroupFile(id, "cpu", "cpu.stat")
            let line = stat.split(separator: "\n").first { $0.hasPrefix("nr_throttled ") }
            throttled = Int(line?.split(separator: " ").last ?? "") ?? 0
            return throttled > 0
        }
        #expect(throttled > 0)
        let stats = try apus("events", "--stats", id)
        #expect(stats.status == 0, "\(stats.stderr)")
        let event = try decodeState(stats.stdout)
        let data = event["data"] as? [String: Any]
        let cpu = data?["cpu"] as? [String: Any]
        let throttling = cpu?["throttling"] as? [String: Any]
        #expect(event["type"] as? String == "stats")
        #expect(event["id"] as? String == id)
        #expect((throttling?["throttledPeriods"] as? Int ?? 0) > 0, "\(stats.stdout.prefix(300))")
    }

    @Test("a device denied in linux.resources.devices cannot be opened, even as root", arguments: [false, true])
    func deviceRules(allowed: Bool) throws {
        let bundle = try TestBundle {
            $0.linux?.devices = [.init(type: "b", path: "/dev/loop-apus", major: 7, minor: 0, fileMode: 0o660)]
            var rules = $0.linux?.resources?.devices ?? [.init(allow: false, access: "rwm")]
            rules.append(.init(allow: allowed, type: "b", major: 7, minor: 0, access: "rw"))
            $0.linux?.resources = Resources(devices: rules)
        }
        try bundle.command(
            "sh", "-c", "id -u; ls -l /dev/loop-apus >/dev/null && head -c 0 /dev/loop-apus && echo OPENED")
        let out = try apus("run", "--bundle", bundle.path, uniqueID("dev"))
        #expect(out.stdout.hasPrefix("0\n"), "\(out.all)")
        if allowed, let reason = hostDeniesBlockDevice(major: 7, minor: 0) {
            try Test.cancel("deviceRules(allowed: true): \(reason)")
        }
        // Allowed: the open reaches the driver (ENXIO where no loop driver is loaded is fine).
        #expect(out.all.contains("Operation not permitted") == !allowed, "\(out.all)")
    }

    /// Why this process cannot open block device major:minor itself (its own device cgroup,
    /// e.g. when the tests run inside a container), or nil when it can reach the driver.
    func hostDeniesBlockDevice(major: UInt32, minor: UInt32) -> String? {
        let node = NSTemporaryDirectory() + "apus-devcheck-\(getpid())"
        unlink(node)
        defer { unlink(node) }
        // glibc's makedev for major < 4096, minor < 256.
        guard mknod(node, S_IFBLK | 0o600, dev_t(major << 8 | minor)) == 0 else {
            return "mknod b \(major):\(minor): \(String(cString: strerror(errno)))"
        }
        let fd = open(node, O_RDONLY)
        if fd >= 0 { close(fd) }
        return fd < 0 && errno == EPERM ? "the test process's own device cgroup denies b \(major):\(minor)" : nil
    }

    // MARK: files

    @Test("the kernel's files show the configured limits")
    func filesMatchConfig() throws {
        let bundle = try TestBundle {
            $0.linux?.resources = Resources(
                memory: .init(limit: 96 << 20, reservation: 48 << 20),
                cpu: .init(shares: 512, quota: 25_000, period: 50_000),
                pids: .init(limit: 42))
        }
        let id = uniqueID("files")
        defer { _ = try? apus("delete", "-f", id) }
        try runDetached(bundle, "sleep 30", id: id)
        if isUnifiedHost {
            #expect(try cgroupFile(id, "memory", "memory.max") == String(96 << 20))
            #expect(try cgroupFile(id, "memory", "memory.low") == String(48 << 20))
            #expect(try cgroupFile(id, "cpu", "cpu.max") == "25000 50000")
            // runc 1.5.1's conversion (quadratic in log2(shares)): 512 → 59.
            #expect(try cgroupFile(id, "cpu", "cpu.weight") == "59")
        } else {
            #expect(try cgroupFile(id, "memory", "memory.limit_in_bytes") == String(96 << 20))
            #expect(try cgroupFile(id, "memory", "memory.soft_limit_in_bytes") == String(48 << 20))
            #expect(try cgroupFile(id, "cpu", "cpu.cfs_quota_us") == "25000")
            #expect(try cgroupFile(id, "cpu", "cpu.cfs_period_us") == "50000")
            #expect(try cgroupFile(id, "cpu", "cpu.shares") == "512")
        }
        #expect(try cgroupFile(id, "pids", "pids.max") == "42")
    }

    @Test("a resource the host lacks is an error naming the field", arguments: ["rdma", "unified"])
    func missingResource(field: String) throws {
        if field == "rdma", FileManager.default.fileExists(atPath: "/sys/fs/cgroup/rdma") {
            try Test.cancel("missingResource(rdma): this host has the rdma controller")
        }
        let unifiedHasMemory =
            ((try? String(contentsOfFile: "/sys/fs/cgroup/unified/cgroup.controllers", encoding: .utf8)) ?? "")
            .contains("memory")
        if field == "unified", isUnifiedHost || unifiedHasMemory {
            try Test.cancel("missingResource(unified): memory is on cgroup v2 here")
        }
        let bundle = try TestBundle {
            if field == "rdma" {
                $0.linux?.resources = Resources(rdma: ["mlx5_0": .init(hcaHandles: 2, hcaObjects: 10)])
            } else {
                $0.linux?.resources = Resources(unified: ["memory.high": "100000000"])
            }
        }
        try bundle.command("true")
        let id = uniqueID("lack")
        let before = HostSnapshot.take(mentioning: id)
        let out = try apus("run", "--bundle", bundle.path, id)
        #expect(out.status != 0)
        #expect(out.stderr.contains("linux.resources.\(field)"), "\(out.stderr)")
        #expect(HostSnapshot.take(mentioning: id) == before)
    }

    // MARK: commands

    @Test("update changes live limits, seen from the host and from inside")
    func updateLiveLimits() throws {
        let bundle = try TestBundle {
            $0.root?.readonly = false
            $0.linux?.resources = Resources(memory: .init(limit: 64 << 20), pids: .init(limit: 20))
        }
        let id = uniqueID("upd")
        defer { _ = try? apus("delete", "-f", id) }
        let file = isUnifiedHost ? "memory.max" : "memory.limit_in_bytes"
        let inside = isUnifiedHost ? "/sys/fs/cgroup/\(file)" : "/sys/fs/cgroup/memory/\(file)"
        try runDetached(
            bundle, "while :; do cat \(inside) > /seen.tmp 2>&1; mv /seen.tmp /seen; sleep 0.1; done", id: id)
        let seen = bundle.rootfs + "/seen"
        try waitFor(10) { (try? String(contentsOfFile: seen, encoding: .utf8)) == "\(64 << 20)\n" }

        let out = try apus("update", "--memory", "128m", "--pids-limit", "33", "--cpu-share", "256", id)
        #expect(out.status == 0, "\(out.all)")
        #expect(try cgroupFile(id, "memory", file) == String(128 << 20))
        #expect(try cgroupFile(id, "pids", "pids.max") == "33")
        if !isUnifiedHost { #expect(try cgroupFile(id, "cpu", "cpu.shares") == "256") }
        try waitFor(10) { (try? String(contentsOfFile: seen, encoding: .utf8)) == "\(128 << 20)\n" }

        // --resources from stdin; the remembered pids limit stays.
        let json = #"{"memory":{"limit":100663296},"cpu":{"quota":20000,"period":100000}}"#
        let fromStdin = try apus("update", "--resources", "-", id, stdin: json)
        #expect(fromStdin.status == 0, "\(fromStdin.all)")
        #expect(try cgroupFile(id, "memory", file) == String(96 << 20))
        #expect(try cgroupFile(id, "pids", "pids.max") == "33")
        if !isUnifiedHost { #expect(try cgroupFile(id, "cpu", "cpu.cfs_quota_us") == "20000") }
        // A wrong type names its place in linux.resources, as config.json errors do.
        let wrongType = try apus("update", "--resources", "-", id, stdin: #"{"memory":{"limit":"96m"}}"#)
        #expect(wrongType.status != 0)
        #expect(wrongType.stderr.contains(".linux.resources.memory.limit"), "\(wrongType.stderr)")
        #expect(try cgroupFile(id, "memory", file) == String(96 << 20))

        let bad = try apus("update", "--memory", "lots", id)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("memory"), "\(bad.stderr)")

        _ = try apus("kill", id, "KILL")
        try waitFor(10) { try status(id) == "stopped" }
        let stopped = try apus("update", "--memory", "64m", id)
        #expect(stopped.status != 0)
        #expect(stopped.stderr.contains("not running"), "\(stopped.stderr)")
    }

    @Test("pause freezes the container, resume thaws it, a paused container can be killed")
    func pauseAndResume() throws {
        let bundle = try TestBundle { $0.root?.readonly = false }
        let id = uniqueID("pause")
        defer { _ = try? apus("delete", "-f", id) }
        try runDetached(
            bundle, "i=0; while :; do i=$((i+1)); echo $i > /c.tmp; mv /c.tmp /count; sleep 0.05; done", id: id)
        let countFile = bundle.rootfs + "/count"
        func count() -> Int {
            Int(
                ((try? String(contentsOfFile: countFile, encoding: .utf8)) ?? "").trimmingCharacters(
                    in: .whitespacesAndNewlines)) ?? -1
        }
        try waitFor(10) { count() > 0 }

        let notPaused = try apus("resume", id)
        #expect(notPaused.status != 0)
        #expect(notPaused.stderr.contains("container not paused"), "\(notPaused.stderr)")

        let paused = try apus("pause", id)
        #expect(paused.status == 0, "\(paused.all)")
        #expect(try status(id) == "paused")
        // The kernel's word that every task is frozen (v1 says FREEZING until then).
        if isUnifiedHost {
            #expect(try cgroupFile(id, "unified", "cgroup.events").contains("frozen 1"))
        } else {
            #expect(try cgroupFile(id, "freezer", "freezer.state") == "FROZEN")
        }
        let frozen = count()
        let again = try apus("pause", id)
        #expect(again.stderr.contains("container not running"), "\(again.stderr)")
        #expect(try status(id) == "paused")
        #expect(count() == frozen, "the counter moved while paused")

        #expect(try apus("resume", id).status == 0)
        #expect(try status(id) == "running")
        try waitFor(10) { count() > frozen }

        #expect(try apus("pause", id).status == 0)
        let killed = try apus("kill", "--all", id, "KILL")
        #expect(killed.status == 0, "\(killed.all)")
        try waitFor(10) { try status(id) == "stopped" }
        #expect(try apus("delete", id).status == 0)
    }

    @Test("SIGKILL to the init of a paused container stops it")
    func killPausedInit() throws {
        let bundle = try TestBundle()
        let id = uniqueID("pausekill")
        defer { _ = try? apus("delete", "-f", id) }
        try runDetached(bundle, "sleep 30", id: id)
        #expect(try apus("pause", id).status == 0)
        let killed = try apus("kill", id, "KILL")
        #expect(killed.status == 0, "\(killed.all)")
        // cgroup v1: a frozen task only dies once thawed; runc thaws after SIGKILL.
        try waitFor(5) { try status(id) == "stopped" }
    }

    @Test("ps lists the container's processes as json and as a ps table")
    func psListsPids() throws {
        let bundle = try TestBundle()
        let id = uniqueID("ps")
        defer { _ = try? apus("delete", "-f", id) }
        try runDetached(bundle, "sleep 31 & sleep 32 & wait", id: id)
        let initPid = try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? -1
        var pids: [Int] = []
        try waitFor(10) {
            let out = try apus("ps", "--format", "json", id)
            pids = (try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [Int]) ?? []
            return pids.count == 3
        }
        #expect(pids.contains(initPid))
        let table = try apus("ps", id)
        #expect(table.status == 0, "\(table.stderr)")
        let rows = table.stdout.split(separator: "\n")
        #expect(rows.first?.contains("PID") == true)
        #expect(rows.count == 4, "\(table.stdout)")
        #expect(rows.contains { $0.contains("sleep 31") } && rows.contains { $0.contains("sleep 32") })
        let custom = try apus("ps", id, "--", "-o", "pid,comm")
        #expect(
            custom.stdout.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
                .sorted() == pids.sorted().map { "\($0) " + ($0 == initPid ? "sh" : "sleep") }.sorted(),
            "\(custom.stdout)")
        let bad = try apus("ps", "--format", "xml", id)
        #expect(bad.status != 0)
    }

    /// A container may make child cgroups of its own and enable controllers for them
    /// (systemd as PID 1 moves itself into init.scope): its v2 cgroup then takes no process
    /// ("no internal processes", EBUSY). An exec'd process joins init's cgroup instead, as
    /// runc 1.5.1 does on pure cgroup v2 (compared in the systemd VM, Tests/systemd/pid1.sh);
    /// on this hybrid host's unified hierarchy runc fails that exec with EBUSY.
    @Test("exec into a container whose v2 cgroup has child cgroups joins init's cgroup")
    func execBesideNestedInit() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "1000")
        let id = uniqueID("nested")
        defer { _ = try? apus("delete", "-f", id) }
        let started = try apus("run", "-d", "--bundle", bundle.path, id)
        guard started.status == 0 else { throw TestFailure("run -d: \(started.all)") }
        let initPid = try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? -1
        guard let killFile = cgroupKillFile(pid: Int32(initPid)) else {
            try Test.cancel("execBesideNestedInit: no cgroup v2 with cgroup.kill for the container here")
        }
        let dir = String(killFile.dropLast("/cgroup.kill".count))
        let controllers = try String(contentsOfFile: dir + "/cgroup.controllers", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace)
        guard let controller = controllers.first else {
            try Test.cancel("execBesideNestedInit: the container's cgroup v2 has no controller to enable")
        }
        // What systemd does in its container: init into a child, a controller for the children.
        try FileManager.default.createDirectory(atPath: dir + "/init", withIntermediateDirectories: false)
        try "\(initPid)".write(toFile: dir + "/init/cgroup.procs", atomically: false, encoding: .utf8)
        try "+\(controller)".write(toFile: dir + "/cgroup.subtree_control", atomically: false, encoding: .utf8)
        let exec = try apus("exec", id, "cat", "/proc/self/cgroup")
        #expect(exec.status == 0, "exec: \(exec.all)")
        let line = exec.stdout.split(separator: "\n").first { $0.hasPrefix("0::") } ?? ""
        #expect(line.hasSuffix("/init"), "exec'd process in \(line), not init's cgroup")
        #expect(try apus("delete", "-f", id).status == 0)
        #expect(!FileManager.default.fileExists(atPath: dir), "delete left \(dir)")
    }

    /// The same id under two --root directories names the same default cgroup (/apus-ID):
    /// the second create must not join the first container's cgroup (its limits, pause and
    /// delete would reach the other's processes). runc 1.5.1 refuses the same way.
    @Test("a second container whose cgroup already holds processes is refused, the first left running")
    func busyCgroupRefused() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "1000")
        let id = uniqueID("busy")
        let otherRoot = NSTemporaryDirectory() + "apus-busy-root-\(getpid())"
        defer {
            _ = try? apus("delete", "-f", id)
            _ = try? sh(Env.apus ?? "", ["--root", otherRoot, "delete", "-f", id])
            try? FileManager.default.removeItem(atPath: otherRoot)
        }
        let first = try apus("run", "-d", "--bundle", bundle.path, id)
        guard first.status == 0 else { throw TestFailure("run -d: \(first.all)") }
        let paths = try cgroupPaths(id)
        let second = try sh(Env.apus ?? "", ["--root", otherRoot, "run", "-d", "--bundle", bundle.path, id])
        #expect(second.status == 1, "\(second.all)")
        #expect(second.stderr.contains("container's cgroup is not empty: 1 process(es) found"), "\(second.stderr)")
        #expect(second.stderr.contains(".linux.cgroupsPath"), "\(second.stderr)")
        #expect(!FileManager.default.fileExists(atPath: otherRoot + "/" + id), "state of the refused container left")
        #expect(try status(id) == "running")
        for dir in Set(paths.values) {
            #expect(FileManager.default.fileExists(atPath: dir), "the first container's \(dir) was removed")
        }
        if let runc = Env.runc {
            let runcRoot = NSTemporaryDirectory() + "runc-busy-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: runcRoot) }
            // runc's default cgroup for an id is /ID: point it at apus's busy one.
            let theirs = try TestBundle {
                $0.linux?.cgroupsPath = "/apus-" + id
                $0.process?.args = ["sleep", "1000"]
            }
            let refused = try sh(runc, ["--root", runcRoot, "run", "-d", "--bundle", theirs.path, id + "-runc"])
            _ = try? sh(runc, ["--root", runcRoot, "delete", "-f", id + "-runc"])
            #expect(
                refused.status == 1 && refused.all.contains("container's cgroup is not empty"), "runc: \(refused.all)")
        }
    }

    @Test("kill --all signals every process through the cgroup")
    func killAll() throws {
        let bundle = try TestBundle { $0.linux?.namespaces?.removeAll { $0.type == .pid } }
        let id = uniqueID("killall")
        defer { _ = try? apus("delete", "-f", id) }
        try runDetached(bundle, "sleep 41 & sleep 42 & wait", id: id)
        var pids: [Int] = []
        try waitFor(10) {
            let out = try apus("ps", "-f", "json", id)
            pids = (try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [Int]) ?? []
            return pids.count == 3
        }
        // SIGKILL is one write to cgroup.kill where the kernel has it (5.14+; the unified
        // hierarchy of a hybrid host has it too), as runc 1.2+ does; seen with strace.
        let hasKill = pids.first.flatMap { cgroupKillFile(pid: Int32($0)) } != nil
        if hasKill, FileManager.default.isExecutableFile(atPath: "/usr/bin/strace") {
            let trace = NSTemporaryDirectory() + "\(id).strace"
            defer { try? FileManager.default.removeItem(atPath: trace) }
            let killed = try sh(
                "/usr/bin/strace",
                [
                    "-f", "-e", "trace=openat", "-o", trace, Env.apus ?? "", "--root", Env.stateRoot, "kill", "--all",
                    id, "KILL",
                ])
            #expect(killed.status == 0, "\(killed.all)")
            let opened = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
            #expect(opened.contains("/cgroup.kill\", O_WRONLY"), "kill --all KILL writes cgroup.kill: \(opened)")
        } else {
            #expect(try apus("kill", "--all", id, "KILL").status == 0)
        }
        try waitFor(10) { pids.allSatisfy { isGone(Int32($0)) } }
        try waitFor(10) { try status(id) == "stopped" }
        #expect(try apus("delete", id).status == 0)
    }

    @Test("events streams stats at the interval and ends when the container stops or on SIGTERM")
    func eventsStream() throws {
        let bundle = try TestBundle()
        let id = uniqueID("ev")
        defer { _ = try? apus("delete", "-f", id) }
        try runDetached(bundle, "sleep 30", id: id)
        let log = NSTemporaryDirectory() + "\(id).events"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let events = try spawn(["events", "--interval", "200ms", id], log: log)
        try waitFor(10) {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count >= 2
        }
        kill(events.processIdentifier, SIGTERM)
        try wait(events, seconds: 5)
        #expect(events.terminationStatus == 0)
        for line in try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n") {
            let event = try decodeState(String(line))
            #expect(event["type"] as? String == "stats")
            #expect(event["id"] as? String == id)
        }
        // A second stream ends by itself when the container stops; killed once it has
        // printed its first stats line (it is then watching).
        let secondLog = log + "-2"
        defer { try? FileManager.default.removeItem(atPath: secondLog) }
        let second = try spawn(["events", "--interval", "5s", id], log: secondLog)
        try waitFor(10) { ((try? String(contentsOfFile: secondLog, encoding: .utf8)) ?? "").contains("\n") }
        _ = try apus("kill", id, "KILL")
        try wait(second, seconds: 10)
        #expect(second.terminationStatus == 0)
        let gone = try apus("events", "--stats", id)
        #expect(gone.stderr.contains("is not running"), "\(gone.stderr)")
    }

    @Test("100 create/delete cycles leave no cgroup behind")
    func createDeleteCyclesLeakNothing() throws {
        let bundle = try TestBundle {
            $0.linux?.resources = Resources(memory: .init(limit: 64 << 20), pids: .init(limit: 50))
        }
        try bundle.command("true")
        let prefix = uniqueID("cycle")
        for index in 0..<100 {
            let id = "\(prefix)-\(index)"
            let created = try apus("create", "--bundle", bundle.path, id)
            #expect(created.status == 0, "\(created.all)")
            let deleted = try apus("delete", "-f", id)
            #expect(deleted.status == 0, "\(deleted.all)")
            if created.status != 0 || deleted.status != 0 { break }
        }
        let left = HostSnapshot.take(mentioning: prefix)
        #expect(left.cgroups.isEmpty, "\(left.cgroups.prefix(5))")
        #expect(left.stateEntries.isEmpty)
        #expect(processes(mentioning: prefix).isEmpty)
    }
}

/// The cgroup.kill file of the v2 (or hybrid unified) cgroup `pid` is in, where the kernel
/// has one.
func cgroupKillFile(pid: Int32) -> String? {
    let lines = ((try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? "").split(separator: "\n")
    guard let line = lines.first(where: { $0.hasPrefix("0::") }) else { return nil }
    let relative = String(line.dropFirst(3))
    let mounts = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
    return mounts.map { $0 + relative + "/cgroup.kill" }.first { FileManager.default.fileExists(atPath: $0) }
}
