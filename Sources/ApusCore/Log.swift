import ApusLinux
import Glibc
import OCI

/// Runtime logging as runc does it: human text on stderr for errors, and with
/// `--log FILE` every message also goes to FILE, as text or one JSON object per
/// line (`{"level":"error","msg":"...","time":"..."}`) for containerd/podman.
public struct Logger: Sendable {
    public enum Format: String, Sendable { case text, json }
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String {
            switch self {
            case .debug: return "debug"
            case .info: return "info"
            case .warning: return "warning"
            case .error: return "error"
            }
        }
    }

    public var fileDescriptor: Int32 = -1
    public var format: Format = .text
    public var minimum: Level = .info

    public init() {}

    public init(path: String?, format: Format, debug: Bool) {
        self.format = format
        self.minimum = debug ? .debug : .info
        if let path, !path.isEmpty {
            fileDescriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        }
    }

    public func debug(_ message: @autoclosure () -> String) {
        if minimum <= .debug { emit(.debug, message()) }
    }

    public func warn(_ message: String) {
        emit(.warning, message)
        if fileDescriptor < 0 { printError("apus: warning: " + message) }
    }

    /// An error always reaches stderr; with --log it is also logged.
    public func error(_ message: String) {
        emit(.error, message)
        printError("apus: " + message)
    }

    func emit(_ level: Level, _ message: String) {
        guard fileDescriptor >= 0, level >= minimum else { return }
        let line: String
        switch format {
        case .json:
            let record: JSONNode = .object([
                ("level", .string(level.name)), ("msg", .string(message)), ("time", .string(Timestamp.now().rfc3339)),
            ])
            line = record.compactText + "\n"
        case .text:
            line = "time=\"\(Timestamp.now().rfc3339)\" level=\(level.name) msg=\(jsonString(message))\n"
        }
        try? FileIO.writeAll(fd: fileDescriptor, line, step: "log")
    }
}

public func printError(_ text: String) {
    try? FileIO.writeAll(fd: 2, text + "\n", step: "stderr")
}

public func printOut(_ text: String) {
    try? FileIO.writeAll(fd: 1, text, step: "stdout")
}

/// SIGPIPE ignored in the runtime, so that a closed stdout or a peer gone mid-write
/// fails the write and cleanup still runs.
public func ignoreBrokenPipe() {
    ProcessControl.ignoreBrokenPipe()
}

/// JSON string literal, escaped as runc's Go encoder does.
public func jsonString(_ text: String) -> String { jsonQuoted(text) }

/// Wall-clock time formatted as RFC 3339 with nanoseconds in UTC, as runc prints it.
public struct Timestamp: Sendable {
    public var seconds: Int
    public var nanoseconds: Int

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(seconds: ts.tv_sec, nanoseconds: ts.tv_nsec)
    }

    public var rfc3339: String {
        let parts = Self.utc(seconds)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var text = "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2))"
        text += "T\(pad(parts.hour, 2)):\(pad(parts.minute, 2)):\(pad(parts.second, 2))"
        if nanoseconds > 0 {
            var frac = pad(nanoseconds, 9)
            while frac.hasSuffix("0") { frac.removeLast() }
            text += "." + frac
        }
        return text + "Z"
    }

    /// The UTC calendar fields of `seconds` since the epoch, by arithmetic on days counted
    /// in 400-year eras of March-based years (so February's leap day ends a year). glibc's
    /// gmtime_r loads the local time zone on its first call although UTC needs none: an
    /// open, read and parse of /etc/localtime on every create. TimestampTests checks it
    /// against gmtime_r.
    static func utc(_ seconds: Int) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let secondsPerDay = 86_400
        var days = seconds / secondsPerDay
        var rest = seconds % secondsPerDay
        if rest < 0 {
            rest += secondsPerDay
            days -= 1
        }
        // Days since 0000-03-01, split into 146,097-day eras of 400 years.
        let fromMarch = days + 719_468
        let era = (fromMarch >= 0 ? fromMarch : fromMarch - 146_096) / 146_097
        let dayOfEra = fromMarch - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, rest / 3_600, rest % 3_600 / 60, rest % 60)
    }
}
