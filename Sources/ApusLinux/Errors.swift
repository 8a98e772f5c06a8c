import CApus
import Glibc

/// A failed step of container setup: what was being done, to what, why, and
/// (when the step comes from config.json) which field asked for it.
public struct SetupError: Error, CustomStringConvertible, Sendable {
    public var step: String
    public var errno: Int32?
    public var detail: String?
    public var field: String?

    public init(_ step: String, errno: Int32? = nil, detail: String? = nil, field: String? = nil) {
        self.step = step
        self.errno = errno
        self.detail = detail
        self.field = field
    }

    public var description: String {
        var text = step
        if let errno { text += ": " + errorString(errno) }
        if let detail { text += ": " + detail }
        if let field { text += " (config.json \(field))" }
        return text
    }

    public func with(field: String) -> SetupError {
        var copy = self
        if copy.field == nil { copy.field = field }
        return copy
    }
}

public func errorString(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

/// Runs a syscall-style call (returns -1 and sets errno on failure), retrying EINTR,
/// and turns failure into a `SetupError` for `step`.
@discardableResult
@inline(__always)
public func sys(
    _ step: @autoclosure () -> String, field: String? = nil, _ call: () -> Int32
) throws(SetupError) -> Int32 {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SetupError(step(), errno: code, field: field)
    }
}

/// Like `sys` for calls that return ssize_t.
@discardableResult
@inline(__always)
public func sysSize(
    _ step: @autoclosure () -> String, _ call: () -> Int
) throws(SetupError) -> Int {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SetupError(step(), errno: code)
    }
}
