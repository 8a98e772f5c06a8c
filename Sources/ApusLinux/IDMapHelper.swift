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
        var argv = [helper, String(pid)]
        for map in mappings { argv += [String(map.containerID), String(map.hostID), String(map.size)] }
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&errPipe) == 0 else { throw ApusError(step, errno: errno, field: field) }
        defer { close(errPipe[0]) }
        _ = fcntl(errPipe[0], F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        posix_spawn_file_actions_addclose(&actions, errPipe[1])
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, helper, &actions, &attributes, cArgs, environ)
        close(errPipe[1])
        guard spawned == 0 else { throw ApusError(step, object: helper, errno: spawned, field: field) }

        var said: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while said.count < 4096 {
            let n = retryingEINTR { read(errPipe[0], &buffer, buffer.count) }
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
