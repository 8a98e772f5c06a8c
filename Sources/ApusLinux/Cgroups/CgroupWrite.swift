/// One write of one value to one cgroup file: the unit every controller's pure
/// function produces and `CgroupManager` executes in order.
public struct CgroupWrite: Sendable, Equatable, CustomStringConvertible {
    /// What to do when the file does not exist (controller without that knob on this
    /// kernel, controller not enabled, swap accounting off…).
    public enum IfMissing: Sendable, Equatable {
        /// An error naming the file and the field (the value is not a no-op).
        case fail
        /// Nothing: the value is a no-op when the knob is absent (e.g. "max" swap without
        /// swap accounting, hugetlb reservations on kernels before 5.7).
        case skip
        /// Skip it and say so (settings the kernel dropped, like kernel memory limits).
        case warn(String)
        /// Write `value` to `file` instead (e.g. blkio.weight → blkio.bfq.weight).
        case fallback(file: String, value: String)
    }

    /// Hierarchy the file lives in: a v1 controller name, or the v2 controller the
    /// file belongs to (for placement on hybrid hosts and error messages).
    public var controller: String
    public var version: CgroupVersion
    public var file: String
    public var value: String
    /// JSON path of the config.json field the value comes from.
    public var field: String
    public var ifMissing: IfMissing
    /// When the kernel rejects the value with EINVAL, retry it once right after `file`
    /// (of the same plan) has been written: the pairs the kernel validates against each
    /// other (memory limit vs memsw limit, cfs period vs quota, rt period vs runtime).
    public var retryAfter: String?

    public init(
        _ controller: String, _ version: CgroupVersion, _ file: String, _ value: String, field: String,
        ifMissing: IfMissing = .fail, retryAfter: String? = nil
    ) {
        self.controller = controller
        self.version = version
        self.file = file
        self.value = value
        self.field = field
        self.ifMissing = ifMissing
        self.retryAfter = retryAfter
    }

    /// `file=value`, what tests compare.
    public var description: String { file + "=" + value }
}

/// The writes for one group of settings plus the warnings for settings that are
/// accepted and ignored.
public struct CgroupWrites: Sendable, Equatable {
    public var writes: [CgroupWrite] = []
    public var warnings: [String] = []

    public init(writes: [CgroupWrite] = [], warnings: [String] = []) {
        self.writes = writes
        self.warnings = warnings
    }

    /// `file=value` of every write, in order.
    public var pairs: [String] { writes.map(\.description) }

    mutating func append(contentsOf other: CgroupWrites) {
        writes.append(contentsOf: other.writes)
        warnings.append(contentsOf: other.warnings)
    }
}

/// Number formatting shared by the controllers.
enum CgroupValue {
    /// cgroup v2 files with .max/.low/.high semantics: -1 (the v1 spelling of "no
    /// limit") is "max".
    static func v2Limit(_ value: Int64) -> String {
        value == -1 ? "max" : String(value)
    }
}
