import ApusDBus
import Testing

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
        index = next
    }
    return bytes
}

/// The marshaller and the reply parser against messages jeepney serialised (Reference.swift).
@Suite("D-Bus marshalling")
struct MarshalTests {
    static let manager = "org.freedesktop.systemd1.Manager"

    @Test("Hello is byte for byte what jeepney writes")
    func hello() {
        var message = DBusMessage.call(
            destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
            member: "Hello")
        message.serial = 1
        #expect(message.encode() == Reference.hello)
    }

    static let startBody: [DBusValue] = [
        .string("apus-x.scope"), .string("replace"),
        .array(
            element: .structure([.string, .variant]),
            [
                .structure([.string("Description"), .variant(.string("apus container x"))]),
                .structure([.string("Delegate"), .variant(.boolean(true))]),
                .structure([.string("PIDs"), .variant(.array(element: .uint32, [.uint32(42)]))]),
                .structure([.string("MemoryMax"), .variant(.uint64(536_870_912))]),
                .structure([.string("CPUWeight"), .variant(.uint64(100))]),
                .structure([.string("AllowedCPUs"), .variant(.array(element: .byte, [.byte(3)]))]),
            ]),
        .array(element: .structure([.string, .array(.structure([.string, .variant]))]), []),
    ]

    @Test("StartTransientUnit (arrays, structs, variants, alignment) is byte for byte jeepney's")
    func startTransientUnit() throws {
        var message = DBusMessage.call(
            destination: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1", interface: Self.manager,
            member: "StartTransientUnit", body: Self.startBody)
        message.serial = 7
        #expect(message.signature == "ssa(sv)a(sa(sv))")
        #expect(message.encode() == Reference.startTransientUnit)
        // And it parses back to itself.
        #expect(try DBusMessage.decode(Reference.startTransientUnit) == message)
    }

    @Test("a method return: reply serial, sender, destination, an object path")
    func methodReturn() throws {
        let message = try DBusMessage.decode(Reference.methodReturn)
        #expect(message.kind == .methodReturn)
        #expect(message.serial == 9)
        #expect(message.replySerial == 7)
        #expect(message.sender == ":1.0")
        #expect(message.destination == ":1.5")
        #expect(message.body == [.objectPath("/org/freedesktop/systemd1/job/123")])
        #expect(message.remoteError == nil)
    }

    @Test("an error reply becomes .remote with systemd's name and message")
    func errorReply() throws {
        let message = try DBusMessage.decode(Reference.errorReply)
        #expect(message.kind == .error)
        #expect(message.replySerial == 7)
        #expect(
            message.remoteError
                == .remote(name: "org.freedesktop.systemd1.UnitExists", message: "Unit apus-x.scope already exists."))
    }

    @Test("the JobRemoved signal: uoss")
    func jobRemoved() throws {
        let message = try DBusMessage.decode(Reference.jobRemoved)
        #expect(message.kind == .signal)
        #expect(message.interface == Self.manager)
        #expect(message.member == "JobRemoved")
        #expect(message.path == "/org/freedesktop/systemd1")
        #expect(
            message.body == [
                .uint32(123), .objectPath("/org/freedesktop/systemd1/job/123"), .string("apus-x.scope"),
                .string("done"),
            ])
    }

    @Test("big-endian: dict of variants, int64, struct of int16/uint16/double")
    func bigEndian() throws {
        let message = try DBusMessage.decode(Reference.bigEndianReturn)
        #expect(message.replySerial == 3)
        let dict = DBusValue.dict(
            key: .string, value: .variant,
            [
                (.string("a"), .variant(.int32(-5))),
                (.string("b"), .variant(.array(element: .string, [.string("x"), .string("yz")]))),
            ])
        #expect(message.body == [dict, .int64(-2), .structure([.int16(-3), .uint16(4), .double(1.5)])])
    }

    @Test("little-endian round trip of every basic type")
    func roundTrip() throws {
        var message = DBusMessage(kind: .methodReturn)
        message.serial = 5
        message.replySerial = 4
        message.body = [
            .byte(7), .boolean(false), .int16(-1), .uint16(65535), .int32(Int32.min), .uint32(UInt32.max),
            .int64(Int64.min), .uint64(UInt64.max), .double(-0.25), .string("é"), .objectPath("/a"),
            .signature("a{sv}"), .array(element: .uint64, []),
            .dict(key: .uint32, value: .string, [(.uint32(1), .string("one"))]), .variant(.variant(.byte(1))),
        ]
        #expect(try DBusMessage.decode(message.encode()) == message)
    }

    @Test("signatures parse to types and print back", arguments: ["s", "a{sv}", "a(sa(sv))", "(nqd)", "aay", "v"])
    func signature(_ text: String) throws {
        #expect(try DBusType.parse(text).map(\.signature).joined() == text)
    }

    @Test(
        "bad signatures are errors",
        arguments: ["a", "(", "()", "a{vs}", "a{s}", "z", String(repeating: "a", count: 33) + "y"])
    func badSignature(_ text: String) {
        #expect(throws: DBusError.self) { try DBusType.parse(text) }
    }

    @Test("truncated or corrupted replies are errors, never traps")
    func corrupted() {
        let bytes = Reference.startTransientUnit
        for cut in [0, 1, 15, 16, 40, bytes.count - 1] {
            #expect(throws: DBusError.self) { try DBusMessage.decode(Array(bytes.prefix(cut))) }
        }
        var badLength = bytes
        badLength[4] = 0xff  // body length
        #expect(throws: DBusError.self) { try DBusMessage.decode(badLength) }
        var badBool = Reference.startTransientUnit
        // The Delegate boolean's value (1) made 2.
        if let at = findDelegateValue(in: badBool) {
            badBool[at] = 2
            #expect(throws: DBusError.self) { try DBusMessage.decode(badBool) }
        }
    }

    func findDelegateValue(in bytes: [UInt8]) -> Int? {
        let marker = Array("Delegate".utf8) + [0, 1, UInt8(ascii: "b"), 0]
        guard bytes.count > marker.count else { return nil }
        for i in 0...(bytes.count - marker.count) where Array(bytes[i..<i + marker.count]) == marker {
            return i + marker.count
        }
        return nil
    }

    @Test("bus addresses: path, abstract, %-escapes, lists; the defaults")
    func addresses() throws {
        #expect(
            try BusAddress.parse("unix:path=/run/dbus/system_bus_socket") == [
                BusAddress(path: "/run/dbus/system_bus_socket")
            ])
        #expect(
            try BusAddress.parse("tcp:host=x;unix:abstract=/tmp/dbus-X%2cy,guid=1")
                == [BusAddress(path: "/tmp/dbus-X,y", abstract: true)])
        #expect(throws: DBusError.self) { try BusAddress.parse("tcp:host=x,port=1") }
        #expect(BusAddress.system { _ in nil } == "unix:path=/run/dbus/system_bus_socket")
        #expect(
            BusAddress.session { $0 == "XDG_RUNTIME_DIR" ? "/run/user/1000" : nil } == "unix:path=/run/user/1000/bus")
        #expect(BusAddress.session { _ in nil } == nil)
    }
}
