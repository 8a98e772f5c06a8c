import CApus
import Glibc
import OCI

/// `linux.netDevices` (OCI 1.3): host network interfaces moved into the container's network
/// namespace, renamed to `name` when it is set, with their addresses and up, as runc 1.5
/// leaves them. Spoken over rtnetlink: a device that moves between namespaces loses its
/// addresses and goes down, so they are read before the move and restored after it.
///
/// Nothing is moved back: when the container's network namespace goes, the kernel returns
/// physical devices to the host's and destroys virtual ones (a veth end takes its peer), as
/// with runc.
public enum NetDevices {
    /// Moves every device of `devices` into the network namespace `namespace` (an fd of it).
    /// Each device is checked on the host first, so a bad entry moves nothing.
    public static func move(_ devices: [String: Spec.Linux.NetDevice], into namespace: Int32) throws(ApusError) {
        let ordered = devices.sorted { $0.key < $1.key }
        var indexes: [Int32] = []
        for (host, _) in ordered {
            let index = Int32(bitPattern: if_nametoindex(host))
            if index == 0 {
                throw ApusError(
                    "move network device \(host)", detail: "no such interface on the host",
                    field: ".linux.netDevices" + fieldKey(host))
            }
            indexes.append(index)
        }
        let host = try Netlink()
        let inside = try Netlink(namespace: namespace)
        for ((name, device), index) in zip(ordered, indexes) {
            let field = ".linux.netDevices" + fieldKey(name)
            let target = device.name.flatMap { $0.isEmpty ? nil : $0 } ?? name
            // The kernel renames after the move: a taken name would fail once the device is
            // already inside, and it would go with the container. Checked first, it stays.
            if try inside.lookup(target) != nil {
                throw ApusError(
                    "move network device \(name)", detail: "the container already has an interface named \(target)",
                    field: field)
            }
            do {
                let addresses = try host.addresses(of: index)
                try host.moveLink(index: index, to: namespace, name: target)
                let moved = try inside.index(of: target)
                for address in addresses { try inside.addAddress(address, index: moved) }
                try inside.setUp(index: moved)
            } catch {
                throw error.with(field: field)
            }
        }
    }

    static func fieldKey(_ name: String) -> String { "[\"\(name)\"]" }
}

/// One rtnetlink socket, in the caller's network namespace or in another one.
struct Netlink: ~Copyable {
    struct Address {
        var family: UInt8
        var prefixLength: UInt8
        var flags: UInt8
        var scope: UInt8
        /// (IFA_LOCAL / IFA_ADDRESS / IFA_BROADCAST, bytes)
        var attributes: [(UInt16, [UInt8])]
    }

    private let socket: OwnedFD
    var fd: Int32 { socket.raw }
    private var sequence: UInt32 = 0

    // linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h
    static let netlinkRoute: Int32 = 0
    static let newLink: UInt16 = 16, getLink: UInt16 = 18, newAddress: UInt16 = 20, getAddress: UInt16 = 22
    static let request: UInt16 = 0x1, acknowledge: UInt16 = 0x4, dump: UInt16 = 0x300
    static let create: UInt16 = 0x400, exclusive: UInt16 = 0x200
    static let error: UInt16 = 2, done: UInt16 = 3
    static let linkName: UInt16 = 3, linkNamespaceFD: UInt16 = 28
    static let addressAddress: UInt16 = 1, addressLocal: UInt16 = 2, addressBroadcast: UInt16 = 4

    /// A socket in this process's network namespace, or in `namespace`'s: the socket keeps
    /// the namespace it was made in, so the process enters it only for socket(2).
    init(namespace: Int32? = nil) throws(ApusError) {
        var own: OwnedFD? = nil
        if let namespace {
            own = try OwnedFD.open("open own network namespace") {
                open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            }
            if apus_setns(namespace, APUS_CLONE_NEWNET) < 0 {
                throw ApusError("enter the container's network namespace", errno: errno)
            }
        }
        let socketFD = Glibc.socket(
            AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Self.netlinkRoute)
        let socketErrno = errno
        if let home = own.take() {
            // Back home before anything else: the rest of create runs in the host's namespace.
            _ = apus_setns(home.raw, APUS_CLONE_NEWNET)
        }
        if socketFD < 0 { throw ApusError("open rtnetlink socket", errno: socketErrno) }
        socket = OwnedFD(adopting: socketFD)
    }

    func addresses(of index: Int32) throws(ApusError) -> [Address] {
        var found: [Address] = []
        // struct ifaddrmsg with every field zero: all families.
        try exchange(Self.getAddress, flags: Self.dump, body: [UInt8](repeating: 0, count: 8), step: "list addresses") {
            payload, type in
            guard type == Self.newAddress, payload.count >= 8 else { return }
            let owner = payload[4..<8].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
            guard owner == index else { return }
            let scope = payload[3]
            // IPv6 link-local addresses come back by themselves once the link is up.
            if payload[0] == UInt8(AF_INET6) && scope == 253 { return }
            found.append(
                Address(
                    family: payload[0], prefixLength: payload[1], flags: payload[2], scope: scope,
                    attributes: Self.attributes(payload[8...]).filter {
                        [Self.addressAddress, Self.addressLocal, Self.addressBroadcast].contains($0.0)
                    }))
        }
        return found
    }

    func moveLink(index: Int32, to namespace: Int32, name: String) throws(ApusError) {
        var body = Self.linkMessage(index: index)
        body += Self.attribute(Self.linkNamespaceFD, withUnsafeBytes(of: UInt32(bitPattern: namespace)) { Array($0) })
        body += Self.attribute(Self.linkName, Array(name.utf8) + [0])
        try exchange(Self.newLink, flags: Self.acknowledge, body: body, step: "move it into the container as \(name)")
    }

    /// The index of `name`, or nil when this namespace has no such interface.
    func lookup(_ name: String) throws(ApusError) -> Int32? {
        do {
            return try index(of: name)
        } catch  where error.errno == ENODEV {
            return nil
        }
    }

    func index(of name: String) throws(ApusError) -> Int32 {
        var body = Self.linkMessage(index: 0)
        body += Self.attribute(Self.linkName, Array(name.utf8) + [0])
        var index: Int32 = 0
        try exchange(Self.getLink, flags: 0, body: body, step: "find \(name) in the container") { payload, type in
            if type == Self.newLink, payload.count >= 8 {
                index = payload[4..<8].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
            }
        }
        return index
    }

    func addAddress(_ address: Address, index: Int32) throws(ApusError) {
        var body: [UInt8] = [address.family, address.prefixLength, address.flags, address.scope]
        body += withUnsafeBytes(of: UInt32(bitPattern: index)) { Array($0) }
        for (type, value) in address.attributes { body += Self.attribute(type, value) }
        try exchange(
            Self.newAddress, flags: Self.acknowledge | Self.create | Self.exclusive, body: body,
            step: "restore its address in the container")
    }

    func setUp(index: Int32) throws(ApusError) {
        let up = UInt32(IFF_UP)
        try exchange(
            Self.newLink, flags: Self.acknowledge, body: Self.linkMessage(index: index, flags: up, change: up),
            step: "bring it up in the container")
    }

    /// struct ifinfomsg.
    static func linkMessage(index: Int32, flags: UInt32 = 0, change: UInt32 = 0) -> [UInt8] {
        var body: [UInt8] = [UInt8(AF_UNSPEC), 0, 0, 0]
        body += withUnsafeBytes(of: index) { Array($0) }
        body += withUnsafeBytes(of: flags) { Array($0) }
        body += withUnsafeBytes(of: change) { Array($0) }
        return body
    }

    /// struct rtattr with its value, padded to 4 bytes.
    static func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
        var bytes = withUnsafeBytes(of: UInt16(4 + value.count)) { Array($0) }
        bytes += withUnsafeBytes(of: type) { Array($0) } + value
        while bytes.count % 4 != 0 { bytes.append(0) }
        return bytes
    }

    static func attributes(_ bytes: ArraySlice<UInt8>) -> [(UInt16, [UInt8])] {
        var found: [(UInt16, [UInt8])] = []
        var offset = bytes.startIndex
        while offset + 4 <= bytes.endIndex {
            let length = Int(bytes[offset..<offset + 2].withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) })
            let type = bytes[offset + 2..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
            guard length >= 4, offset + length <= bytes.endIndex else { break }
            found.append((type & 0x3fff, Array(bytes[offset + 4..<offset + length])))
            offset += (length + 3) & ~3
        }
        return found
    }

    /// Sends one request and reads replies until its ack, error or end of dump; `each` sees
    /// every other message's type and payload.
    func exchange(
        _ type: UInt16, flags: UInt16, body: [UInt8], step: String,
        _ each: ([UInt8] /* payload */, UInt16) -> Void = { _, _ in }
    ) throws(ApusError) {
        var message = withUnsafeBytes(of: UInt32(16 + body.count)) { Array($0) }
        message += withUnsafeBytes(of: type) { Array($0) }
        message += withUnsafeBytes(of: Self.request | flags) { Array($0) }
        message += [UInt8](repeating: 0, count: 8) + body  // sequence 0, port 0 (the kernel)
        let sent = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        if sent < 0 { throw ApusError(step, errno: errno) }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = retryingEINTR { buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
            if n <= 0 { throw ApusError(step, errno: n < 0 ? errno : EPROTO) }
            var offset = 0
            while offset + 16 <= n {
                let length = Int(buffer[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
                let kind = buffer[offset + 4..<offset + 6].withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
                guard length >= 16, offset + length <= n else { throw ApusError(step, detail: "bad netlink reply") }
                let payload = Array(buffer[offset + 16..<offset + length])
                switch kind {
                case Self.done:
                    return
                case Self.error:
                    let code = payload.prefix(4).withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
                    if code == 0 { return }
                    throw ApusError(step, errno: -code)
                default:
                    each(payload, kind)
                    // A plain get answers with one message and no ack.
                    if flags & Self.dump == 0 && flags & Self.acknowledge == 0 { return }
                }
                offset += (length + 3) & ~3
            }
        }
    }
}
