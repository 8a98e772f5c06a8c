import CApus
import Glibc

/// procfs as init and exec write it (sysctls, oom_score_adj, LSM exec labels, time
/// offsets): through a handle on procfs taken before any container mount or namespace
/// join, never through /proc paths of the container's mount tree (CVE-2025-52881). A
/// config or image mount over /proc/sys/... or /proc/self/attr/... would otherwise
/// redirect the write to another file, e.g. /proc/sysrq-trigger or a host file.
public struct ProcFS: ~Copyable {
    private let handle: OwnedFD
    public var fd: Int32 { handle.raw }

    static let superMagic = 0x9fa0
    static let resolveNoXdev: UInt64 = 0x01
    static let resolveNoMagiclinks: UInt64 = 0x02
    static let resolveBeneath: UInt64 = 0x08

    public init() throws(ApusError) {
        let handle = try OwnedFD.open("open /proc") { open("/proc", APUS_O_PATH | O_DIRECTORY | O_CLOEXEC) }
        guard apus_fs_type(handle.raw) == Self.superMagic else {
            throw ApusError("open /proc", detail: "/proc is not a procfs mount")
        }
        self.handle = handle
    }

    /// Writes `value` to `relative` (e.g. "sys/net/ipv4/ip_forward", "self/attr/exec"):
    /// resolved beneath the handle, within the one procfs mount, no magic links, and the
    /// opened file checked to be procfs.
    public func write(_ relative: String, _ value: String, step: @autoclosure () -> String) throws(ApusError) {
        let file = try OwnedFD.open(step()) {
            apus_openat2(
                fd, relative, UInt64(O_WRONLY | O_NOFOLLOW | O_CLOEXEC), 0,
                Self.resolveBeneath | Self.resolveNoXdev | Self.resolveNoMagiclinks)
        }
        guard apus_fs_type(file.raw) == Self.superMagic else {
            throw ApusError(step(), detail: "/proc/\(relative) is not a procfs file")
        }
        let bytes = Array(value.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(file.raw, $0.baseAddress, $0.count) }
        if written < 0 { throw ApusError(step(), errno: errno) }
        if written != bytes.count { throw ApusError(step(), detail: "short write") }
    }

    /// SigIgn of this thread (bit sig-1 set for an ignored signal), read through the
    /// handle; nil when it cannot be read. The runtime ignores SIGPIPE and inherits whatever
    /// its caller ignored (nohup, a shell's background job): those are the dispositions
    /// execve keeps, so they are all a container process must have reset (one open and
    /// read here instead of a sigaction per signal).
    public func ignoredSignals() -> UInt64? {
        guard let file = openForReading("thread-self/status"),
            let bytes = FileIO.readAll(fd: file.raw, wholeRecord: true),
            let value = Self.statusField("SigIgn", in: String(decoding: bytes, as: UTF8.self))
        else { return nil }
        return UInt64(value, radix: 16)
    }

    /// `relative` (e.g. "thread-self/pagemap") opened read-only beneath the handle; nil with
    /// errno on failure.
    public func openForReading(_ relative: String) -> OwnedFD? { Self.openForReading(relative, beneath: fd) }

    /// `openForReading` beneath a raw procfs handle (`fd` of a `ProcFS` that outlives the call).
    public static func openForReading(_ relative: String, beneath procFD: Int32) -> OwnedFD? {
        OwnedFD.opening {
            apus_openat2(procFD, relative, UInt64(O_RDONLY | O_CLOEXEC), 0, resolveBeneath | resolveNoXdev)
        }
    }

    /// The value of field `name` ("Threads", "SigIgn", "NSpid") in the text of a
    /// /proc/PID/status file, without the tab after the colon.
    /// A byte scan: splitting the ~1.5 KiB text into lines took 50 µs of init's start.
    public static func statusField(_ name: String, in status: String) -> Substring? {
        let key = Array((name + ":").utf8)
        let bytes = Array(status.utf8)
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            if end - start >= key.count && bytes[start..<start + key.count].elementsEqual(key) {
                var value = start + key.count
                while value < end && (bytes[value] == UInt8(ascii: "\t") || bytes[value] == UInt8(ascii: " ")) {
                    value += 1
                }
                return Substring(String(decoding: bytes[value..<end], as: UTF8.self))
            }
            start = end + 1
        }
        return nil
    }

    /// Whether `relative` exists (e.g. the per-LSM attr directory of Linux 5.8+).
    public func exists(_ relative: String) -> Bool {
        faccessat(fd, relative, F_OK, 0) == 0
    }
}
