import ApusLinux
import Glibc
import OCI

/// OCI hooks: a hook is a host program run with the container state on stdin.
public enum Hooks {
    /// The hook kinds, in the spec's order: the fields of `Spec.Hooks`, whose property
    /// names are the JSON keys, so the list cannot drift from the model.
    public static var kinds: [String] { Mirror(reflecting: Spec.Hooks()).children.compactMap(\.label) }

    /// Runs `hooks` in order and stops at the first failure, which it returns
    /// (for the hooks whose failure aborts the lifecycle: prestart, createRuntime,
    /// createContainer, startContainer).
    public static func runAll(_ hooks: [Spec.Hook]?, kind: String, state: String) -> String? {
        for (index, hook) in (hooks ?? []).enumerated() {
            if let error = run(hook, stdin: state) {
                return "\(kind) hook #\(index) (\(hook.path)): \(error) (config.json .hooks.\(kind)[\(index)])"
            }
        }
        return nil
    }

    /// The state hooks run by init itself see: the parent's "creating" state,
    /// with the status the spec gives at that point. The text is apus's own
    /// compact JSON, where a quote inside a value is always escaped, so the
    /// field cannot occur elsewhere.
    public static func state(_ creating: String, status: Status) -> String {
        creating.replacing(
            substring: "\"status\":\"creating\"", with: "\"status\":\"\(status.rawValue)\"", maxReplacements: 1)
    }

    /// Runs one hook to completion (or its timeout). Returns nil on success,
    /// else what went wrong. Uses fork+execve directly: no threads, no shell.
    public static func run(_ hook: Spec.Hook, stdin state: String) -> String? {
        var pipeFDs: [Int32] = [-1, -1]
        if ProcessControl.pipe(&pipeFDs) < 0 { return "create stdin pipe: \(errorString(errno))" }
        let reader = OwnedFD(adopting: pipeFDs[0])
        let writer = OwnedFD(adopting: pipeFDs[1])
        let args = (hook.args?.isEmpty == false ? hook.args ?? [] : [hook.path])
        let env = hook.env ?? []
        var cArgs = args.map { strdup($0) }
        cArgs.append(nil)
        var cEnv = env.map { strdup($0) }
        cEnv.append(nil)
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        let pid = fork()
        if pid == 0 {
            dup2(reader.raw, 0)
            ProcessControl.resetSignals()
            execve(hook.path, &cArgs, &cEnv)
            _exit(127)
        }
        reader.close()
        if pid < 0 { return "fork: \(errorString(errno))" }
        try? FileIO.writeAll(fd: writer.raw, state, step: "hook stdin")
        writer.close()
        let pidfd = OwnedFD.opening { RawSyscall.pidfdOpen(pid) }
        if let timeout = hook.timeout, timeout > 0, let pidfd = pidfd.rawOrNil {
            var fds = [pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)]
            let ready = retryingEINTR { poll(&fds, 1, Int32(clamping: timeout * 1000)) }
            if ready == 0 {
                Glibc.kill(pid, SIGKILL)
                _ = retryingEINTR { waitpid(pid, nil, 0) }
                return "timed out after \(timeout) s"
            }
        }
        var status: Int32 = 0
        if retryingEINTR({ waitpid(pid, &status, 0) }) < 0 { return "wait: \(errorString(errno))" }
        if status == 0 { return nil }
        if status & 0x7f == 0 && (status >> 8) & 0xff == 127 {
            return "exec \(hook.path) failed or exit status 127"
        }
        return describe(waitStatus: status)
    }
}
