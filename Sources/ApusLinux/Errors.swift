import CApus
import Glibc

/// The one error of the runtime: what was being done (the step, and the object it was
/// done to), why it failed (errno, a detail, or the error it wraps) and, when the step
/// comes from config.json, which field asked for it. Setup, cgroup and lifecycle steps
/// all throw it, and it reaches the CLI as it was thrown; its text is the one line the
/// CLI prints.
public struct ApusError: Error, CustomStringConvertible, Sendable {
    /// Where the step belongs; cgroup steps print with a "cgroup: " prefix.
    public enum Area: Sendable { case setup, cgroup }

    public var area: Area
    public var step: String
    /// What the step was done to, when the step's text does not already name it.
    public var object: String?
    public var errno: Int32?
    public var detail: String?
    public var field: String?
    /// The error this one wraps (a wrapper names only its own step).
    public var cause: (any Error)?

    public init(
        _ step: String, object: String? = nil, errno: Int32? = nil, detail: String? = nil, field: String? = nil,
        cause: (any Error)? = nil
    ) {
        self.area = .setup
        self.step = step
        self.object = object
        self.errno = errno
        self.detail = detail
        self.field = field
        self.cause = cause
    }

    /// A failed cgroup step: what was done (`write 536870912 to /sys/fs/cgroup/memory/apus/x/
    /// memory.limit_in_bytes`), why it failed, and which config.json field asked for it.
    public static func cgroup(_ step: String, errno: Int32? = nil, detail: String? = nil, field: String? = nil)
        -> ApusError
    {
        var error = ApusError(step, errno: errno, detail: detail, field: field)
        error.area = .cgroup
        return error
    }

    /// A cgroup configuration the host or the cgroup version cannot honour, found before
    /// anything was touched.
    static func invalidCgroup(_ detail: String, field: String) -> ApusError {
        .cgroup("invalid configuration", detail: detail, field: field)
    }

    public var description: String {
        var text = area == .cgroup ? "cgroup: " + step : step
        if let object { text += " " + object }
        if let errno { text += ": " + errorString(errno) }
        if let detail { text += ": " + detail }
        if let cause { text += ": " + String(describing: cause) }
        if let field { text += " (config.json \(field))" }
        return text
    }

    /// `error` as it is when it is an ApusError, else its text as the step.
    public static func wrapping(_ error: any Error) -> ApusError {
        error as? ApusError ?? ApusError(String(describing: error))
    }

    public func with(field: String) -> ApusError {
        var copy = self
        if copy.field == nil { copy.field = field }
        return copy
    }
}

public func errorString(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

/// The one EINTR loop: calls `call` again while it fails (a negative result) with EINTR,
/// and returns the first other result; errno is left as that call set it.
@inline(__always)
@inlinable
public func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result >= 0 || Glibc.errno != EINTR { return result }
    }
}

/// Runs a syscall-style call (returns -1 and sets errno on failure), retrying EINTR,
/// and turns failure into a `ApusError` for `step`.
@discardableResult
@inline(__always)
public func sys(
    _ step: @autoclosure () -> String, field: String? = nil, _ call: () -> Int32
) throws(ApusError) -> Int32 {
    let result = retryingEINTR(call)
    if result >= 0 { return result }
    throw ApusError(step(), errno: Glibc.errno, field: field)
}

/// Like `sys` for calls that return ssize_t.
@discardableResult
@inline(__always)
public func sysSize(
    _ step: @autoclosure () -> String, _ call: () -> Int
) throws(ApusError) -> Int {
    let result = retryingEINTR(call)
    if result >= 0 { return result }
    throw ApusError(step(), errno: Glibc.errno)
}
