import CApus
import Glibc

/// Small, allocation-light file helpers. FoundationEssentials' FileManager does
/// more syscalls than the start path can afford.
public enum FileIO {
    /// Reads a whole (small) file. Returns nil when it cannot be opened.
    public static func read(_ path: String, at dirfd: Int32 = AT_FDCWD, wholeRecord: Bool = false) -> [UInt8]? {
        guard let fd = OwnedFD.opening({ openat(dirfd, path, O_RDONLY | O_CLOEXEC) }) else { return nil }
        return readAll(fd: fd.raw, wholeRecord: wholeRecord)
    }

    /// The file's bytes to its end. `wholeRecord`: a /proc file the kernel writes in one
    /// piece before the first read returns (the one-record files of /proc/PID: stat,
    /// status), where a read shorter than asked is the end: one read instead of two.
    public static func readAll(fd: Int32, wholeRecord: Bool = false) -> [UInt8]? {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = retryingEINTR { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n < 0 { return nil }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
            if wholeRecord && n < chunk.count { return out }
        }
    }

    /// The target of the symlink `path` (for /proc/PID/exe, the executable's path).
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let length = readlink(path, &buffer, 4096)
        guard length > 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func readString(_ path: String, at dirfd: Int32 = AT_FDCWD) -> String? {
        guard let bytes = read(path, at: dirfd) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The non-empty lines of `text`. Split on its UTF-8 bytes: String's Character-wise
    /// `split` walks grapheme clusters and costs about ten times as much, which the start
    /// path pays on /proc/self/mountinfo and /etc/passwd.
    public static func lines(_ text: String) -> [Substring] {
        text.utf8.split(separator: UInt8(ascii: "\n")).map { Substring($0) }
    }

    /// `line` split at every ASCII `separator`, byte-wise as `lines`; empty fields kept
    /// unless `omittingEmpty`.
    public static func fields(_ line: Substring, separator: Unicode.Scalar, omittingEmpty: Bool = false) -> [Substring]
    {
        line.utf8.split(separator: UInt8(ascii: separator), omittingEmptySubsequences: omittingEmpty).map {
            Substring($0)
        }
    }

    /// The fields of the entry of `uid` in /etc/passwd (name, password, uid, gid, gecos,
    /// home, shell), nil when it has none. Static glibc cannot use NSS.
    public static func passwdEntry(uid: UInt32) -> [Substring]? {
        guard let text = readString("/etc/passwd") else { return nil }
        for line in lines(text) {
            let fields = fields(line, separator: ":")
            if fields.count > 2, UInt32(fields[2]) == uid { return fields }
        }
        return nil
    }

    /// Writes `data` to an existing file (no create, no truncate: for /proc and /sys files).
    public static func write(_ path: String, _ text: String, step: @autoclosure () -> String) throws(ApusError) {
        let fd = try OwnedFD.open(step()) { open(path, O_WRONLY | O_CLOEXEC) }
        try writeAll(fd: fd.raw, text, step: step())
    }

    public static func writeAll(fd: Int32, _ text: String, step: @autoclosure () -> String) throws(ApusError) {
        try writeAll(fd: fd, bytes: Array(text.utf8), step: step())
    }

    /// `bytes` written whole; at `offset` with pwrite (the file offset stays where it was).
    public static func writeAll(fd: Int32, bytes: [UInt8], offset start: Int? = nil, step: @autoclosure () -> String)
        throws(ApusError)
    {
        let result: Int32 = bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = retryingEINTR {
                    let from = buf.baseAddress.map { $0 + offset }
                    if let start { return pwrite(fd, from, buf.count - offset, off_t(start + offset)) }
                    return Glibc.write(fd, from, buf.count - offset)
                }
                if n < 0 { return errno }
                offset += n
            }
            return 0
        }
        if result != 0 { throw ApusError(step(), errno: result) }
    }

    /// Atomically replaces `path` with `bytes` (write a temp file in the same
    /// directory, then rename), so readers never see a torn file.
    public static func writeAtomically(_ path: String, bytes: [UInt8], mode: mode_t = 0o644) throws(ApusError) {
        let tmp = path + ".tmp-\(getpid())"
        let fd = try OwnedFD.open("write \(path)") { open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        do {
            try writeAll(fd: fd.raw, bytes: bytes, step: "write \(path)")
        } catch {
            fd.close()
            unlink(tmp)
            throw error
        }
        fd.close()
        if rename(tmp, path) < 0 {
            let code = errno
            unlink(tmp)
            throw ApusError("write \(path)", errno: code)
        }
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// `mkdir -p`; returns the directories it created, outermost first.
    @discardableResult
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(ApusError) -> [String] {
        var created: [String] = []
        var current = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            if mkdir(current, mode) == 0 {
                created.append(current)
            } else if errno != EEXIST {
                throw ApusError("create directory \(current)", errno: errno)
            }
        }
        return created
    }

    /// Removes a directory tree (state dirs only: small, no mounts inside).
    public static func removeTree(_ path: String) {
        if unlink(path) == 0 || errno == ENOENT { return }
        guard let dir = opendir(path) else { return }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw.bindMemory(to: CChar.self).baseAddress.map { String(cString: $0) } ?? ""
            }
            if name == "." || name == ".." { continue }
            removeTree(path + "/" + name)
        }
        closedir(dir)
        rmdir(path)
    }

    /// The names in directory `path` (subdirectories only with `directoriesOnly`), without
    /// `.` and `..`; empty when it cannot be read.
    public static func listDirectory(_ path: String, directoriesOnly: Bool = false) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            if directoriesOnly && entry.pointee.d_type != UInt8(DT_DIR) { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                guard let base = raw.bindMemory(to: CChar.self).baseAddress else { return "" }
                return String(cString: base)
            }
            if name == "." || name == ".." || name.isEmpty { continue }
            names.append(name)
        }
        return names
    }
}

extension String {
    /// Without leading and trailing ASCII whitespace (FoundationEssentials has no
    /// `trimmingCharacters`).
    public var trimmed: String {
        let utf8 = self.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D }
        while start < end, isSpace(utf8[start]) { start = utf8.index(after: start) }
        while end > start, isSpace(utf8[utf8.index(before: end)]) { end = utf8.index(before: end) }
        return String(self[start..<end])
    }
}
