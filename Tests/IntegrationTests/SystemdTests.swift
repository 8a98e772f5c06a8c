import Foundation
import OCI
import Testing

/// `--systemd-cgroup` on a host where systemd is not PID 1 (this one): apus, like runc
/// 1.5.1, refuses with the reason and leaves nothing behind. The driver itself runs in the
/// systemd VM (`make test-systemd`, Tests/systemd).
@Suite("systemd cgroup driver without systemd", .integration, .serialized)
struct SystemdTests {
    static var systemdBooted: Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: "/run/systemd/system", isDirectory: &isDir) && isDir.boolValue
    }

    @Test(
        "create and run with --systemd-cgroup fail with the reason, exit 1, leave nothing; runc refuses too",
        arguments: ["create", "run"])
    func refusedWithoutSystemd(command: String) throws {
        if Self.systemdBooted { try Test.cancel("systemd is PID 1 here: the refusal is for hosts without it") }
        let runc = try Env.requireRunc()
        let bundle = try TestBundle { spec in
            spec.process?.args = ["true"]
            spec.linux?.cgroupsPath = "system.slice:apus:\(uniqueID("sd"))"
        }
        let id = uniqueID("sd")
        let slice = "apussd\(getpid()).slice"
        bundle.spec.linux?.cgroupsPath = "\(slice):apus:\(id)"
        try bundle.save()
        let before = HostSnapshot.take(mentioning: id)
        let ours = try apusArgs(["--systemd-cgroup", command, "--bundle", bundle.path, id])
        #expect(ours.status == 1, "\(ours.all)")
        #expect(ours.stderr.contains("systemd is not reachable on the system bus at unix:path="), "\(ours.stderr)")
        #expect(ours.stderr.contains("drop --systemd-cgroup to use the cgroupfs driver"), "\(ours.stderr)")
        #expect(HostSnapshot.take(mentioning: id) == before, "left behind: \(HostSnapshot.take(mentioning: id))")
        #expect(HostSnapshot.take(mentioning: slice).cgroups.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))

        let runcRoot = NSTemporaryDirectory() + "runc-sd-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: runcRoot) }
        let theirs = try sh(runc, ["--root", runcRoot, "--systemd-cgroup", command, "--bundle", bundle.path, id])
        #expect(theirs.status == ours.status, "runc: \(theirs.all)")
        #expect(theirs.stderr.contains("systemd not running on this host"), "\(theirs.stderr)")
        #expect(HostSnapshot.take(mentioning: slice).cgroups.isEmpty)
    }

    @Test("without --systemd-cgroup, a slice:prefix:name path is still laid out in cgroupfs")
    func cgroupfsTakesSystemdShapedPath() throws {
        let id = uniqueID("sdfs")
        let slice = "apussdfs\(getpid()).slice"
        let bundle = try TestBundle { spec in
            spec.process?.args = ["cat", "/proc/self/cgroup"]
            spec.linux?.cgroupsPath = "\(slice):apus:\(id)"
        }
        let out = try apus("run", "--bundle", bundle.path, id)
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout.contains("/\(slice)/apus-\(id).scope"), "\(out.stdout)")
        #expect(HostSnapshot.take(mentioning: slice).cgroups.isEmpty)
    }
}

@Suite("apus info: the systemd driver's reachability", .integration)
struct SystemdInfoTests {
    @Test("info names the bus tried and says --systemd-cgroup fails without systemd")
    func infoSaysUnreachable() throws {
        if SystemdTests.systemdBooted { try Test.cancel("systemd is PID 1 here: the refusal is for hosts without it") }
        let text = try apus("info")
        #expect(text.status == 0, "\(text.all)")
        #expect(
            text.stdout.contains("systemd not reachable on the system bus at unix:path=/run/dbus/system_bus_socket"),
            "\(text.stdout)")
        #expect(text.stdout.contains("--systemd-cgroup fails: /run/systemd/system does not exist"), "\(text.stdout)")
        let json = try apus("info", "--format", "json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let systemd = object?["systemd"] as? [String: Any]
        #expect(systemd?["reachable"] as? Bool == false, "\(json.stdout)")
        #expect((systemd?["bus"] as? String)?.contains("/run/dbus/system_bus_socket") == true)
    }
}
