import Foundation
import OCI

/// Paths of the committed fixtures, found from this file's location.
enum Fixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // OCITests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("spec-fixtures")

    static func files(_ subdirectory: String, ext: String) -> [String] {
        let dir = root.appendingPathComponent(subdirectory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix("." + ext) }.map { String($0.dropLast(ext.count + 1)) }.sorted()
    }

    static let validConfigs = files("configs/valid", ext: "json")
    static let invalidConfigs = files("configs/invalid", ext: "json")

    static func data(_ relativePath: String) throws -> Data {
        try Data(contentsOf: root.appendingPathComponent(relativePath))
    }
}

/// Decode then validate: every problem a user would be told about.
func problems(_ data: Data) -> [ConfigError] {
    do {
        return try Spec.decode(data).validate()
    } catch {
        return [error]
    }
}

func problems(_ json: String) -> [ConfigError] {
    problems(Data(json.utf8))
}

/// A small valid config to mutate in tests.
let minimalJSON = """
    {
        "ociVersion": "1.2.0",
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/"},
        "root": {"path": "rootfs"},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
    }
    """
