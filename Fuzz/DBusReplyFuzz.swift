/// libFuzzer entry: the D-Bus reply parser (ApusDBus), which reads what the bus and systemd
/// send. Any trap, sanitizer report or hang is a bug; an error thrown is a correct answer.
/// As an oracle, a message that parses must encode and parse again to the same message.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDBusReply(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    if bytes.count >= 16, let total = try? DBusMessage.length(header: bytes[..<16]), total <= bytes.count {
        if let message = try? DBusMessage.decode(Array(bytes[..<total])) {
            let again: DBusMessage
            do {
                again = try DBusMessage.decode(message.encode())
            } catch {
                fatalError("a parsed message does not parse after encoding: \(error)")
            }
            precondition(again.encode() == message.encode(), "a round trip changed the message")
        }
    }
    _ = try? DBusType.parse(String(decoding: bytes.prefix(300), as: UTF8.self))
    return 0
}
