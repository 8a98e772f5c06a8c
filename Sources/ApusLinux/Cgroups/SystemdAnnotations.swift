import ApusDBus

/// `org.systemd.property.<Name>` annotations as unit properties, as runc takes them: the
/// name is ASCII letters (and digits after the first), the value GVariant text (`uint64
/// 123`, `'inactive-or-failed'`, `true`, `[1, 2]`, `@as []`), and a `…Sec` name (a
/// lowercase letter before "Sec") becomes `…USec` with the number of seconds in
/// microseconds, uint64.
public enum SystemdAnnotations {
    public static let prefix = "org.systemd.property."

    public static func properties(_ annotations: [String: String]?) throws(ApusError) -> [SystemdProperty] {
        guard let annotations else { return [] }
        var out: [SystemdProperty] = []
        for key in annotations.keys.sorted() where key.hasPrefix(prefix) {
            let field = ".annotations[\"\(key)\"]"
            var name = String(key.dropFirst(prefix.count))
            guard isValidName(name) else {
                throw ApusError.invalidCgroup("\"\(name)\" is not a systemd property name", field: field)
            }
            let text = annotations[key] ?? ""
            var value: DBusValue
            do {
                var parser = GVariantText(Array(text.utf8))
                value = try parser.parseAll()
            } catch {
                throw ApusError.invalidCgroup("value \"\(text)\": \(error)", field: field)
            }
            if name.hasSuffix("Sec"), let before = name.dropLast(3).last, before.isLowercase, before.isASCII {
                name = String(name.dropLast(3)) + "USec"
                guard let seconds = secondsInMicroseconds(value) else {
                    throw ApusError.invalidCgroup(
                        "value \"\(text)\" of a time in seconds is not a number", field: field)
                }
                value = .uint64(seconds)
            }
            out.append(SystemdProperty(name, value, field: field))
        }
        return out
    }

    static func isValidName(_ name: String) -> Bool {
        guard name.utf8.count >= 3, let first = name.utf8.first, (65...90).contains(first) || (97...122).contains(first)
        else { return false }
        return name.utf8.allSatisfy { (65...90).contains($0) || (97...122).contains($0) || (48...57).contains($0) }
    }

    static func secondsInMicroseconds(_ value: DBusValue) -> UInt64? {
        let million = 1_000_000.0
        switch value {
        case .byte(let v): return UInt64(v) * 1_000_000
        case .int16(let v) where v >= 0: return UInt64(v) * 1_000_000
        case .uint16(let v): return UInt64(v) * 1_000_000
        case .int32(let v) where v >= 0: return UInt64(v) * 1_000_000
        case .uint32(let v): return UInt64(v) * 1_000_000
        case .int64(let v) where v >= 0: return UInt64(v).multipliedReportingOverflow(by: 1_000_000).partialValue
        case .uint64(let v): return v.multipliedReportingOverflow(by: 1_000_000).partialValue
        case .double(let v) where v >= 0 && v * million < 1.8e19: return UInt64(v * million)
        default: return nil
        }
    }
}

/// The part of GVariant's text format that unit properties need: typed numbers
/// (`uint64 5`, `@t 5`), bare int32 and double, booleans, quoted strings, `objectpath`
/// and `signature` strings, and arrays of one type (`[1, 2]`, `@as []`, `['a']`).
struct GVariantText {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    mutating func parseAll() throws(Failure) -> DBusValue {
        let value = try parse(expecting: nil)
        skipSpace()
        guard index == bytes.count else { throw Failure(description: "unexpected text after the value") }
        return value
    }

    mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 32 || bytes[index] == 9 || bytes[index] == 10 { index += 1 }
    }

    mutating func word() -> String {
        let start = index
        while index < bytes.count, isWordByte(bytes[index]) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    func isWordByte(_ b: UInt8) -> Bool {
        (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || b == 45 || b == 43 || b == 46
            || b == 95
    }

    static let keywords: [String: DBusType] = [
        "boolean": .boolean, "byte": .byte, "int16": .int16, "uint16": .uint16, "int32": .int32, "uint32": .uint32,
        "int64": .int64, "uint64": .uint64, "double": .double, "string": .string, "objectpath": .objectPath,
        "signature": .signature, "handle": .int32,
    ]

    mutating func parse(expecting type: DBusType?) throws(Failure) -> DBusValue {
        skipSpace()
        guard index < bytes.count else { throw Failure(description: "missing value") }
        switch bytes[index] {
        case UInt8(ascii: "@"):
            index += 1
            let start = index
            while index < bytes.count, bytes[index] != 32 { index += 1 }
            let signature = String(decoding: bytes[start..<index], as: UTF8.self)
            guard let annotated = try? DBusType.single(signature) else {
                throw Failure(description: "\"\(signature)\" is not a type")
            }
            return try parse(expecting: annotated)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return try typed(.string(quoted()), as: type ?? .string)
        case UInt8(ascii: "["):
            return try array(expecting: type)
        default:
            let text = word()
            if let keyword = Self.keywords[text] {
                skipSpace()
                return try parse(expecting: keyword)
            }
            return try scalar(text, as: type)
        }
    }

    mutating func quoted() throws(Failure) -> String {
        let quote = bytes[index]
        index += 1
        var out: [UInt8] = []
        while index < bytes.count, bytes[index] != quote {
            if bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count { index += 1 }
            out.append(bytes[index])
            index += 1
        }
        guard index < bytes.count else { throw Failure(description: "unterminated string") }
        index += 1
        return String(decoding: out, as: UTF8.self)
    }

    mutating func array(expecting type: DBusType?) throws(Failure) -> DBusValue {
        index += 1
        var element: DBusType? = nil
        if let type {
            guard case .array(let inner) = type else {
                throw Failure(description: "an array where \(type.signature) was expected")
            }
            element = inner
        }
        var items: [DBusValue] = []
        skipSpace()
        while index < bytes.count, bytes[index] != UInt8(ascii: "]") {
            let item = try parse(expecting: element)
            element = element ?? item.type
            guard item.type == element else { throw Failure(description: "array elements of different types") }
            items.append(item)
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: ",") { index += 1 }
            skipSpace()
        }
        guard index < bytes.count else { throw Failure(description: "unterminated array") }
        index += 1
        guard let element else { throw Failure(description: "an empty array needs its type (@as [])") }
        return .array(element: element, items)
    }

    func typed(_ value: DBusValue, as type: DBusType) throws(Failure) -> DBusValue {
        guard case .string(let text) = value else { return value }
        switch type {
        case .string: return .string(text)
        case .objectPath: return .objectPath(text)
        case .signature: return .signature(text)
        default: throw Failure(description: "a string where \(type.signature) was expected")
        }
    }

    func scalar(_ text: String, as type: DBusType?) throws(Failure) -> DBusValue {
        let bad = Failure(description: "\"\(text)\" is not a \(type?.signature ?? "value") apus can read")
        /// Decimal or 0x hex.
        func integer<T: FixedWidthInteger>(_ make: (T) -> DBusValue) throws(Failure) -> DBusValue {
            guard let v = text.hasPrefix("0x") ? T(text.dropFirst(2), radix: 16) : T(text) else { throw bad }
            return make(v)
        }
        switch type {
        case nil:
            if text == "true" || text == "false" { return .boolean(text == "true") }
            if let v = Int32(text) { return .int32(v) }
            if let v = Double(text), text.contains(".") || text.contains("e") { return .double(v) }
            throw bad
        case .boolean?:
            guard text == "true" || text == "false" else { throw bad }
            return .boolean(text == "true")
        case .byte?: return try integer(DBusValue.byte)
        case .int16?: return try integer(DBusValue.int16)
        case .uint16?: return try integer(DBusValue.uint16)
        case .int32?: return try integer(DBusValue.int32)
        case .uint32?: return try integer(DBusValue.uint32)
        case .int64?: return try integer(DBusValue.int64)
        case .uint64?: return try integer(DBusValue.uint64)
        case .double?:
            guard let v = Double(text) else { throw bad }
            return .double(v)
        default: throw bad
        }
    }
}
