import ApusLinux
import Glibc

// The handshake between the runtime and the process it clones (a container's init, or an
// exec'd process), over a SOCK_SEQPACKET pair: one message per event, so no framing is
// needed, and EOF means the other side is gone (or has exec'd: both ends are
// close-on-exec). Each end is a type of its own with one method per step, and each
// direction has its own message type, so neither side can send the other's message.
//
// The order, for `create` (`run` is the same with `start` instead of the fifo):
//
//   runtime                                   init
//   clone ──────────────────────────────────▶ (waits)
//   uid/gid maps, net devices
//   proceed ────────────────────────────────▶ joins its v1 cgroups itself
//   cgroup joins (or the systemd unit)
//   inCgroup ───────────────────────────────▶ namespaces, mounts (the wait for inCgroup
//                                             comes before them when a cgroup namespace,
//                                             a pid-namespace fork or systemd needs it)
//              ◀──────────────────────────── warning* (any time until ready)
//              ◀──────────────────────────── initPid (forked into a new pid namespace)
//              ◀──────────────────────────── runHooks (only with hooks)
//   prestart, createRuntime hooks
//   hooksRan(state) ────────────────────────▶ createContainer hooks, pivot_root
//              ◀──────────────────────────── terminal (no --console-socket)
//              ◀──────────────────────────── seccompListener (listenerPath)
//   sends it to listenerPath
//   listenerDelivered ──────────────────────▶
//              ◀──────────────────────────── ready  (or failure, at any step)
//   state.json records init
//   committed (create) / start (run) ───────▶ waits on the exec fifo / execs
//              ◀──────────────────────────── EOF at execve, or failure
//
// An exec'd process uses the same ends: proceed, then warning*/terminal/failure until EOF.

/// runtime → init.
enum RuntimeMessage: UInt8, Sendable {
    /// uid maps written; go on with setup (`inCgroup` follows).
    case proceed = 0x47  // "G"
    /// init is in its cgroups (after `proceed`, so init sets up its mounts while the
    /// runtime writes cgroup.procs).
    case inCgroup = 0x49  // "I"
    /// The prestart and createRuntime hooks ran; the state JSON (status "creating") follows
    /// the tag, for the hooks init runs itself (createContainer, startContainer): init
    /// cannot know its host pid from inside its pid namespace.
    case hooksRan = 0x48  // "H"
    /// The seccomp listener reached listenerPath; init goes on (runc's procSeccompDone).
    case listenerDelivered = 0x4C  // "L"
    /// `create` with a fifo: state.json records init; wait for start. Until then a runtime
    /// that dies leaves init to exit on EOF instead of blocking on the fifo where no state
    /// names it.
    case committed = 0x4B  // "K"
    /// `run` (no fifo): exec now.
    case start = 0x53  // "S"
}

/// init → runtime.
public enum InitMessage: Sendable, Equatable {
    /// Setup done, waiting for start.
    case ready
    /// Setup failed with this text.
    case failure(String)
    /// A warning to log.
    case warning(String)
    /// The real init's pid (the intermediate process forked it into the new pid namespace).
    case initPid(Int32)
    /// Namespaces made and mounts done: run the prestart and createRuntime hooks now.
    case runHooks
    /// The console pty master (no console socket).
    case terminal(Int32)
    /// The seccomp notify listener fd, for linux.seccomp.listenerPath.
    case seccompListener(Int32)

    fileprivate var tag: UInt8 {
        switch self {
        case .ready: UInt8(ascii: "R")
        case .failure: UInt8(ascii: "E")
        case .warning: UInt8(ascii: "W")
        case .initPid: UInt8(ascii: "P")
        case .runHooks: UInt8(ascii: "C")
        case .terminal: UInt8(ascii: "T")
        case .seccompListener: UInt8(ascii: "N")
        }
    }

    fileprivate init?(tag: UInt8, body: String, descriptor: Int32) {
        switch tag {
        case UInt8(ascii: "R"): self = .ready
        case UInt8(ascii: "E"): self = .failure(body)
        case UInt8(ascii: "W"): self = .warning(body)
        case UInt8(ascii: "P"):
            guard let pid = Int32(body) else { return nil }
            self = .initPid(pid)
        case UInt8(ascii: "C"): self = .runHooks
        case UInt8(ascii: "T") where descriptor >= 0: self = .terminal(descriptor)
        case UInt8(ascii: "N") where descriptor >= 0: self = .seccompListener(descriptor)
        default: return nil
        }
    }
}

/// Creates the pair: the runtime keeps one end, the cloned process the other.
enum Handshake {
    static func pair() throws(ApusError) -> (runtime: RuntimeEnd, child: InitEnd) {
        var fds: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) < 0 {
            throw ApusError("create sync socket", errno: errno)
        }
        return (RuntimeEnd(socket: PacketSocket(fd: fds[0])), InitEnd(socket: PacketSocket(fd: fds[1])))
    }
}

/// The runtime's end: one method per step it tells init about, `next()` for what init says.
/// A `false` return means init is gone (the caller reads why from its exit status).
public struct RuntimeEnd: Sendable {
    let socket: PacketSocket

    func proceed() -> Bool { socket.send(RuntimeMessage.proceed.rawValue) }
    func inCgroup() -> Bool { socket.send(RuntimeMessage.inCgroup.rawValue) }
    func hooksRan(state: String) -> Bool { socket.send(RuntimeMessage.hooksRan.rawValue, body: state) }
    func listenerDelivered() -> Bool { socket.send(RuntimeMessage.listenerDelivered.rawValue) }
    func committed() -> Bool { socket.send(RuntimeMessage.committed.rawValue) }
    func start() -> Bool { socket.send(RuntimeMessage.start.rawValue) }

    /// init's next message; nil on EOF (init exec'd or exited). A message of the wrong
    /// shape is a failure, not a silent EOF.
    func next() -> InitMessage? {
        guard let (tag, body, descriptor) = socket.receive() else { return nil }
        return InitMessage(tag: tag, body: body, descriptor: descriptor)
            ?? .failure("unknown message \(tag) from the container process")
    }

    public func close() { socket.close() }
}

/// The cloned process's end: one method per step. The `await…` methods end the process
/// when the runtime is gone or says something else: there is nobody left to report to, and
/// the runtime's own rollback removes what it made.
public struct InitEnd: Sendable {
    let socket: PacketSocket
    var fd: Int32 { socket.fd }

    func awaitProceed() { expect(.proceed) }
    func awaitInCgroup() { expect(.inCgroup) }
    func awaitCommitted() { expect(.committed) }
    func awaitStart() { expect(.start) }
    func awaitListenerDelivered() { expect(.listenerDelivered) }

    /// The state JSON the runtime gives with `hooksRan`.
    func awaitHooksRan() -> String {
        guard let (tag, body, _) = socket.receive(), tag == RuntimeMessage.hooksRan.rawValue else { _exit(1) }
        return body
    }

    func ready() -> Bool { send(.ready) }
    func failure(_ text: String) -> Bool { send(.failure(text)) }
    func warn(_ text: String) { _ = send(.warning(text)) }
    func initPid(_ pid: Int32) -> Bool { send(.initPid(pid)) }
    func runHooks() -> Bool { send(.runHooks) }
    func terminal(_ master: Int32) -> Bool { send(.terminal(master)) }
    func seccompListener(_ listener: Int32) -> Bool { send(.seccompListener(listener)) }

    private func expect(_ message: RuntimeMessage) {
        guard let (tag, _, _) = socket.receive(), tag == message.rawValue else { _exit(1) }
    }

    private func send(_ message: InitMessage) -> Bool {
        switch message {
        case .terminal(let fd), .seccompListener(let fd):
            return DescriptorPassing.send(fd, over: socket.fd, message: String(UnicodeScalar(message.tag)))
        case .failure(let text), .warning(let text): return socket.send(message.tag, body: text)
        case .initPid(let pid): return socket.send(message.tag, body: String(pid))
        case .ready, .runHooks: return socket.send(message.tag)
        }
    }

    public func close() { socket.close() }
}

/// The transport: a tag byte and an optional UTF-8 body per packet, or a descriptor with
/// a one-byte tag (SCM_RIGHTS).
struct PacketSocket: Sendable {
    let fd: Int32

    func send(_ tag: UInt8, body: String = "") -> Bool {
        var bytes: [UInt8] = [tag]
        bytes.append(contentsOf: body.utf8)
        if bytes.count > 60_001 { bytes.removeLast(bytes.count - 60_001) }
        let sent = retryingEINTR {
            bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        return sent >= 0
    }

    /// The next packet's tag, body and passed descriptor (-1 without one); nil on EOF/error.
    func receive() -> (tag: UInt8, body: String, descriptor: Int32)? {
        var passed: Int32 = -1
        var n = 0
        // Room for the largest message, left uninitialised: zero-filling 64 KiB for a
        // one-byte message touched 16 pages that a waiting init then kept.
        let buffer = [UInt8](unsafeUninitializedCapacity: 65_536) { storage, count in
            n = DescriptorPassing.receive(fd, into: storage, descriptor: &passed)  // EINTR retried there
            // A peer that exits with messages of ours unread (init failing before it reads
            // `inCgroup`) makes the next read fail once with ECONNRESET; what it sent before
            // exiting (its failure) is still queued behind that error.
            if n < 0 && errno == ECONNRESET {
                n = DescriptorPassing.receive(fd, into: storage, descriptor: &passed)
            }
            count = max(n, 0)
        }
        if n <= 0 { return nil }
        return (buffer[0], String(decoding: buffer[1..<n], as: UTF8.self), passed)
    }

    func close() { _ = Glibc.close(fd) }
}
