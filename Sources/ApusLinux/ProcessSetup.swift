import CApus
import Glibc
import OCI

/// The last steps before execve, each a function named after the step.
public enum ProcessSetup {
    public static func applyRlimits(_ rlimits: [Spec.Process.Rlimit]) throws(ApusError) {
        for (i, limit) in rlimits.enumerated() {
            guard let resource = rlimitResource(named: limit.type) else {
                throw ApusError(
                    "set rlimit", detail: "unknown rlimit type \"\(limit.type)\"",
                    field: ".process.rlimits[\(i)].type")
            }
            try sys(
                "set rlimit \(limit.type) to soft \(limit.soft) hard \(limit.hard)", field: ".process.rlimits[\(i)]"
            ) {
                apus_setrlimit(resource, limit.soft, limit.hard)
            }
        }
    }

    public static func setOOMScoreAdj(_ value: Int, proc: borrowing ProcFS) throws(ApusError) {
        try proc.write(
            "self/oom_score_adj", String(value),
            step: "set oom_score_adj to \(value) (config.json .process.oomScoreAdj)")
    }

    /// Resolves the executable like execvp would, against the container's PATH,
    /// so that a missing binary fails `create` rather than the container.
    public static func lookPath(_ name: String, env: [String]) throws(ApusError) -> String {
        if name.contains("/") {
            try checkExecutable(name, shown: name)
            return name
        }
        let pathVar =
            env.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
            ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in pathVar.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            var st = stat()
            if stat(candidate, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw ApusError(
            "exec: \"\(name)\"", detail: "executable file not found in $PATH", field: ".process.args[0]")
    }

    static func checkExecutable(_ path: String, shown: String) throws(ApusError) {
        var st = stat()
        if stat(path, &st) < 0 {
            throw ApusError("exec: \"\(shown)\"", errno: errno, field: ".process.args[0]")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw ApusError("exec: \"\(shown)\"", detail: "is a directory", field: ".process.args[0]")
        }
        if access(path, X_OK) < 0 {
            throw ApusError("exec: \"\(shown)\"", errno: errno, field: ".process.args[0]")
        }
    }

    /// Marks every fd from `first` up as close-on-exec, so no runtime fd reaches
    /// the container (CVE-2024-21626: a leaked directory fd let cwd escape).
    public static func closeFileDescriptors(from first: Int32) {
        // close_range(first, ~0, CLOSE_RANGE_CLOEXEC), Linux 5.11.
        if RawSyscall.closeRange(UInt32(first), .max, cloexec: true) == 0 { return }
        for name in FileIO.listDirectory("/proc/self/fd") {
            if let fd = Int32(name), fd >= first {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        }
    }

    /// Closes every fd from `first` up except `keep`. The init is a fork of the
    /// runtime, so it holds whatever the caller left open; runc's freshly
    /// exec'd init does not, and callers rely on that (e.g. a pipe whose EOF
    /// tells them `create` has exited).
    public static func closeFileDescriptors(from first: Int32, except keep: [Int32]) {
        var next = first
        for fd in keep.filter({ $0 >= first }).sorted() {
            if fd > next { _ = RawSyscall.closeRange(UInt32(next), UInt32(fd - 1)) }
            next = max(next, fd + 1)
        }
        _ = RawSyscall.closeRange(UInt32(next), UInt32.max)
    }

    /// A created container's init from the exec fifo wait to execve, in C
    /// (`apus_wait_for_start_and_exec`): everything it needs is copied to the C heap
    /// first, since the rest of init's memory is given back as the wait starts. What 50
    /// created containers hold goes from ~380 KiB each to the heap and a few pages.
    public static func waitForStartAndExec(
        fifoDir: Int32 = AT_FDCWD, fifo: String, path: String, args: [String], env: [String], filter: SeccompFilter?,
        resetSignals: UInt64,
        image: [apus_page_range]
    ) -> Never {
        func cStrings(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
            let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
            for (i, string) in strings.enumerated() { array[i] = strdup(string) }
            array[strings.count] = nil
            return array
        }
        let ranges = UnsafeMutablePointer<apus_page_range>.allocate(capacity: max(image.count, 1))
        ranges.initialize(from: image, count: image.count)
        var program: UnsafeMutablePointer<UInt8>? = nil
        if let filter {
            let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(filter.program.count, 1))
            bytes.initialize(from: filter.program, count: filter.program.count)
            program = bytes
        }
        var plan = apus_start_plan(
            fifo_dir: fifoDir, fifo: strdup(fifo), path: strdup(path), argv: cStrings(args), envp: cStrings(env),
            filter: UnsafePointer(program), filter_len: filter?.program.count ?? 0, filter_flags: filter?.flags ?? 0,
            reset_signals: resetSignals, image: UnsafePointer(ranges), image_count: image.count)
        apus_wait_for_start_and_exec(&plan)
    }

    /// execve with the config's args and env; returns only on failure.
    public static func exec(path: String, args: [String], env: [String]) -> ApusError {
        execve(path, cStrings(args), cStrings(env))
        return ApusError("exec \(path)", errno: errno, field: ".process.args")
    }

    /// A NULL-terminated C array of copies of `strings`, left to the exec (or a failing
    /// init's exit) to free. Not an array of optional pointers: its metadata would be made at
    /// run time, in init, just before the exec.
    static func cStrings(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let out = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { out[i] = strdup(s) }
        out[strings.count] = nil
        return out
    }
}

/// RLIMIT_* names and their resource numbers on Linux.
public func rlimitResource(named name: String) -> Int32? {
    switch name {
    case "RLIMIT_CPU": return 0
    case "RLIMIT_FSIZE": return 1
    case "RLIMIT_DATA": return 2
    case "RLIMIT_STACK": return 3
    case "RLIMIT_CORE": return 4
    case "RLIMIT_RSS": return 5
    case "RLIMIT_NPROC": return 6
    case "RLIMIT_NOFILE": return 7
    case "RLIMIT_MEMLOCK": return 8
    case "RLIMIT_AS": return 9
    case "RLIMIT_LOCKS": return 10
    case "RLIMIT_SIGPENDING": return 11
    case "RLIMIT_MSGQUEUE": return 12
    case "RLIMIT_NICE": return 13
    case "RLIMIT_RTPRIO": return 14
    case "RLIMIT_RTTIME": return 15
    default: return nil
    }
}
