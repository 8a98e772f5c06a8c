/// The protobuf wire format, as much of it as CRIU's rpc.proto needs: varints (int32,
/// uint32, bool, enums) and length-delimited fields (strings, nested messages). proto2,
/// so a field is written only when set, in field-number order as protoc does.
public struct ProtoWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    enum WireType: UInt64 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    mutating func rawVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    mutating func key(_ field: Int, _ type: WireType) {
        rawVarint(UInt64(field) << 3 | type.rawValue)
    }

    public mutating func uint(_ field: Int, _ value: UInt64?) {
        guard let value else { return }
        key(field, .varint)
        rawVarint(value)
    }

    /// int32: a negative value is sign-extended to 64 bits (ten bytes), as protobuf says.
    public mutating func int32(_ field: Int, _ value: Int32?) {
        guard let value else { return }
        uint(field, UInt64(bitPattern: Int64(value)))
    }

    public mutating func bool(_ field: Int, _ value: Bool?) {
        guard let value else { return }
        uint(field, value ? 1 : 0)
    }

    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, .lengthDelimited)
        rawVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: Int, _ value: String?) {
        guard let value else { return }
        bytes(field, Array(value.utf8))
    }

    public mutating func strings(_ field: Int, _ values: [String]) {
        for value in values { string(field, value) }
    }

    /// A nested message: built by `build` into its own writer, then written length-first.
    public mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var nested = ProtoWriter()
        build(&nested)
        bytes(field, nested.bytes)
    }
}

/// Reads a message's fields in order; unknown fields are skipped, so a newer CRIU's
/// replies still decode.
public struct ProtoReader: Sendable {
    public enum Value: Equatable, Sendable {
        case varint(UInt64)
        case bytes([UInt8])
        case fixed
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    private let data: [UInt8]
    private var offset = 0

    public init(_ data: [UInt8]) { self.data = data }

    mutating func rawVarint() throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < data.count else { throw Malformed(description: "truncated varint") }
            guard shift < 64 else { throw Malformed(description: "varint longer than 10 bytes") }
            let byte = data[offset]
            offset += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// The next field, or nil at the end of the message.
    public mutating func next() throws(Malformed) -> (field: Int, value: Value)? {
        guard offset < data.count else { return nil }
        let key = try rawVarint()
        let field = Int(key >> 3)
        switch key & 7 {
        case 0: return (field, .varint(try rawVarint()))
        case 1, 5:
            let size = key & 7 == 1 ? 8 : 4
            guard offset + size <= data.count else { throw Malformed(description: "truncated fixed field \(field)") }
            offset += size
            return (field, .fixed)
        case 2:
            let length = try rawVarint()
            guard length <= UInt64(data.count - offset) else {
                throw Malformed(description: "field \(field) runs past the end of the message")
            }
            let end = offset + Int(length)
            defer { offset = end }
            return (field, .bytes(Array(data[offset..<end])))
        default: throw Malformed(description: "field \(field) has unsupported wire type \(key & 7)")
        }
    }
}

extension ProtoReader.Value {
    public var int32: Int32? {
        guard case .varint(let raw) = self else { return nil }
        return Int32(truncatingIfNeeded: raw)
    }
    public var bool: Bool? {
        guard case .varint(let raw) = self else { return nil }
        return raw != 0
    }
    public var string: String? {
        guard case .bytes(let raw) = self else { return nil }
        return String(decoding: raw, as: UTF8.self)
    }
    public var message: [UInt8]? {
        guard case .bytes(let raw) = self else { return nil }
        return raw
    }
}
