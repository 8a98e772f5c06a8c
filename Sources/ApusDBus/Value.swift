import Glibc

/// A D-Bus value with its type: what the marshaller writes and the parser returns.
/// An array carries its element signature so that an empty one still has a type.
public indirect enum DBusValue: Equatable, Sendable {
    case byte(UInt8)
    case boolean(Bool)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case double(Double)
    case string(String)
    case objectPath(String)
    case signature(String)
    case unixFD(UInt32)
    case array(element: DBusType, [DBusValue])
    case structure([DBusValue])
    case dictEntry(DBusValue, DBusValue)
    case variant(DBusValue)

    /// The single complete type of this value.
    public var type: DBusType {
        switch self {
        case .byte: return .byte
        case .boolean: return .boolean
        case .int16: return .int16
        case .uint16: return .uint16
        case .int32: return .int32
        case .uint32: return .uint32
        case .int64: return .int64
        case .uint64: return .uint64
        case .double: return .double
        case .string: return .string
        case .objectPath: return .objectPath
        case .signature: return .signature
        case .unixFD: return .unixFD
        case .array(let element, _): return .array(element)
        case .structure(let fields): return .structure(fields.map(\.type))
        case .dictEntry(let key, let value): return .dictEntry(key.type, value.type)
        case .variant: return .variant
        }
    }

    /// `a{sv}`-style dictionary from pairs (an array of dict entries).
    public static func dict(key: DBusType, value: DBusType, _ pairs: [(DBusValue, DBusValue)]) -> DBusValue {
        .array(element: .dictEntry(key, value), pairs.map { .dictEntry($0.0, $0.1) })
    }

    /// The text of a string, object path or signature.
    public var text: String? {
        switch self {
        case .string(let s), .objectPath(let s), .signature(let s): return s
        default: return nil
        }
    }

    /// The content of a variant, or the value itself.
    public var unwrapped: DBusValue {
        if case .variant(let inner) = self { return inner.unwrapped }
        return self
    }
}

/// A single complete D-Bus type.
public indirect enum DBusType: Equatable, Hashable, Sendable {
    case byte, boolean, int16, uint16, int32, uint32, int64, uint64, double
    case string, objectPath, signature, unixFD
    case array(DBusType)
    case structure([DBusType])
    case dictEntry(DBusType, DBusType)
    case variant

    /// Its signature text, e.g. `a{sv}`.
    public var signature: String {
        switch self {
        case .byte: return "y"
        case .boolean: return "b"
        case .int16: return "n"
        case .uint16: return "q"
        case .int32: return "i"
        case .uint32: return "u"
        case .int64: return "x"
        case .uint64: return "t"
        case .double: return "d"
        case .string: return "s"
        case .objectPath: return "o"
        case .signature: return "g"
        case .unixFD: return "h"
        case .array(let element): return "a" + element.signature
        case .structure(let fields): return "(" + fields.map(\.signature).joined() + ")"
        case .dictEntry(let key, let value): return "{" + key.signature + value.signature + "}"
        case .variant: return "v"
        }
    }

    /// Alignment of the type's marshalled form (D-Bus specification, "Marshaling").
    public var alignment: Int {
        switch self {
        case .byte, .signature, .variant: return 1
        case .int16, .uint16: return 2
        case .boolean, .int32, .uint32, .unixFD, .string, .objectPath, .array: return 4
        case .int64, .uint64, .double, .structure, .dictEntry: return 8
        }
    }

    var isBasic: Bool {
        switch self {
        case .array, .structure, .dictEntry, .variant: return false
        default: return true
        }
    }

    /// Parses a signature into its complete types: `"sa{sv}"` → [.string, .array(...)].
    /// Enforces the specification's limits (255 bytes, 32 nested arrays, 32 nested structs),
    /// so a hostile signature cannot recurse without bound.
    public static func parse(_ signature: String) throws(DBusError) -> [DBusType] {
        let bytes = Array(signature.utf8)
        guard bytes.count <= 255 else { throw DBusError.malformed("signature longer than 255 bytes") }
        var parser = SignatureParser(bytes: bytes)
        var types: [DBusType] = []
        while parser.index < bytes.count { types.append(try parser.next()) }
        return types
    }

    /// Parses one complete type.
    public static func single(_ signature: String) throws(DBusError) -> DBusType {
        let types = try parse(signature)
        guard types.count == 1, let only = types.first else {
            throw DBusError.malformed("\"\(signature)\" is not a single complete type")
        }
        return only
    }
}

private struct SignatureParser {
    let bytes: [UInt8]
    var index = 0
    var arrays = 0
    var structs = 0

    mutating func next() throws(DBusError) -> DBusType {
        guard index < bytes.count else { throw DBusError.malformed("signature ends inside a type") }
        let code = bytes[index]
        index += 1
        switch code {
        case UInt8(ascii: "y"): return .byte
        case UInt8(ascii: "b"): return .boolean
        case UInt8(ascii: "n"): return .int16
        case UInt8(ascii: "q"): return .uint16
        case UInt8(ascii: "i"): return .int32
        case UInt8(ascii: "u"): return .uint32
        case UInt8(ascii: "x"): return .int64
        case UInt8(ascii: "t"): return .uint64
        case UInt8(ascii: "d"): return .double
        case UInt8(ascii: "s"): return .string
        case UInt8(ascii: "o"): return .objectPath
        case UInt8(ascii: "g"): return .signature
        case UInt8(ascii: "h"): return .unixFD
        case UInt8(ascii: "v"): return .variant
        case UInt8(ascii: "a"): return try array()
        case UInt8(ascii: "("): return try structure()
        default: throw DBusError.malformed("unexpected \"\(Character(Unicode.Scalar(code)))\" in a signature")
        }
    }

    private mutating func array() throws(DBusError) -> DBusType {
        arrays += 1
        defer { arrays -= 1 }
        guard arrays <= 32 else { throw DBusError.malformed("signature nests more than 32 arrays") }
        if index < bytes.count, bytes[index] == UInt8(ascii: "{") {
            index += 1
            structs += 1
            defer { structs -= 1 }
            guard structs <= 32 else { throw DBusError.malformed("signature nests more than 32 structs") }
            let key = try next()
            guard key.isBasic else { throw DBusError.malformed("dict entry key is not a basic type") }
            let value = try next()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "}") else {
                throw DBusError.malformed("dict entry without its closing \"}\"")
            }
            index += 1
            return .array(.dictEntry(key, value))
        }
        return .array(try next())
    }

    private mutating func structure() throws(DBusError) -> DBusType {
        structs += 1
        defer { structs -= 1 }
        guard structs <= 32 else { throw DBusError.malformed("signature nests more than 32 structs") }
        var fields: [DBusType] = []
        while index < bytes.count, bytes[index] != UInt8(ascii: ")") { fields.append(try next()) }
        guard index < bytes.count, !fields.isEmpty else { throw DBusError.malformed("empty or unclosed struct") }
        index += 1
        return .structure(fields)
    }
}

/// What went wrong talking D-Bus; `remote` is an error reply of the peer.
public enum DBusError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A message or signature that breaks the wire format.
    case malformed(String)
    /// The socket: connect, read or write failed with errno.
    case io(String, errno: Int32)
    /// SASL authentication was refused or garbled.
    case auth(String)
    /// The peer's error reply: its error name and message.
    case remote(name: String, message: String)
    /// No answer in time.
    case timeout(String)
    /// The connection was closed by the peer.
    case closed

    public var description: String {
        switch self {
        case .malformed(let what): return "malformed D-Bus message: \(what)"
        case .io(let step, let code): return "\(step): \(String(cString: strerror(code)))"
        case .auth(let what): return "D-Bus authentication: \(what)"
        case .remote(let name, let message): return message.isEmpty ? name : "\(name): \(message)"
        case .timeout(let what): return "timed out waiting for \(what)"
        case .closed: return "the D-Bus peer closed the connection"
        }
    }
}
