import Foundation
import OCI
import Testing

@testable import ApusLinux

@Suite("Cgroup statistics parsing")
struct CgroupStatsTests {
    @Test func keyedAndLists() {
        #expect(
            CgroupStatsReader.parseKeyed("nr_periods 10\nnr_throttled 2\nbogus\n") == [
                "nr_periods": 10, "nr_throttled": 2,
            ])
        #expect(CgroupStatsReader.parseList("0-3,5\n") == [0, 1, 2, 3, 5])
        #expect(CgroupStatsReader.parseList("") == [])
    }

    @Test func blkioEntries() {
        let entries = CgroupStatsReader.parseEntries("8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n")
        #expect(entries.count == 3)
        #expect(entries[0] == CgroupStats.BlkioEntry(major: 8, minor: 0, op: "Read", value: 4096))
    }

    @Test func ioStat() {
        let blkio = CgroupStatsReader.parseIOStat("8:0 rbytes=1024 wbytes=2048 rios=3 wios=4 dbytes=0 dios=0\n")
        #expect(
            blkio.ioServiceBytesRecursive == [
                .init(major: 8, minor: 0, op: "Read", value: 1024), .init(major: 8, minor: 0, op: "Write", value: 2048),
            ])
        #expect(blkio.ioServicedRecursive.map(\.value) == [3, 4])
    }

    @Test func encodesLikeRunc() throws {
        var stats = CgroupStats()
        stats.cpu.usage.total = 5
        stats.memory.usage = .init(limit: 100, usage: 0, max: 0, failcnt: 0)
        stats.pids.current = 1
        stats.hugetlb["2MB"] = .init(usage: 0, max: 0, failcnt: 0)
        stats.hugetlb["1GB"] = .init(usage: 7, max: 0, failcnt: 1)
        stats.memory.raw = ["total_rss": 2, "cache": 1]
        // runc's field order (Go struct order), map keys sorted as Go sorts them.
        let json = try JSONNode.encoding(stats).compactText
        #expect(
            json.hasPrefix("{\"cpu\":{\"usage\":{\"total\":5,\"kernel\":0,\"user\":0},\"throttling\":{}},"), "\(json)")
        #expect(json.contains("\"usage\":{\"limit\":100,\"failcnt\":0}"), "\(json)")
        #expect(json.contains("\"raw\":{\"cache\":1,\"total_rss\":2}"), "\(json)")
        #expect(json.contains("\"pids\":{\"current\":1}"), "\(json)")
        #expect(json.contains("\"hugetlb\":{\"1GB\":{\"usage\":7,\"failcnt\":1},\"2MB\":{\"failcnt\":0}}"), "\(json)")
        #expect(json.hasSuffix("\"intel_rdt\":{},\"network_interfaces\":null}"), "\(json)")
        #expect(json.contains("\"blkio\":{}"), "\(json)")
    }
}
