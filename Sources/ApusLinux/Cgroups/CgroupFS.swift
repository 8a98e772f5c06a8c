import CApus
import Glibc

/// The few file operations the cgroup code needs, each one syscall-thin: cgroupfs files
/// are written with a single write(2) and read whole with one or two read(2)s.
enum CgroupFS {
    /// O_PATH, which Swift's Glibc module (built without _GNU_SOURCE) does not export.
    static let openPath: Int32 = 0o10_000_000

    /// Writes `value` to an existing file. Returns 0 or the errno of open/write.
    static func write(_ path: String, _ value: String) -> Int32 {
        guard let fd = OwnedFD.opening({ open(path, O_WRONLY | O_CLOEXEC) }) else { return errno }
        return write(fd: fd.raw, value)
    }

    static func write(fd: Int32, _ value: String) -> Int32 {
        var value = value
        return value.withUTF8 { buffer -> Int32 in
            // cgroupfs consumes a whole write(2) as one command: a short write
            // would split the command, so it is an error, not a reason to loop.
            let n = retryingEINTR { Glibc.write(fd, buffer.baseAddress, buffer.count) }
            if n < 0 { return errno }
            return n == buffer.count ? 0 : EIO
        }
    }

    /// Reads a whole small file; nil with errno set when it cannot be read.
    static func read(_ path: String) -> String? {
        FileIO.readString(path)
    }

    /// The first line of a single-value file (cpuset.cpus, pids.current…) without its
    /// newline: one read(2), these files are far below a page.
    static func readLine(_ path: String) -> String? {
        guard let fd = OwnedFD.opening({ open(path, O_RDONLY | O_CLOEXEC) }) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { raw in retryingEINTR { Glibc.read(fd.raw, raw.baseAddress, raw.count) }
        }
        if n < 0 { return nil }
        let bytes = buffer[0..<n]
        let line = bytes.firstIndex(of: UInt8(ascii: "\n")).map { bytes[..<$0] } ?? bytes
        return String(decoding: line, as: UTF8.self)
    }

    /// Writes with the file kept open between consecutive writes to the same path (the
    /// devices.allow lines, io.max entries, ifpriomap entries…): cgroupfs takes each
    /// write(2) as one command, so one open serves them all.
    struct Writer: ~Copyable {
        private var path = ""
        private var fd: OwnedFD?

        init() {}

        mutating func write(_ path: String, _ value: String) -> Int32 {
            if path != self.path || fd == nil {
                close()
                fd = OwnedFD.opening { open(path, O_WRONLY | O_CLOEXEC) }
                if fd == nil { return errno }
                self.path = path
            }
            return CgroupFS.write(fd: fd.raw, value)
        }

        mutating func close() {
            fd = nil
            path = ""
        }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Names of the subdirectories of `path` (child cgroups).
    static func subdirectories(_ path: String) -> [String] {
        FileIO.listDirectory(path, directoriesOnly: true)
    }

    static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        // EINTR: sleep what is left.
        _ = retryingEINTR {
            defer { request = remaining }
            return nanosleep(&request, &remaining)
        }
    }
}

extension String {
    /// The parent directory of an absolute path ("/" stays "/").
    var cgroupParent: String {
        guard let slash = lastIndex(of: "/"), slash != startIndex else { return "/" }
        return String(self[..<slash])
    }
}
