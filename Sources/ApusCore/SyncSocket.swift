import ApusLinux
import Glibc

/// The parent ↔ init channel: a SOCK_SEQPACKET pair, one message per event, so
/// no framing is needed and EOF means the other side is gone (or has exec'd:
/// both ends are close-on-exec).
public struct SyncSocket: Sendable {
    public let fd: Int32

    public enum Message: Sendable, Equatable {
        /// parent → init: uid maps written; go on with setup (`inCgroup` follows).
        case proceed
        /// runtime → init: init is in its cgroups (after `proceed`, so init sets up its
        /// mounts while the runtime writes cgroup.procs).
        case inCgroup
        /// init → parent: setup done, waiting for start.
        case ready
        /// parent → init (run without fifo): exec now.
        case start
        /// parent → init (create with fifo): state.json records init; wait for start. Until
        /// then a runtime that dies leaves init to exit on EOF instead of blocking on the
        /// fifo where no state names it.
        case committed
        /// init → parent: setup failed with this text.
        case failure(String)
        /// init (intermediate) → parent: the real init's pid.
        case initPid(Int32)
        /// init → parent: a warning to log.
        case warning(String)
        /// parent → init: the prestart and createRuntime hooks ran (`hookState` came first).
        case hooksDone
        /// init → parent: namespaces created, run the createRuntime hooks now.
        case runtimeHooks
        /// init → parent: the console pty master (run without a console socket).
        case terminal(Int32)
        /// parent → init: the state JSON (status "creating") for the hooks init
        /// runs itself (createContainer, startContainer): init cannot know its
        /// host pid from inside its pid namespace.
        case hookState(String)
        /// init → parent: the seccomp notify listener fd, for linux.seccomp.listenerPath.
        case seccompListener(Int32)
        /// parent → init: the listener reached listenerPath; init goes on (runc's procSeccompDone).
        case listenerDelivered
    }

    public static func pair() throws(ApusError) -> (parent: SyncSocket, child: SyncSocket) {
        var fds: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) < 0 {
            throw ApusError("create sync socket", errno: errno)
        }
        return (SyncSocket(fd: fds[0]), SyncSocket(fd: fds[1]))
    }

    public func send(_ message: Message) -> Bool {
        var bytes: [UInt8]
        switch message {
        case .proceed: bytes = [UInt8(ascii: "G")]
        case .inCgroup: bytes = [UInt8(ascii: "I")]
        case .ready: bytes = [UInt8(ascii: "R")]
        case .start: bytes = [UInt8(ascii: "S")]
        case .committed: bytes = [UInt8(ascii: "K")]
        case .hooksDone: bytes = [UInt8(ascii: "H")]
        case .runtimeHooks: bytes = [UInt8(ascii: "C")]
        case .listenerDelivered: bytes = [UInt8(ascii: "L")]
        case .failure(let text): bytes = [UInt8(ascii: "E")] + Array(text.utf8.prefix(60_000))
        case .warning(let text): bytes = [UInt8(ascii: "W")] + Array(text.utf8.prefix(60_000))
        case .initPid(let pid): bytes = [UInt8(ascii: "P")] + Array(String(pid).utf8)
        case .hookState(let text): bytes = [UInt8(ascii: "J")] + Array(text.utf8.prefix(60_000))
        case .terminal(let master): return DescriptorPassing.send(master, over: fd, message: "T")
        case .seccompListener(let listener): return DescriptorPassing.send(listener, over: fd, message: "N")
        }
        let sent = retryingEINTR {
            bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        return sent >= 0
    }

    /// Next message, or nil on EOF / error.
    public func receive() -> Message? {
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
        if passed >= 0 { return buffer[0] == UInt8(ascii: "N") ? .seccompListener(passed) : .terminal(passed) }
        let body = String(decoding: buffer[1..<n], as: UTF8.self)
        switch buffer[0] {
        case UInt8(ascii: "G"): return .proceed
        case UInt8(ascii: "I"): return .inCgroup
        case UInt8(ascii: "R"): return .ready
        case UInt8(ascii: "S"): return .start
        case UInt8(ascii: "K"): return .committed
        case UInt8(ascii: "H"): return .hooksDone
        case UInt8(ascii: "C"): return .runtimeHooks
        case UInt8(ascii: "L"): return .listenerDelivered
        case UInt8(ascii: "E"): return .failure(body)
        case UInt8(ascii: "W"): return .warning(body)
        case UInt8(ascii: "J"): return .hookState(body)
        case UInt8(ascii: "P"): return Int32(body).map { .initPid($0) } ?? .failure("bad init pid message")
        default: return .failure("unknown sync message")
        }
    }

    public func close() { _ = Glibc.close(fd) }
}
