import Foundation
import Glibc
import OCI
import Testing

@testable import ApusLinux

/// The write executor against a plain directory standing in for a cgroup (no root):
/// missing files, fallbacks, warnings and error texts.
@Suite("Cgroup write execution")
struct CgroupExecuteTests {
    let dir: String
    let manager: CgroupManager

    init() throws {
        dir = "/tmp/apus-cgexec-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        var manager = CgroupManager(layout: CgroupLayout(kind: .v1, v1: ["memory": dir, "blkio": dir]), path: "")
        manager.paths = ["memory": dir, "blkio": dir]
        self.manager = manager
        for file in ["memory.limit_in_bytes", "blkio.bfq.weight"] {
            _ = FileManager.default.createFile(atPath: dir + "/" + file, contents: nil)
        }
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }

    @Test func writesFallbacksAndSkips() throws {
        defer { cleanup() }
        var warnings: [String] = []
        let writes =
            try CgroupMemory.writes(.init(limit: 1234, swap: -1, kernel: 5), version: .v1).writes
            + CgroupBlockIO.writes(.init(weight: 300), version: .v1).writes
        try manager.execute(writes, warn: { warnings.append($0) })
        #expect(CgroupFS.read(dir + "/memory.limit_in_bytes") == "1234")
        // blkio.weight is missing: BFQ's file takes the value.
        #expect(CgroupFS.read(dir + "/blkio.bfq.weight") == "300")
        // memsw missing with -1: skipped; kmem missing: a warning.
        #expect(warnings == ["kernel memory limit ignored: this kernel has no memory.kmem.limit_in_bytes"])
    }

    @Test func missingFileError() throws {
        defer { cleanup() }
        let writes = try CgroupMemory.writes(.init(limit: 1000, swap: 2000), version: .v1).writes
        let error = #expect(throws: ApusError.self) { try manager.execute(writes, warn: { _ in }) }
        #expect(
            error?.description
                == "cgroup: write 2000 to \(dir)/memory.memsw.limit_in_bytes: No such file or directory: this kernel does not account swap (boot with swapaccount=1) (config.json .linux.resources.memory.swap)"
        )
    }

    @Test func missingController() throws {
        defer { cleanup() }
        let error = #expect(throws: ApusError.self) {
            try manager.execute(CgroupPids.writes(.init(limit: 5), version: .v1).writes, warn: { _ in })
        }
        #expect(error?.description.contains("the pids controller is not available") == true)
        #expect(error?.field == ".linux.resources.pids.limit")
    }
}
