import Glibc

/// A problem with config.json, located by a jq-style JSON path (`.mounts[3].destination`,
/// `.linux.resources.memory.limit`; `""` for the whole document).
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        path.isEmpty ? "config.json: \(reason)" : "config.json \(path): \(reason)"
    }
}

extension Spec {
    /// runc reads config.json without a limit. Real configs are a few KiB (seccomp profiles
    /// push them to ~30 KiB); the cap only stops a runaway or hostile file from being read
    /// into memory whole.
    public static let maxConfigSize = 16 * 1024 * 1024

    /// Decodes config.json: strict RFC 8259 JSON (as Go's encoding/json, so what runc rejects
    /// apus rejects), unknown fields ignored, every error located by JSON path or, for
    /// malformed JSON, by line and column.
    public static func decode(_ data: some Collection<UInt8>) throws(ConfigError) -> Spec {
        let tree = try parse(data)
        // Most configs take the fast path; the rest, and every error, go through Codable.
        if let spec = FastDecode.spec(tree) { return spec }
        return try decode(Spec.self, tree: tree)
    }

    /// Decodes a bare `process` object, as `exec --process FILE` takes it, with the
    /// same strictness as config.json; error paths are relative to the process object.
    public static func decodeProcess(_ data: some Collection<UInt8>) throws(ConfigError) -> Spec.Process {
        try decodeFragment(Spec.Process.self, from: data)
    }

    /// Decodes one object of config.json on its own (a process for `exec --process`,
    /// `linux.resources` for `update --resources`), as strictly as config.json; error
    /// paths are relative to that object.
    public static func decodeFragment<T: Decodable>(_ type: T.Type, from data: some Collection<UInt8>)
        throws(ConfigError) -> T
    {
        try decode(type, tree: try parse(data))
    }

    /// The JSON tree of a config file, within the size apus accepts.
    static func parse(_ data: some Collection<UInt8>) throws(ConfigError) -> JSONNode {
        if data.count > maxConfigSize {
            throw ConfigError(
                path: "",
                reason: "file is \(data.count) bytes, larger than the \(maxConfigSize / 1024 / 1024) MiB apus accepts")
        }
        do {
            return try JSONParser.parse(data)
        } catch {
            throw ConfigError(path: "", reason: "malformed JSON: \(error.description)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, tree: JSONNode) throws(ConfigError) -> T {
        do {
            return try T(from: TreeDecoder(node: tree))
        } catch {
            throw configError(from: error)
        }
    }

    /// Reads and decodes `<bundle>/config.json`.
    public static func load(bundle: String) throws(ConfigError) -> Spec {
        let path = bundle.hasSuffix("/") ? bundle + "config.json" : bundle + "/config.json"
        let data: [UInt8]
        do {
            data = try readFile(path)
        } catch {
            throw ConfigError(path: "", reason: "cannot read \(path): \(error.reason)")
        }
        return try decode(data)
    }
}

/// Maps any error thrown while decoding to a `ConfigError`. `TreeDecoder` throws
/// `ConfigError`s itself; `DecodingError`s come from hand-written `init(from:)`s.
func configError(from error: any Error) -> ConfigError {
    if let e = error as? ConfigError {
        return e
    }
    guard let e = error as? DecodingError else {
        return ConfigError(path: "", reason: String(describing: error))
    }
    switch e {
    case .typeMismatch(let type, let context):
        var reason = "expected \(expectedJSONDescription(type))"
        if let found = foundPhrase(context.debugDescription) {
            reason += ", got \(found)"
        }
        return ConfigError(path: jsonPath(context.codingPath), reason: reason)
    case .valueNotFound(let type, let context):
        return ConfigError(
            path: jsonPath(context.codingPath), reason: "expected \(expectedJSONDescription(type)), got null")
    case .keyNotFound(let key, let context):
        return ConfigError(
            path: jsonPath(context.codingPath + [key]), reason: "missing required field \"\(key.stringValue)\"")
    case .dataCorrupted(let context):
        if context.codingPath.isEmpty && context.debugDescription.contains(substring: "not valid JSON") {
            return ConfigError(path: "", reason: "malformed JSON: \(context.debugDescription)")
        }
        return ConfigError(path: jsonPath(context.codingPath), reason: context.debugDescription)
    @unknown default:
        return ConfigError(path: "", reason: String(describing: e))
    }
}

/// Extracts "a string" from JSONDecoder's "Expected to decode X but found a string instead.".
private func foundPhrase(_ debugDescription: String) -> String? {
    let marker = "but found "
    guard let start = debugDescription.firstByteOffset(of: marker) else { return nil }
    let after = Array(debugDescription.utf8)[(start + marker.utf8.count)...]
    let text = String(decoding: after, as: UTF8.self)
    let phrase = text.firstByteOffset(of: " instead").map { String(decoding: after.prefix($0), as: UTF8.self) } ?? text
    switch phrase {
    case "number": return "a number"
    case "null", "a null value": return "null"
    default: return phrase
    }
}

struct FileReadError: Error {
    var reason: String
}

/// Reads a whole file with open and read: what FoundationEssentials' Data(contentsOf:) did,
/// without linking FoundationEssentials (4.3 MiB of the binary) for it.
func readFile(_ path: String) throws(FileReadError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw FileReadError(errno: errno) }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw FileReadError(errno: errno)
        }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<n])
    }
}

extension FileReadError {
    init(errno code: Int32) {
        switch code {
        case ENOENT: reason = "no such file"
        case EACCES: reason = "permission denied"
        default: reason = String(cString: strerror(code))
        }
    }
}
