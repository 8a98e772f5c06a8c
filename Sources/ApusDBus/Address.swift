/// A bus address apus can connect to: a unix socket, by path or in the abstract namespace.
public struct BusAddress: Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var abstract: Bool

    public init(path: String, abstract: Bool = false) {
        self.path = path
        self.abstract = abstract
    }

    public var description: String { (abstract ? "unix:abstract=" : "unix:path=") + path }

    /// The system bus where systemd (PID 1) answers as root: `$DBUS_SYSTEM_BUS_ADDRESS`,
    /// else the well-known socket.
    public static func system(environment: (String) -> String?) -> String {
        nonEmpty(environment("DBUS_SYSTEM_BUS_ADDRESS")) ?? "unix:path=/run/dbus/system_bus_socket"
    }

    /// The user's bus, where `systemd --user` answers for a rootless runtime:
    /// `$DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`; nil with neither set.
    public static func session(environment: (String) -> String?) -> String? {
        if let address = nonEmpty(environment("DBUS_SESSION_BUS_ADDRESS")) { return address }
        return nonEmpty(environment("XDG_RUNTIME_DIR")).map { "unix:path=" + $0 + "/bus" }
    }

    private static func nonEmpty(_ text: String?) -> String? { text?.isEmpty == false ? text : nil }

    /// The unix socket entries of an address list (`;`-separated, `transport:key=value,…`,
    /// values percent-encoded), in order; other transports are passed over.
    public static func parse(_ text: String) throws(DBusError) -> [BusAddress] {
        var found: [BusAddress] = []
        for entry in text.split(separator: ";") {
            guard entry.hasPrefix("unix:") else { continue }
            for pair in entry.dropFirst(5).split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let value = try unescape(parts[1])
                switch parts[0] {
                case "path": found.append(BusAddress(path: value))
                case "abstract": found.append(BusAddress(path: value, abstract: true))
                default: continue
                }
            }
        }
        guard !found.isEmpty else { throw DBusError.malformed("bus address \"\(text)\" names no unix socket") }
        return found
    }

    private static func unescape(_ text: Substring) throws(DBusError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexDigit), let low = iterator.next().flatMap(hexDigit) else {
                throw DBusError.malformed("bad %-escape in bus address \"\(text)\"")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
