import Foundation
import OCI
import Testing

/// docs/spec-audit.md is the answer to "does apus apply this field?": a row per field of
/// config.md and config-linux.md. These tests keep it whole: every field apus decodes from
/// the valid fixtures has a row, so a field added to the model without a row (and without a
/// decision: applied and tested, or refused) fails here.
@Suite("spec audit")
struct AuditTests {
    /// One step of a field's JSON path: a member name, marked when its value is an array of
    /// objects (`mounts[]`), whose members follow.
    struct Step: Equatable, CustomStringConvertible {
        var name: String
        var isArray: Bool
        var description: String { name + (isArray ? "[]" : "") }
    }

    /// Every leaf path of a JSON tree: objects add their member names, arrays of objects add
    /// `[]` and go on into their elements, arrays of scalars and scalars end the path.
    static func paths(_ node: JSONNode, _ prefix: [Step] = []) -> Set<[String]> {
        func key(_ steps: [Step]) -> [String] { steps.map(\.description) }
        switch node {
        case .object(let members):
            if members.isEmpty { return [key(prefix)] }
            var out: Set<[String]> = []
            for member in members {
                out.formUnion(paths(member.value, prefix + [Step(name: member.key, isArray: false)]))
            }
            return out
        case .array(let elements):
            var out: Set<[String]> = []
            for case .object(let members) in elements {
                guard var last = prefix.last else { continue }
                last.isArray = true
                out.formUnion(paths(.object(members), prefix.dropLast() + [last]))
            }
            return out.isEmpty ? [key(prefix)] : out
        default:
            return [key(prefix)]
        }
    }

    /// A row's field pattern, from the first `code` of its first cell: dot-separated steps,
    /// each a set of alternatives (`limit/reservation`), an alternative may hold `*` (any
    /// characters), end in `[]` (an array: its elements' members are covered) or `{}` (a
    /// map: one key of any name follows; at the end, everything under it is covered).
    struct Pattern: CustomStringConvertible {
        var steps: [[String]]
        var description: String { steps.map { $0.joined(separator: "/") }.joined(separator: ".") }

        init?(row: Substring) {
            let cells = row.split(separator: "|", omittingEmptySubsequences: false)
            guard cells.count > 2 else { return nil }
            let first = cells[1]
            guard let open = first.firstIndex(of: "`") else { return nil }
            let rest = first[first.index(after: open)...]
            guard let close = rest.firstIndex(of: "`") else { return nil }
            steps = rest[..<close].split(separator: ".").map { $0.split(separator: "/").map(String.init) }
        }

        func covers(_ path: [String]) -> Bool { Self.match(steps[...], path[...]) }

        static func match(_ steps: ArraySlice<[String]>, _ path: ArraySlice<String>) -> Bool {
            guard let alternatives = steps.first else { return path.isEmpty }
            guard let step = path.first else { return false }
            let rest = steps.dropFirst()
            for alternative in alternatives {
                if alternative.hasSuffix("{}") {
                    guard glob(String(alternative.dropLast(2)), step), path.count >= 2 else { continue }
                    // An entry with nothing in it (`"eth0": {}`) is the map's too.
                    if rest.isEmpty || path.count == 2 || match(rest, path.dropFirst(2)) { return true }
                    continue
                }
                let isArrayPattern = alternative.hasSuffix("[]")
                let name = isArrayPattern ? String(alternative.dropLast(2)) : alternative
                let isArrayStep = step.hasSuffix("[]")
                let stepName = isArrayStep ? String(step.dropLast(2)) : step
                guard glob(name, stepName) else { continue }
                // The pattern ends at an array (or with `*`): its elements are covered.
                if rest.isEmpty && (isArrayStep || isArrayPattern || alternative == "*") { return true }
                if match(rest, path.dropFirst()) { return true }
            }
            return false
        }

        /// `pattern` with `*` for any run of characters.
        static func glob(_ pattern: String, _ text: String) -> Bool {
            let parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
            guard parts.count > 1 else { return pattern == text }
            var rest = Substring(text)
            guard let head = parts.first, rest.hasPrefix(head) else { return false }
            rest = rest.dropFirst(head.count)
            for (i, part) in parts.enumerated().dropFirst() {
                if i == parts.count - 1 { return part.isEmpty || rest.hasSuffix(part) }
                guard let range = rest.range(of: part) else { return false }
                rest = rest[range.upperBound...]
            }
            return true
        }
    }

    static func auditRows() throws -> [Pattern] {
        let doc = try String(
            contentsOf: Fixtures.root.deletingLastPathComponent().appendingPathComponent("docs/spec-audit.md"),
            encoding: .utf8)
        return doc.split(separator: "\n").filter { $0.hasPrefix("| `") }.compactMap(Pattern.init(row:))
    }

    @Test(
        "the audit's patterns match what they should",
        arguments: [
            ("linux.resources.memory.limit/reservation", ["linux", "resources", "memory", "reservation"], true),
            ("linux.resources.memory.limit/reservation", ["linux", "resources", "memory", "swap"], false),
            ("mounts[].destination/source/type/options", ["mounts[]", "options"], true),
            ("hooks.*[].path/args/env/timeout", ["hooks", "poststart[]", "timeout"], true),
            ("linux.netDevices{}.name", ["linux", "netDevices", "eth0", "name"], true),
            ("linux.sysctl{}", ["linux", "sysctl", "net.ipv4.ip_forward"], true),
            ("linux.netDevices{}.name", ["linux", "netDevices", "eth0"], true),
            ("linux.timeOffsets{}.secs/nanosecs", ["linux", "timeOffsets", "boottime", "flags"], false),
            (
                "linux.resources.blockIO.throttle*Device",
                ["linux", "resources", "blockIO", "throttleReadBpsDevice[]", "rate"], true
            ),
            ("linux.uidMappings/gidMappings", ["linux", "gidMappings[]", "size"], true),
            ("process", ["process", "cwd"], false),
            ("process.capabilities.*", ["process", "capabilities", "bounding"], true),
        ])
    func patterns(pattern: String, path: [String], covered: Bool) throws {
        let row = try #require(Pattern(row: "| `\(pattern)` | x | y |"))
        #expect(row.covers(path) == covered)
    }

    @Test("docs/spec-audit.md has a row for every field of the valid fixtures")
    func everyFieldHasARow() throws {
        let rows = try Self.auditRows()
        #expect(rows.count > 50, "\(rows.count) rows")
        var fields: Set<[String]> = []
        for name in Fixtures.validConfigs {
            let spec = try Spec.decode(try Fixtures.data("configs/valid/\(name).json"))
            // Encoded back from the model: only the fields apus decodes, none it ignores.
            fields.formUnion(Self.paths(try JSONNode.encoding(spec)))
        }
        #expect(fields.count > 150, "\(fields.count) fields")
        let missing = fields.filter { field in !rows.contains { $0.covers(field) } }
        #expect(
            missing.isEmpty, "no row in docs/spec-audit.md for: \(missing.map { $0.joined(separator: ".") }.sorted())")
    }
}
