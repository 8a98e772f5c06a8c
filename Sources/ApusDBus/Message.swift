/// One D-Bus message: the fixed header, the header fields apus uses, and the body.
public struct DBusMessage: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        case methodCall = 1, methodReturn = 2, error = 3, signal = 4
    }

    /// Header field codes (D-Bus specification, "Message Format").
    enum Field: UInt8 {
        case path = 1, interface, member, errorName, replySerial, destination, sender, signature, unixFDs
    }

    public static let noReplyExpected: UInt8 = 0x1
    /// The longest message the specification allows (128 MiB).
    public static let maximumLength = 1 << 27

    public var kind: Kind
    public var flags: UInt8 = 0
    public var serial: UInt32 = 0
    public var path: String?
    public var interface: String?
    public var member: String?
    public var errorName: String?
    public var replySerial: UInt32?
    public var destination: String?
    public var sender: String?
    public var body: [DBusValue] = []

    public init(kind: Kind) { self.kind = kind }

    /// A method call to `destination` at `path`.
    public static func call(
        destination: String, path: String, interface: String, member: String, body: [DBusValue] = []
    ) -> DBusMessage {
        var message = DBusMessage(kind: .methodCall)
        message.destination = destination
        message.path = path
        message.interface = interface
        message.member = member
        message.body = body
        return message
    }

    /// The body's signature, from its values.
    public var signature: String { body.map(\.type.signature).joined() }

    /// The wire form, little-endian.
    public func encode() -> [UInt8] {
        var bodyEncoder = DBusEncoder()
        for value in body { bodyEncoder.write(value) }
        var fields: [DBusValue] = []
        func field(_ code: Field, _ value: DBusValue?) {
            if let value { fields.append(.structure([.byte(code.rawValue), .variant(value)])) }
        }
        // In code order, as libdbus and jeepney write them (the bytes compare equal in tests).
        field(.path, path.map(DBusValue.objectPath))
        field(.interface, interface.map(DBusValue.string))
        field(.member, member.map(DBusValue.string))
        field(.errorName, errorName.map(DBusValue.string))
        field(.replySerial, replySerial.map(DBusValue.uint32))
        field(.destination, destination.map(DBusValue.string))
        field(.sender, sender.map(DBusValue.string))
        if !body.isEmpty { field(.signature, .signature(signature)) }
        var header = DBusEncoder()
        header.write(.byte(UInt8(ascii: "l")))
        header.write(.byte(kind.rawValue))
        header.write(.byte(flags))
        header.write(.byte(1))
        header.write(.uint32(UInt32(bodyEncoder.bytes.count)))
        header.write(.uint32(serial))
        header.write(.array(element: .structure([.byte, .variant]), fields))
        header.pad(to: 8)
        return header.bytes + bodyEncoder.bytes
    }

    /// The whole message's length from its first 16 bytes, so a reader knows how much
    /// more to read; throws on a header no peer should send.
    public static func length(header: ArraySlice<UInt8>) throws(DBusError) -> Int {
        guard header.count >= 16 else { throw DBusError.malformed("header shorter than 16 bytes") }
        let bytes = Array(header.prefix(16))
        let bigEndian: Bool
        switch bytes[0] {
        case UInt8(ascii: "l"): bigEndian = false
        case UInt8(ascii: "B"): bigEndian = true
        default: throw DBusError.malformed("unknown byte order \(bytes[0])")
        }
        guard bytes[3] == 1 else { throw DBusError.malformed("protocol version \(bytes[3])") }
        var decoder = DBusDecoder(bytes, offset: 4, bigEndian: bigEndian)
        let bodyLength = Int(try decoder.get(UInt32.self))
        _ = try decoder.get(UInt32.self)
        let fieldsLength = Int(try decoder.get(UInt32.self))
        guard bodyLength <= maximumLength, fieldsLength <= maximumLength else {
            throw DBusError.malformed("message longer than 128 MiB")
        }
        let total = (16 + fieldsLength + 7) / 8 * 8 + bodyLength
        guard total <= maximumLength else { throw DBusError.malformed("message longer than 128 MiB") }
        return total
    }

    /// Parses one whole message (as `length(header:)` measured it). The reply parser:
    /// everything in it comes from the peer.
    public static func decode(_ bytes: [UInt8]) throws(DBusError) -> DBusMessage {
        let total = try length(header: bytes[...])
        guard bytes.count == total else {
            throw DBusError.malformed("message length \(bytes.count), header says \(total)")
        }
        let bigEndian = bytes[0] == UInt8(ascii: "B")
        guard let kind = Kind(rawValue: bytes[1]) else { throw DBusError.malformed("message type \(bytes[1])") }
        var message = DBusMessage(kind: kind)
        message.flags = bytes[2]
        var decoder = DBusDecoder(bytes, offset: 4, bigEndian: bigEndian)
        let bodyLength = Int(try decoder.get(UInt32.self))
        message.serial = try decoder.get(UInt32.self)
        guard message.serial != 0 else { throw DBusError.malformed("serial 0") }
        let fields = try decoder.read(.array(.structure([.byte, .variant])))
        let signature = try message.apply(fields)
        try decoder.align(8)
        guard bytes.count - decoder.offset == bodyLength else { throw DBusError.malformed("body length") }
        message.body = try decoder.read(signature: signature)
        guard decoder.atEnd else { throw DBusError.malformed("body longer than its signature") }
        try message.checkRequiredFields()
        return message
    }

    /// Takes the header fields into the message; returns the body's signature.
    private mutating func apply(_ fields: DBusValue) throws(DBusError) -> String {
        guard case .array(_, let entries) = fields else { return "" }
        var signature = ""
        for entry in entries {
            guard case .structure(let pair) = entry, pair.count == 2, case .byte(let code) = pair[0] else { continue }
            let value = pair[1].unwrapped
            switch (Field(rawValue: code), value) {
            case (.path, .objectPath(let v)): path = v
            case (.interface, .string(let v)): interface = v
            case (.member, .string(let v)): member = v
            case (.errorName, .string(let v)): errorName = v
            case (.replySerial, .uint32(let v)): replySerial = v
            case (.destination, .string(let v)): destination = v
            case (.sender, .string(let v)): sender = v
            case (.signature, .signature(let v)): signature = v
            case (.unixFDs, .uint32): break
            case (nil, _): break  // Unknown fields are ignored, as the specification says.
            default: throw DBusError.malformed("header field \(code) has type \(value.type.signature)")
            }
        }
        return signature
    }

    private func checkRequiredFields() throws(DBusError) {
        switch kind {
        case .methodCall where path == nil || member == nil:
            throw DBusError.malformed("method call without path or member")
        case .signal where path == nil || member == nil || interface == nil:
            throw DBusError.malformed("signal without path, interface or member")
        case .methodReturn where replySerial == nil:
            throw DBusError.malformed("method return without reply serial")
        case .error where replySerial == nil || errorName == nil:
            throw DBusError.malformed("error without reply serial or name")
        default: return
        }
    }

    /// An error reply as the error it reports (its first body string is the message).
    public var remoteError: DBusError? {
        guard kind == .error else { return nil }
        return .remote(name: errorName ?? "", message: body.first?.text ?? "")
    }
}
