import ApusLinux
import Glibc

/// A notification CRIU waits on during a dump or restore (`notify_scripts`): its name
/// (`pre-dump`, `post-dump`, `setup-namespaces`, `post-restore`, `orphan-pts-master`…),
/// the pid it concerns, and the descriptor that came with it (the pty master of
/// `orphan-pts-master`), owned by the handler (`OwnedFD(adopting:)`).
public struct Notification: Sendable {
    public var script: String
    public var pid: Int32
    public var fd: Int32?
}

/// One `criu swrk 3` child, spoken to over a SOCK_SEQPACKET socket pair as runc does:
/// one request, notifications answered, one reply. criu opens the descriptors a request
/// names (images_dir_fd, work_dir_fd, status_fd) through /proc/<our pid>/fd, so they stay
/// ours; the ones it must inherit (inherit_fd) are given to it at spawn.
public final class Swrk {
    public let pid: Int32
    /// Ours of the pair; nil once `finish` closed it.
    private var socket: OwnedFD?
    private var reaped = false

    /// Starts `criu swrk 3`. `inherit` descriptors become criu's 4, 5, … (in order), for
    /// inherit_fd; criu's stdio is ours, or /dev/null when `quiet` (a probe, whose
    /// complaints, printed before criu opens its log, are the reply's to give).
    public init(criu: String, inherit: [Int32] = [], quiet: Bool = false) throws(ApusError) {
        var pair: [Int32] = [-1, -1]
        let type = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &pair) == 0 else {
            throw ApusError("create the socket pair for criu", errno: errno)
        }
        let ours = OwnedFD(adopting: pair[0])
        let criusEnd = OwnedFD(adopting: pair[1])
        // criu's 3 is the socket; dup2 onto another number clears close-on-exec.
        var steps: [HelperSpawn.Step] = [.dup2(from: criusEnd.raw, to: 3)]
        if quiet { steps += (0...2).map { .open(fd: $0, path: "/dev/null", flags: O_RDWR) } }
        steps += inherit.enumerated().map { .dup2(from: $1, to: Int32(4 + $0)) }
        let (child, spawned) = HelperSpawn.spawn(criu, arguments: ["swrk", "3"], steps: steps)
        criusEnd.close()
        guard spawned == 0 else { throw ApusError("start", object: criu, errno: spawned) }
        pid = child
        socket = consume ours
    }

    deinit { _ = finish() }

    /// Sends `request`, answers every notification with `notify` (a thrown error answers it
    /// with failure, which makes criu give up, and is rethrown once criu has replied), and
    /// returns criu's reply.
    public func call(_ request: Request, notify: (Notification) throws -> Void = { _ in }) throws -> Response {
        try send(request.encoded)
        var failure: (any Error)? = nil
        while true {
            // Closed here unless a notification's handler takes it.
            var passed: OwnedFD? = nil
            let bytes = try receive(descriptor: &passed)
            let response: Response
            do {
                response = try Response(decoding: bytes)
            } catch {
                throw ApusError("decode criu's reply", detail: error.description)
            }
            guard response.type == RequestType.notify.rawValue else {
                if let failure { throw failure }
                return response
            }
            var succeeded = true
            if failure == nil {
                let fd: Int32? = if let owned = passed.take() { owned.take() } else { nil }
                do {
                    try notify(Notification(script: response.notifyScript ?? "", pid: response.notifyPid ?? 0, fd: fd))
                } catch {
                    failure = error
                    succeeded = false
                }
            }
            var answer = Request(type: .notify)
            answer.notifySuccess = succeeded
            try send(answer.encoded)
        }
    }

    private func send(_ bytes: [UInt8]) throws(ApusError) {
        let sent = retryingEINTR { Glibc.send(socket.raw, bytes, bytes.count, Int32(MSG_NOSIGNAL)) }
        if sent < 0 { throw ApusError("send a request to criu", errno: errno) }
    }

    /// One message; the descriptor that came with it, if any, in `descriptor`.
    private func receive(descriptor: inout OwnedFD?) throws(ApusError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var fd: Int32 = -1
        let n = buffer.withUnsafeMutableBufferPointer {
            DescriptorPassing.receive(socket.raw, into: $0, descriptor: &fd)
        }
        if fd >= 0 { descriptor = OwnedFD(adopting: fd) }
        if n < 0 { throw ApusError("read criu's reply", errno: errno) }
        if n == 0 {
            let status = finish()
            throw ApusError("criu exited without a reply", detail: status.map(Self.describe) ?? "unknown status")
        }
        return Array(buffer[..<n])
    }

    /// Closes the socket (criu exits on its EOF) and reaps criu; its wait status, or nil
    /// when it was reaped before.
    @discardableResult
    public func finish() -> Int32? {
        socket = nil
        guard !reaped else { return nil }
        reaped = true
        var status: Int32 = 0
        return retryingEINTR({ waitpid(pid, &status, 0) }) == pid ? status : nil
    }

    static func describe(_ status: Int32) -> String {
        status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "killed by signal \(status & 0x7f)"
    }
}
