import ApusCore
import Testing

/// runc's value syntax for `update` and `events`.
struct CgroupCommandParsingTests {
    static let sizeCases: [(String, Int64)] = [
        ("1024", 1024), ("512m", 536_870_912), ("512M", 536_870_912), ("1g", 1_073_741_824),
        ("1.5g", 1_610_612_736), ("100MiB", 104_857_600), ("100 MB", 104_857_600), ("64k", 65_536), ("2kb", 2048),
        ("7b", 7), ("1T", 1_099_511_627_776),
    ]

    @Test("memory sizes as go-units RAMInBytes reads them", arguments: sizeCases)
    func memorySizes(text: String, bytes: Int64) {
        #expect(parseMemorySize(text) == bytes)
    }

    @Test("invalid memory sizes", arguments: ["", "m", "-1", "12x", "1..5m", "1.m", "lots", "5mm", " 5m"])
    func invalidMemorySizes(text: String) {
        #expect(parseMemorySize(text) == nil)
    }

    static let durationCases: [(String, Int)] = [
        ("5s", 5000), ("500ms", 500), ("1m30s", 90_000), ("2h", 7_200_000), ("1.5s", 1500), ("0", 0),
    ]

    @Test("Go durations for --interval", arguments: durationCases)
    func durations(text: String, milliseconds: Int) {
        #expect(parseDurationMilliseconds(text) == milliseconds)
    }

    @Test("invalid durations", arguments: ["", "5", "s", "5x", "-1s"])
    func invalidDurations(text: String) {
        #expect(parseDurationMilliseconds(text) == nil)
    }
}
