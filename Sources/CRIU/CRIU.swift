import ApusLinux
import Glibc

/// The criu binary apus runs, found as runc finds it: `--criu PATH`, else `criu` on $PATH.
public struct Binary: Sendable {
    public let path: String

    /// The oldest criu apus accepts: 3.11 reads `config_file` (org.criu.config) and has
    /// every option apus sends but lsm_mount_context (3.18, sent only when asked for).
    public static let minimum = Version(major: 3, minor: 11)

    public init(path: String) { self.path = path }

    /// `explicit` (--criu) as given, else the first executable `criu` on $PATH.
    public static func find(explicit: String?) throws(ApusError) -> Binary {
        if let explicit {
            guard access(explicit, X_OK) == 0 else {
                throw ApusError("criu", object: explicit, errno: errno, detail: "--criu names no executable")
            }
            return Binary(path: explicit)
        }
        let search = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
        for dir in search.split(separator: ":") where dir.hasPrefix("/") {
            let candidate = "\(dir)/criu"
            if access(candidate, X_OK) == 0 { return Binary(path: candidate) }
        }
        throw ApusError(
            "checkpoint/restore needs criu",
            detail: "no criu on $PATH (\(search)): install criu 3.11 or later, or give --criu PATH")
    }

    /// criu's version, from the RPC's VERSION request (criu 3.0 and later answer it).
    public func version() throws -> Version {
        let session = try Swrk(criu: path, quiet: true)
        defer { session.finish() }
        let response = try session.call(Request(type: .version))
        guard response.success, let version = response.version else {
            throw ApusError(
                "ask \(path) its version",
                detail: "criu older than 3.0 (no VERSION request): need \(Self.minimum) or later")
        }
        return version
    }

    /// The version, or an error saying what is too old.
    public func checkedVersion() throws -> Version {
        let found = try version()
        guard found >= Self.minimum else {
            throw ApusError("\(path) is criu \(found)", detail: "apus needs criu \(Self.minimum) or later")
        }
        return found
    }

    /// CHECK: whether criu works on this kernel at all (`criu check`); criu's first
    /// complaint when it does not.
    public func check() throws -> String? {
        let session = try Swrk(criu: path, quiet: true)
        defer { session.finish() }
        let response = try session.call(Request(type: .check))
        return response.success ? nil : (response.errorMessage ?? "criu check failed")
    }

    /// FEATURE_CHECK: whether criu and this kernel can track dirty memory (pre-dump,
    /// incremental dumps: soft-dirty bits, CONFIG_MEM_SOFT_DIRTY) and do lazy pages
    /// (userfaultfd). Only the features asked for are answered.
    public func features(memTrack: Bool, lazyPages: Bool) throws -> (memTrack: Bool?, lazyPages: Bool?) {
        let session = try Swrk(criu: path, quiet: true)
        defer { session.finish() }
        var request = Request(type: .featureCheck)
        request.features = (memTrack ? true : nil, lazyPages ? true : nil)
        let response = try session.call(request)
        return (response.memTrack, response.lazyPages)
    }
}

/// What criu wrote to its log before it failed: the last lines that say "Error", else
/// the last lines; empty when there is no log.
public func lastErrors(inLog path: String, count: Int = 3) -> String {
    guard let text = FileIO.readString(path) else { return "" }
    let lines = text.split(separator: "\n")
    // Seen here on every run, success included (no CAP_SYS_RESOURCE for the file limit).
    let errors = lines.filter { $0.contains(substring: "Error") && !$0.contains(substring: "RLIMIT_NOFILE") }
    let picked = errors.isEmpty ? lines.suffix(count) : errors.suffix(count)
    return picked.map { line in
        // "(00.123456) Error (criu/mount.c:123): text" → "Error (criu/mount.c:123): text".
        guard line.hasPrefix("("), let close = line.firstIndex(of: ")") else { return String(line) }
        let rest = line[line.index(after: close)...]
        return String(rest.hasPrefix(" ") ? rest.dropFirst() : rest)
    }.joined(separator: "; ")
}
