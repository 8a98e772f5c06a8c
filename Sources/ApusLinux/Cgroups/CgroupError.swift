import Glibc

/// A failed cgroup step: what was done (`write 536870912 to /sys/fs/cgroup/memory/apus/x/
/// memory.limit_in_bytes`), why it failed, and which config.json field asked for it.
public struct CgroupError: Error, CustomStringConvertible, Sendable, Equatable {
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
        var text = "cgroup: " + step
        if let errno { text += ": " + Self.text(of: errno) }
        if let detail { text += ": " + detail }
        if let field { text += " (config.json \(field))" }
        return text
    }

    static func text(of code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// A configuration the host or the cgroup version cannot honour, found before
    /// anything was touched.
    static func invalid(_ detail: String, field: String) -> CgroupError {
        CgroupError("invalid configuration", detail: detail, field: field)
    }
}
