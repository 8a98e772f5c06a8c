import Glibc

/// A blocking connection to a bus: connect, SASL EXTERNAL, Hello; then calls and signals.
/// No threads: every wait is a poll(2) with a deadline on the one socket, so it can run on
/// the create path, which must stay single-threaded.
public final class DBusConnection {
    /// The address connected to, for messages.
    public let address: String
    public private(set) var uniqueName = ""
    private var fd: Int32
    private var serial: UInt32 = 0
    private var buffer: [UInt8] = []
    /// Signals that arrived while a reply was awaited, in order.
    private var queued: [DBusMessage] = []

    private init(fd: Int32, address: String) {
        self.fd = fd
        self.address = address
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    /// Connects to the first reachable unix socket of `address`, authenticates (as the
    /// socket's peer credentials say) and says Hello.
    public static func open(_ address: String, timeoutMilliseconds: Int32 = 5000) throws(DBusError)
        -> DBusConnection
    {
        var lastError = DBusError.malformed("bus address \"\(address)\" names no unix socket")
        for candidate in try BusAddress.parse(address) {
            let fd: Int32
            do {
                fd = try connectSocket(candidate)
            } catch {
                lastError = error
                continue
            }
            let connection = DBusConnection(fd: fd, address: address)
            try connection.authenticate(timeout: timeoutMilliseconds)
            let hello = try connection.call(
                .call(
                    destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                    interface: "org.freedesktop.DBus", member: "Hello"), timeoutMilliseconds: timeoutMilliseconds)
            connection.uniqueName = hello.body.first?.text ?? ""
            return connection
        }
        throw lastError
    }

    static func connectSocket(_ address: BusAddress) throws(DBusError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw DBusError.io("socket for \(address)", errno: errno) }
        var sockaddr = sockaddr_un()
        sockaddr.sun_family = sa_family_t(AF_UNIX)
        // An abstract address starts with a NUL and its length counts exactly its bytes.
        let path = (address.abstract ? [0] : []) + Array(address.path.utf8)
        let capacity = MemoryLayout.size(ofValue: sockaddr.sun_path)
        guard path.count < capacity else {
            _ = Glibc.close(fd)
            throw DBusError.io("connect to \(address)", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &sockaddr.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let length = MemoryLayout<sa_family_t>.size + path.count + (address.abstract ? 0 : 1)
        let rc = withUnsafePointer(to: &sockaddr) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(length)) }
        }
        if rc < 0 {
            let code = errno
            _ = Glibc.close(fd)
            throw DBusError.io("connect to \(address)", errno: code)
        }
        return fd
    }

    /// SASL EXTERNAL without an authorization identity: the bus takes the identity from the
    /// socket's peer credentials. Sending our uid instead breaks in a user namespace: the
    /// runtime under rootless podman is uid 0 there, while the bus sees the user's uid and
    /// rejects "0" (runc asks `busctl --user status` for the uid to send; sd-bus clients send
    /// none, as here). dbus-daemon and systemd's sd-bus both answer DATA, then OK.
    private func authenticate(timeout: Int32) throws(DBusError) {
        let deadline = Self.now() + Int64(timeout)
        try writeAll([0] + Array("AUTH EXTERNAL\r\n".utf8))
        var line = try readLine(deadline: deadline)
        if line == "DATA" || line.hasPrefix("DATA ") {
            try writeAll(Array("DATA\r\n".utf8))
            line = try readLine(deadline: deadline)
        }
        guard line.hasPrefix("OK ") else { throw DBusError.auth("the bus answered \"\(line)\" to AUTH EXTERNAL") }
        try writeAll(Array("BEGIN\r\n".utf8))
    }

    private func readLine(deadline: Int64) throws(DBusError) -> String {
        while true {
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeSubrange(...end)
                return line.hasSuffix("\r") ? String(line.dropLast()) : line
            }
            guard buffer.count < 16384 else { throw DBusError.auth("line longer than 16 KiB") }
            try fill(deadline: deadline, what: "the bus's authentication reply")
        }
    }

    /// Sends a message with the next serial; returns the serial.
    @discardableResult
    public func send(_ message: DBusMessage) throws(DBusError) -> UInt32 {
        serial &+= 1
        if serial == 0 { serial = 1 }
        var outgoing = message
        outgoing.serial = serial
        try writeAll(outgoing.encode())
        return serial
    }

    /// Calls a method and waits for its reply: the method return, or the error reply thrown
    /// as `.remote`. Signals that arrive meanwhile are kept for `nextSignal`.
    public func call(_ message: DBusMessage, timeoutMilliseconds: Int32 = 25000) throws(DBusError) -> DBusMessage {
        let sent = try send(message)
        let deadline = Self.now() + Int64(timeoutMilliseconds)
        let what = "the reply to \(message.interface ?? "").\(message.member ?? "")"
        while true {
            let incoming = try receive(deadline: deadline, what: what)
            if incoming.replySerial == sent, incoming.kind == .methodReturn || incoming.kind == .error {
                if let error = incoming.remoteError { throw error }
                return incoming
            }
            if incoming.kind == .signal { queued.append(incoming) }
        }
    }

    /// The next signal for which `matches` holds, queued or arriving before the timeout;
    /// others are dropped.
    public func nextSignal(timeoutMilliseconds: Int32, what: String, where matches: (DBusMessage) -> Bool)
        throws(DBusError) -> DBusMessage
    {
        while !queued.isEmpty {
            let signal = queued.removeFirst()
            if matches(signal) { return signal }
        }
        let deadline = Self.now() + Int64(timeoutMilliseconds)
        while true {
            let incoming = try receive(deadline: deadline, what: what)
            if incoming.kind == .signal, matches(incoming) { return incoming }
        }
    }

    /// The next message of any kind (queued signals first): what a service answering calls
    /// reads.
    public func receive(timeoutMilliseconds: Int32, what: String) throws(DBusError) -> DBusMessage {
        if !queued.isEmpty { return queued.removeFirst() }
        return try receive(deadline: Self.now() + Int64(timeoutMilliseconds), what: what)
    }

    /// The next whole message.
    func receive(deadline: Int64, what: String) throws(DBusError) -> DBusMessage {
        while buffer.count < 16 { try fill(deadline: deadline, what: what) }
        let total = try DBusMessage.length(header: buffer[..<16])
        while buffer.count < total { try fill(deadline: deadline, what: what) }
        let bytes = Array(buffer[..<total])
        buffer.removeSubrange(..<total)
        return try DBusMessage.decode(bytes)
    }

    /// Reads what is available, waiting until `deadline` (CLOCK_MONOTONIC milliseconds).
    private func fill(deadline: Int64, what: String) throws(DBusError) {
        while true {
            let left = deadline - Self.now()
            guard left > 0 else { throw DBusError.timeout(what) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left, Int64(Int32.max))))
            if ready < 0 {
                if errno == EINTR { continue }
                throw DBusError.io("poll the bus socket", errno: errno)
            }
            if ready == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw DBusError.io("read from the bus", errno: errno)
            }
            if count == 0 { throw DBusError.closed }
            buffer += chunk[..<count]
            return
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws(DBusError) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw DBusError.io("write to the bus", errno: errno)
            }
            offset += count
        }
    }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
