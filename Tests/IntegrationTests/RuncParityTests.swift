import Foundation
import OCI
import Testing

/// The default `apus spec` bundle, run under apus and under runc 1.5.1: what the process
/// sees must be the same, minus ids and times.
@Suite("runc parity", .integration)
struct RuncParityTests {
    static let probes: [(name: String, script: String)] = [
        ("status", "grep -E '^(Cap|NoNewPrivs|Seccomp|Uid|Gid|Groups|Umask)' /proc/self/status"),
        ("mount", "mount"),
        ("dev", "ls -l /dev"),
        ("hostname", "hostname"),
        ("id", "id"),
        ("ulimit", "ulimit -a"),
        ("pid1", "grep -E '^(Pid|PPid|NSpid|Threads)' /proc/1/status; cat /proc/1/cmdline | tr '\\0' ' '"),
        ("net", "cat /proc/net/dev | tail -n +3 | awk '{print $1}'; cat /sys/class/net/lo/operstate"),
        ("cwd-env", "pwd; env | sort | grep -v '^PWD='"),
        (
            "masked",
            "cat /proc/kcore 2>&1 | wc -c; ls /proc/acpi 2>&1 | wc -l; touch /proc/sys/x 2>&1 | sed 's/^.*: //'"
        ),
    ]

    @Test("the process sees the same under apus and runc", arguments: probes.map(\.name))
    func sameAsRunc(probe: String) throws {
        let runc = try Env.requireRunc()
        let script = Self.probes.first { $0.name == probe }?.script ?? ""
        let bundle = try TestBundle()
        try bundle.command("sh", "-c", script)
        let ours = try apus("run", "--bundle", bundle.path, uniqueID("parity"))
        // A root of this run's own, removed after: parameterized cases run in parallel.
        let runcRoot = NSTemporaryDirectory() + "runc-parity-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: runcRoot) }
        let theirs = try sh(runc, ["--root", runcRoot, "run", "--bundle", bundle.path, uniqueID("parity-runc")])
        #expect(ours.status == theirs.status, "exit: apus \(ours.status) runc \(theirs.status): \(ours.stderr)")
        #expect(
            normalize(ours.stdout) == normalize(theirs.stdout),
            "\(probe) differs:\n--- apus\n\(ours.stdout)--- runc\n\(theirs.stdout)")
    }

    @Test("tmpcopyup: ls -la of the copied tree is the same under apus and runc")
    func tmpcopyupSameAsRunc() throws {
        let runc = try Env.requireRunc()
        // runc makes directories with mkdir(mode) under its umask (022): modes it keeps.
        let bundle = try copyUpBundle(options: ["tmpcopyup", "nosuid", "size=1m"], modes: (0o1777, 0o755, 0o4711))
        try FileManager.default.createDirectory(
            atPath: bundle.rootfs + "/copy/sub/deeper", withIntermediateDirectories: false)
        try bundle.command("sh", "-c", "ls -laR /copy; grep ' /copy ' /proc/self/mountinfo | cut -d' ' -f6-")
        let ours = try apus("run", "--bundle", bundle.path, uniqueID("parity"))
        let runcRoot = NSTemporaryDirectory() + "runc-parity-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: runcRoot) }
        let theirs = try sh(runc, ["--root", runcRoot, "run", "--bundle", bundle.path, uniqueID("parity-runc")])
        #expect(ours.status == 0 && theirs.status == 0, "apus: \(ours.all)\nrunc: \(theirs.all)")
        #expect(
            normalize(ours.stdout) == normalize(theirs.stdout),
            "differs:\n--- apus\n\(ours.stdout)--- runc\n\(theirs.stdout)")
        #expect(ours.stdout.contains("-rws--x--x"), "\(ours.stdout)")
    }

    @Test(
        "linux.rootfsPropagation: the new root's propagation is the same under apus and runc",
        arguments: ["unbindable", "private", "rprivate", "slave", "rslave"])
    func rootfsPropagationSameAsRunc(propagation: String) throws {
        let runc = try Env.requireRunc()
        let bundle = try propagationBundle(propagation)
        let ours = try apus("run", "--bundle", bundle.path, uniqueID("prop"))
        let runcRoot = NSTemporaryDirectory() + "runc-parity-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: runcRoot) }
        let theirs = try sh(runc, ["--root", runcRoot, "run", "--bundle", bundle.path, uniqueID("prop-runc")])
        #expect(ours.status == 0 && theirs.status == 0, "apus: \(ours.all)\nrunc: \(theirs.all)")
        #expect(ours.stdout == theirs.stdout, "apus: \(ours.stdout) runc: \(theirs.stdout)")
        if propagation.hasSuffix("unbindable") { #expect(ours.stdout.contains("unbindable"), "\(ours.stdout)") }
    }

    /// runc 1.5.1 fails here ("error mounting cgroup … invalid argument": it makes the host
    /// tree recursively unbindable before binding the cgroup hierarchies from it); apus
    /// makes only the new root's tree unbindable, at the end, as the spec asks.
    @Test("linux.rootfsPropagation runbindable: the container runs and its root is unbindable")
    func rootfsRunbindable() throws {
        let bundle = try propagationBundle("runbindable")
        let ours = try apus("run", "--bundle", bundle.path, uniqueID("prop"))
        #expect(ours.status == 0 && ours.stdout == "unbindable end\n", "\(ours.all)")
    }

    /// A bundle whose process prints the optional fields of / in its mountinfo (shared:N,
    /// master:N, unbindable), peer group ids elided.
    func propagationBundle(_ propagation: String) throws -> TestBundle {
        let bundle = try TestBundle { $0.linux?.rootfsPropagation = propagation }
        try bundle.command(
            "sh", "-c",
            "awk '$5 == \"/\" { for (i = 7; $i != \"-\"; i++) printf \"%s \", $i; print \"end\" }' "
                + "/proc/self/mountinfo | sed 's/:[0-9]*/:N/g'")
        return bundle
    }

    /// Times differ between two runs; everything else must not.
    func normalize(_ text: String) -> String {
        text.replacingOccurrences(of: #"[A-Z][a-z]{2} +\d+ \d\d:\d\d"#, with: "TIME", options: .regularExpression)
    }
}
