import Foundation
import Testing

extension ContainerdTests {
    /// A runtime wrapper that gives apus criu 4.2 (`--criu`, a global flag, first) and logs
    /// its calls apart from the suite's invocation table.
    static func criuWrapper(_ ctrd: ContainerdDaemon) throws -> String {
        let criu = try CRIUEnv.require()
        let path = ctrd.dir + "/apus-criu"
        try ContainerdDaemon.writeScript(
            path,
            """
            #!/bin/sh
            printf '%s\\n' "$*" >>\(ctrd.dir)/criu-invocations.log
            exec \(Env.apus ?? "/nonexistent") --criu \(criu) "$@"
            """)
        return path
    }

    func ctrCount(_ ctrd: ContainerdDaemon, _ id: String, exec: String) -> Int {
        let out = try? ctrd.ctr([
            "task", "exec", "--fifo-dir", ctrd.fifoDir, "--exec-id", exec, id, "cat", "/tmp/count",
        ])
        return Int(out?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
    }

    @Test("ctr checkpoint and restore of a task through the runc.v2 shim (apus checkpoint / restore)")
    func checkpointRestore() throws {
        let ctrd = try ctrd
        let wrapper = try Self.criuWrapper(ctrd)
        let id = ctrd.newID("criu")
        let ref = "localhost/apus-checkpoint-\(id):latest"
        defer {
            _ = try? ctrd.ctr(["task", "kill", "--signal", "KILL", id])
            _ = try? ctrd.ctr(["task", "delete", "--force", id])
            _ = try? ctrd.ctr(["container", "rm", id])
            _ = try? ctrd.ctr(["images", "rm", ref])
        }
        let run = try ctrd.run(
            ["-d", Self.image, id, "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"],
            runtime: wrapper)
        #expect(run.status == 0, "\(run.all)")
        #expect(waitUntil { ctrCount(ctrd, id, exec: "c0") >= 5 })

        let images = ctrd.dir + "/criu-images-\(id)"
        let leave = try ctrd.ctr(["task", "checkpoint", "--image-path", images, id], timeout: 90)
        #expect(leave.status == 0, "\(leave.all)")
        #expect(FileManager.default.fileExists(atPath: images + "/inventory.img"), "criu wrote its images")
        #expect(try ctrd.task(id)?.status == "RUNNING", "checkpoint without --exit leaves it running")

        let checkpoint = try ctrd.ctr(["container", "checkpoint", "--task", "--rw", id, ref], timeout: 90)
        #expect(checkpoint.status == 0, "\(checkpoint.all)")
        let before = ctrCount(ctrd, id, exec: "c1")
        _ = try ctrd.ctr(["task", "kill", "--signal", "KILL", id])
        _ = try ctrd.ctr(["task", "delete", "--force", id])
        #expect(try ctrd.ctr(["container", "rm", id]).status == 0)

        let restore = try ctrd.ctr(["container", "restore", "--live", "--rw", id, ref], timeout: 90)
        #expect(restore.status == 0, "\(restore.all)")
        #expect(try ctrd.waitForStatus(id, "RUNNING"))
        let after = ctrCount(ctrd, id, exec: "c2")
        #expect(after >= 5, "restored from the checkpoint, not from zero: \(after) (before \(before))")
        #expect(waitUntil { ctrCount(ctrd, id, exec: "c3") > after + 2 }, "it counts on")
        let log = ContainerdDaemon.read(ctrd.dir + "/criu-invocations.log")
        #expect(log.contains(" checkpoint "), "\(log)")
        #expect(log.contains(" restore "), "\(log)")
    }
}
