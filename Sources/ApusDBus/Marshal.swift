/// Writes values in the D-Bus wire format, little-endian. Offsets (for alignment) count
/// from the start of the message: a body begins 8-aligned, so it is marshalled on its own.
public struct DBusEncoder {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func put<T: FixedWidthInteger>(_ value: T) {
        pad(to: MemoryLayout<T>.size)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func putString(_ text: String) {
        let utf8 = Array(text.utf8)
        put(UInt32(utf8.count))
        bytes += utf8
        bytes.append(0)
    }

    mutating func putSignature(_ text: String) {
        let utf8 = Array(text.utf8)
        bytes.append(UInt8(truncatingIfNeeded: utf8.count))
        bytes += utf8
        bytes.append(0)
    }

    public mutating func write(_ value: DBusValue) {
        switch value {
        case .byte(let v): bytes.append(v)
        case .boolean(let v): put(UInt32(v ? 1 : 0))
        case .int16(let v): put(v)
        case .uint16(let v): put(v)
        case .int32(let v): put(v)
        case .uint32(let v), .unixFD(let v): put(v)
        case .int64(let v): put(v)
        case .uint64(let v): put(v)
        case .double(let v): put(v.bitPattern)
        case .string(let v), .objectPath(let v): putString(v)
        case .signature(let v): putSignature(v)
        case .array(let element, let items):
            put(UInt32(0))
            let lengthAt = bytes.count - 4
            // The length excludes the padding to the first element's alignment.
            pad(to: element.alignment)
            let start = bytes.count
            for item in items { write(item) }
            let length = UInt32(bytes.count - start).littleEndian
            withUnsafeBytes(of: length) { for i in 0..<4 { bytes[lengthAt + i] = $0[i] } }
        case .structure(let fields):
            pad(to: 8)
            for field in fields { write(field) }
        case .dictEntry(let key, let value):
            pad(to: 8)
            write(key)
            write(value)
        case .variant(let inner):
            putSignature(inner.type.signature)
            write(inner)
        }
    }
}

/// Reads values of known types from a message. Every read is bounds-checked and every
/// length is checked against what is left, so hostile input gives an error, never a trap
/// or an unbounded allocation.
public struct DBusDecoder {
    let bytes: [UInt8]
    public private(set) var offset: Int
    let bigEndian: Bool
    /// Variants nest without a signature saying so: bounded here (the specification's 64).
    private var depth = 0

    public init(_ bytes: [UInt8], offset: Int = 0, bigEndian: Bool = false) {
        self.bytes = bytes
        self.offset = offset
        self.bigEndian = bigEndian
    }

    public var atEnd: Bool { offset >= bytes.count }

    mutating func align(_ alignment: Int) throws(DBusError) {
        let next = (offset + alignment - 1) / alignment * alignment
        guard next <= bytes.count else { throw DBusError.malformed("padding runs past the end") }
        for i in offset..<next where bytes[i] != 0 { throw DBusError.malformed("non-zero padding") }
        offset = next
    }

    mutating func take(_ count: Int) throws(DBusError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else { throw DBusError.malformed("value runs past the end") }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func get<T: FixedWidthInteger>(_: T.Type) throws(DBusError) -> T {
        try align(MemoryLayout<T>.size)
        var value: T = 0
        for (i, b) in try take(MemoryLayout<T>.size).enumerated() {
            value |= T(truncatingIfNeeded: b) << (bigEndian ? (MemoryLayout<T>.size - 1 - i) * 8 : i * 8)
        }
        return value
    }

    mutating func getString() throws(DBusError) -> String {
        let length = Int(try get(UInt32.self))
        return try text(length)
    }

    mutating func getSignature() throws(DBusError) -> String {
        let length = Int(try take(1).first ?? 0)
        return try text(length)
    }

    private mutating func text(_ length: Int) throws(DBusError) -> String {
        let utf8 = try take(length)
        guard try take(1).first == 0 else { throw DBusError.malformed("string without its NUL") }
        guard !utf8.contains(0), let text = String(validating: utf8, as: UTF8.self) else {
            throw DBusError.malformed("string is not valid UTF-8 without NUL")
        }
        return text
    }

    /// Reads one value of `type`.
    public mutating func read(_ type: DBusType) throws(DBusError) -> DBusValue {
        switch type {
        case .byte: return .byte(try take(1).first ?? 0)
        case .boolean:
            let raw = try get(UInt32.self)
            guard raw <= 1 else { throw DBusError.malformed("boolean \(raw)") }
            return .boolean(raw == 1)
        case .int16: return .int16(try get(Int16.self))
        case .uint16: return .uint16(try get(UInt16.self))
        case .int32: return .int32(try get(Int32.self))
        case .uint32: return .uint32(try get(UInt32.self))
        case .unixFD: return .unixFD(try get(UInt32.self))
        case .int64: return .int64(try get(Int64.self))
        case .uint64: return .uint64(try get(UInt64.self))
        case .double: return .double(Double(bitPattern: try get(UInt64.self)))
        case .string: return .string(try getString())
        case .objectPath: return .objectPath(try getString())
        case .signature: return .signature(try getSignature())
        case .array(let element): return try readArray(element)
        case .structure(let fields):
            try align(8)
            var values: [DBusValue] = []
            for field in fields { values.append(try read(field)) }
            return .structure(values)
        case .dictEntry(let key, let value):
            try align(8)
            return .dictEntry(try read(key), try read(value))
        case .variant: return try readVariant()
        }
    }

    private mutating func readArray(_ element: DBusType) throws(DBusError) -> DBusValue {
        let length = Int(try get(UInt32.self))
        guard length <= 1 << 26 else { throw DBusError.malformed("array longer than 64 MiB") }
        try align(element.alignment)
        guard length <= bytes.count - offset else { throw DBusError.malformed("array runs past the end") }
        let end = offset + length
        var items: [DBusValue] = []
        while offset < end {
            items.append(try read(element))
        }
        guard offset == end else { throw DBusError.malformed("array element runs past the array") }
        return .array(element: element, items)
    }

    private mutating func readVariant() throws(DBusError) -> DBusValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 64 else { throw DBusError.malformed("variants nest deeper than 64") }
        let inner = try DBusType.single(try getSignature())
        return .variant(try read(inner))
    }

    /// Reads values for every complete type of `signature`.
    public mutating func read(signature: String) throws(DBusError) -> [DBusValue] {
        var values: [DBusValue] = []
        for type in try DBusType.parse(signature) { values.append(try read(type)) }
        return values
    }
}
