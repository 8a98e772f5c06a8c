import Glibc

/// newuidmap and newgidmap, shadow's setuid helpers: the kernel lets a writer without
/// CAP_SETUID over the parent user namespace map only its own id, so a user who is not root
/// maps more (its /etc/subuid and /etc/subgid ranges) through them, as runc does.
public enum IDMapHelper {
    /// The helper on PATH (runc looks it up the same way); nil when uidmap is not installed.
    public static func find(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where dir.hasPrefix("/") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Runs `helper PID CONTAINER-ID HOST-ID SIZE…` and waits for it; what it says on
    /// stderr becomes the error's detail. posix_spawn starts no thread (vfork semantics).
    public static func run(
        _ helper: String, pid: Int32, mappings: [(containerID: UInt32, hostID: UInt32, size: UInt32)],
        step: String, field: String
    ) throws(ApusError) {
        var arguments = [String(pid)]
        for map in mappings { arguments += [String(map.containerID), String(map.hostID), String(map.size)] }
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&errPipe) == 0 else { throw ApusError(step, errno: errno, field: field) }
        let reader = OwnedFD(adopting: errPipe[0])
        _ = fcntl(reader.raw, F_SETFD, FD_CLOEXEC)

        let writer = OwnedFD(adopting: errPipe[1])
        let (child, spawned) = HelperSpawn.spawn(
            helper, arguments: arguments,
            steps: [
                .open(fd: 0, path: "/dev/null", flags: O_RDONLY), .open(fd: 1, path: "/dev/null", flags: O_WRONLY),
                .dup2(from: writer.raw, to: 2), .close(writer.raw),
            ])
        writer.close()
        guard spawned == 0 else { throw ApusError(step, object: helper, errno: spawned, field: field) }

        var said: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while said.count < 4096 {
            let n = retryingEINTR { read(reader.raw, &buffer, buffer.count) }
            if n <= 0 { break }
            said += buffer[..<n]
        }
        var status: Int32 = 0
        if retryingEINTR({ waitpid(child, &status, 0) }) < 0 {
            throw ApusError(step, object: helper, errno: errno, field: field)
        }
        guard status != 0 else { return }
        let text = String(decoding: said, as: UTF8.self).split(separator: "\n").joined(separator: "; ")
        let how = status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "killed by signal \(status & 0x7f)"
        throw ApusError(step, object: helper, detail: text.isEmpty ? how : "\(how): \(text)", field: field)
    }
}
