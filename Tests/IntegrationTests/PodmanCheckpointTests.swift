import Foundation
import Testing

/// podman finds criu on $PATH: a directory with `criu` → ../shared/tools/criu (4.2) goes
/// first in podman's PATH (Debian's 3.17 fails on this kernel).
extension PodmanLab {
    func criuEnvironment() throws -> [String: String] {
        let criu = try CRIUEnv.require()
        let bin = dir + "/criu-bin"
        try? FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: bin + "/criu")
        try FileManager.default.createSymbolicLink(atPath: bin + "/criu", withDestinationPath: criu)
        var env = environment
        env["PATH"] = bin + ":" + (env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin")
        return env
    }

    /// `podman GLOBAL-FLAGS ARGS…` with criu 4.2 first on PATH.
    func podmanWithCRIU(_ args: [String], timeout: TimeInterval = 90) throws -> Output {
        try PodmanLab.spawn(
            [PodmanLab.which("podman") ?? "/usr/bin/podman"] + globalFlags() + args, environment: try criuEnvironment(),
            timeout: timeout)
    }
}

extension PodmanTests {
    /// The number the container last wrote to /tmp/count (tmpfs of its own: podman's
    /// checkpoint keeps the rootfs changes and tmpfs contents in the image).
    func podmanCount(_ lab: PodmanLab, _ name: String) -> Int {
        let out = try? lab.podman(["exec", name, "cat", "/tmp/count"])
        return Int(out?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
    }

    /// The count right after a restore. A read that fails (podman exec, or a file caught
    /// between its truncation and its write) is retried a few times; the failures are returned
    /// for the message.
    func countAfterRestore(_ lab: PodmanLab, _ name: String) -> (count: Int, failedReads: [String]) {
        var count = -1
        var failedReads: [String] = []
        for _ in 0..<4 where count < 0 {
            let out = try? lab.podman(["exec", name, "cat", "/tmp/count"])
            count = Int(out?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
            if count < 0 {
                failedReads.append(out?.all ?? "podman exec did not run")
                usleep(100_000)
            }
        }
        return (count, failedReads)
    }

    @Test("podman container checkpoint / restore, and --export / --import after rm")
    func checkpointRestore() throws {
        let lab = try lab
        _ = try lab.criuEnvironment()
        let name = "cr-\(getpid())"
        let archive = lab.dir + "/\(name).tar.gz"
        defer {
            _ = try? lab.podman(["rm", "-f", name])
            try? FileManager.default.removeItem(atPath: archive)
        }
        _ = try lab.start(
            name, [PodmanLab.image, "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"])
        // Counted to 40 (2 s) first: a restart from zero could not reach it in the retries below.
        var before = -1
        #expect(
            waitUntil {
                before = podmanCount(lab, name)
                return before >= 40
            })
        let checkpoint = try lab.podmanWithCRIU(["container", "checkpoint", name])
        #expect(checkpoint.status == 0, "\(checkpoint.all)")
        #expect(try lab.inspect(name, "{{.State.Status}}") == "exited")

        let restore = try lab.podmanWithCRIU(["container", "restore", name])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(try lab.inspect(name, "{{.State.Status}}") == "running")
        let (restored, failedReads) = countAfterRestore(lab, name)
        #expect(
            restored >= before, "counts on from the checkpoint (\(before)), not from zero: \(restored); \(failedReads)")
        if !failedReads.isEmpty { print("podman checkpoint: reads right after restore failed first: \(failedReads)") }
        #expect(waitUntil { podmanCount(lab, name) > restored + 2 })

        let export = try lab.podmanWithCRIU(["container", "checkpoint", "--export", archive, name])
        #expect(export.status == 0, "\(export.all)")
        let stopped = podmanCount(lab, name)
        #expect(try lab.podman(["rm", "-f", name]).status == 0)
        let imported = try lab.podmanWithCRIU(["container", "restore", "--import", archive])
        #expect(imported.status == 0, "\(imported.all)")
        let (afterImport, failedImportReads) = countAfterRestore(lab, name)
        #expect(
            afterImport >= 5 && afterImport < stopped + 200, "from \(stopped): \(afterImport); \(failedImportReads)")
        #expect(waitUntil { podmanCount(lab, name) > afterImport + 2 })
    }
}
