import Foundation
import OCI
import Testing

@Suite("config.json fixtures")
struct FixtureTests {
    @Test("the fixture directories are populated")
    func fixturesExist() {
        #expect(Fixtures.validConfigs.count >= 15)
        #expect(Fixtures.invalidConfigs.count >= 30)
    }

    @Test("valid fixtures decode and validate without errors", arguments: Fixtures.validConfigs)
    func valid(name: String) throws {
        let data = try Fixtures.data("configs/valid/\(name).json")
        let spec = try Spec.decode(data)
        let errors = spec.validate()
        #expect(errors.isEmpty, "\(name): \(errors.map(\.description))")
    }

    @Test("valid fixtures survive an encode/decode round trip", arguments: Fixtures.validConfigs)
    func roundTrip(name: String) throws {
        let spec = try Spec.decode(try Fixtures.data("configs/valid/\(name).json"))
        let again = try Spec.decode(try spec.encodedSpec())
        #expect(again == spec)
    }

    @Test("invalid fixtures report the expected path and reason", arguments: Fixtures.invalidConfigs)
    func invalid(name: String) throws {
        let data = try Fixtures.data("configs/invalid/\(name).json")
        let expected = String(decoding: try Fixtures.data("configs/invalid/\(name).error"), as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(expected.count >= 2, "\(name).error must have a path line and a reason line")
        let path = expected[0]
        let reason = expected[1]
        let found = problems(data)
        #expect(!found.isEmpty, "\(name): expected an error, config was accepted")
        #expect(
            found.contains { $0.path == path && $0.reason.contains(reason) },
            "\(name): expected \(path): …\(reason)…, got \(found.map(\.description))")
    }

    @Test("each validation fixture has exactly one problem", arguments: Fixtures.invalidConfigs)
    func invalidIsFocused(name: String) throws {
        let found = problems(try Fixtures.data("configs/invalid/\(name).json"))
        #expect(found.count == 1, "\(name): \(found.map(\.description))")
    }
}
