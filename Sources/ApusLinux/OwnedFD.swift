import CApus
import Glibc

/// An open file descriptor and the duty to close it, held by exactly one value.
///
/// `~Copyable`, so ownership is checked by the compiler: the descriptor is closed once,
/// when its owner ends (`deinit`), and a value that was handed on (`take()`) or closed
/// (`close()`) cannot be used again. A leak or a double close is a compile error, not a
/// review finding. swift-system's `FileDescriptor` is Copyable, so it cannot say who
/// closes; this type is one Int32 with no allocation, no thread and no syscall beyond
/// the close(2) the code needs anyway.
///
/// Borrow `raw` for a call; `take()` when the number must outlive this value (handed to
/// another owner, to the kernel, or kept across execve). In a forked or cloned child that
/// execs or `_exit`s, a value of the parent's frame never ends, so nothing is closed
/// there behind the child's back; close-on-exec is whatever the open asked for.
public struct OwnedFD: ~Copyable {
    public let raw: Int32

    /// Takes ownership of `raw`, which must be an open descriptor no one else closes.
    @inline(__always)
    public init(adopting raw: Int32) {
        self.raw = raw
    }

    /// The only close(2) of an owned descriptor. Its result is ignored: after close the
    /// number is free whatever it returns (EINTR included; retrying could close another
    /// thread's new descriptor).
    @inline(__always)
    deinit { Glibc.close(raw) }

    /// Ends ownership without closing and returns the number: for a descriptor handed to
    /// the kernel, to another process, or kept across execve.
    @inline(__always)
    public consuming func take() -> Int32 {
        let fd = raw
        discard self
        return fd
    }

    /// Closes now rather than at the end of the scope (before a fork, a wait, or reuse of
    /// the number).
    @inline(__always)
    public consuming func close() {}

    /// The descriptor `call` returns (a syscall-style call: -1 and errno on failure,
    /// EINTR retried), or an `ApusError` for `step`.
    @inline(__always)
    public static func open(
        _ step: @autoclosure () -> String, field: String? = nil, _ call: () -> Int32
    ) throws(ApusError) -> OwnedFD {
        OwnedFD(adopting: try sys(step(), field: field, call))
    }

    /// The descriptor `call` returns, or nil with errno as the call left it (EINTR retried).
    @inline(__always)
    public static func opening(_ call: () -> Int32) -> OwnedFD? {
        let fd = retryingEINTR(call)
        return fd < 0 ? nil : OwnedFD(adopting: fd)
    }
}

/// The two ends of a pipe, each owned; take one end with `let r = pipe.read` and the
/// other closes when the pair ends (`@frozen`: other modules may take one end).
@frozen public struct OwnedFDPair: ~Copyable {
    public var read: OwnedFD
    public var write: OwnedFD

    /// A close-on-exec pipe2(2): `read` is fds[0], `write` fds[1].
    public static func pipe(_ step: @autoclosure () -> String) throws(ApusError) -> OwnedFDPair {
        var fds: [Int32] = [-1, -1]
        try sys(step()) { apus_pipe2(&fds, O_CLOEXEC) }
        return OwnedFDPair(read: OwnedFD(adopting: fds[0]), write: OwnedFD(adopting: fds[1]))
    }
}

/// Descriptors owned as a group (namespace files, mount trees keyed by name, an fd and
/// the tree cloned from it): Swift's collections hold only copyable elements, so the group
/// is the owner and closes every one it still holds when it ends.
public struct OwnedFDs: ~Copyable {
    public private(set) var raw: [Int32] = []

    public init() {}

    /// Takes ownership of `fd` and returns its number, borrowed from the group.
    @discardableResult
    public mutating func hold(_ fd: consuming OwnedFD) -> Int32 {
        let number = fd.take()
        raw.append(number)
        return number
    }

    /// Closes every descriptor held now, leaving the group empty.
    public mutating func closeAll() {
        Self.close(raw)
        raw = []
    }

    deinit { Self.close(raw) }

    /// Two numbers in a row (an fd and the next one opened, as usual) are closed with one
    /// close_range(2).
    private static func close(_ raw: [Int32]) {
        var index = 0
        while index < raw.count {
            let fd = raw[index]
            if index + 1 < raw.count, raw[index + 1] == fd + 1,
                RawSyscall.closeRange(UInt32(fd), UInt32(fd + 1)) == 0
            {
                index += 2
                continue
            }
            Glibc.close(fd)
            index += 1
        }
    }
}

extension Optional where Wrapped == OwnedFD {
    /// The descriptor's number, borrowed, or -1 when there is none (`fd?.raw` would consume
    /// a stored optional).
    public var raw: Int32 {
        switch self {
        case .some(let fd): fd.raw
        case .none: -1
        }
    }

    /// The descriptor's number, borrowed, or nil when there is none.
    public var rawOrNil: Int32? {
        switch self {
        case .some(let fd): fd.raw
        case .none: nil
        }
    }
}
