import Foundation
import OCI
import Testing

/// Integration tests run real containers with the built binary. They need root
/// and the binary (APUS_BIN, set by `make test`; else .build/release/apus or
/// .build/debug/apus). When either is missing the suites are skipped with the
/// reason (`.integration`), which the run's summary lists — never passed silently.
enum Env {
    static let repo: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    static let apus: String? = {
        if let bin = ProcessInfo.processInfo.environment["APUS_BIN"], FileManager.default.isExecutableFile(atPath: bin)
        {
            return bin
        }
        for candidate in [".build/release/apus", ".build/debug/apus"] {
            let path = repo.appendingPathComponent(candidate).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }()

    static let isRoot = getuid() == 0

    /// The reference runtime of every parity test: runc 1.5.1 (OCI spec 1.3), from
    /// `../shared/tools/runc` beside the repository or `APUS_RUNC`. Debian's runc 1.1.5 is
    /// from 2023 and misses three years of fixes, so it is never used in its place.
    static let runc: String? = {
        let shared = repo.deletingLastPathComponent().appendingPathComponent("shared/tools/runc").path
        let candidates: [String] = [ProcessInfo.processInfo.environment["APUS_RUNC"], shared].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// runc 1.5.1, or the test is cancelled (reported as skipped, with the reason).
    static func requireRunc() throws -> String {
        guard let runc else {
            try Test.cancel("runc 1.5.1 is not at ../shared/tools/runc beside the repository (or set APUS_RUNC)")
        }
        return runc
    }

    /// nil when integration tests can run; otherwise why not.
    static let skipReason: String? = {
        if !isRoot { return "integration tests need root (run `sudo make test`)" }
        if apus == nil { return "no apus binary: run `make build` or set APUS_BIN" }
        if !FileManager.default.isExecutableFile(atPath: "/bin/busybox") {
            return "busybox-static is not installed (apt-get install busybox-static)"
        }
        return nil
    }()

    /// A state root of the test run's own, so tests never see other containers.
    static let stateRoot: String = {
        let path = NSTemporaryDirectory() + "apus-it-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // Removed when the test process exits (each test deletes its containers).
        atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "apus-it-\(getpid())") }
        return path
    }()
}

extension Trait where Self == ConditionTrait {
    /// Integration suites run only where `Env.skipReason` is nil; elsewhere they show as
    /// skipped with that reason.
    static var integration: Self {
        .enabled(if: Env.skipReason == nil, Comment(rawValue: Env.skipReason ?? ""))
    }
}

struct Output {
    var status: Int32
    var stdout: String
    var stderr: String
    var all: String { stdout + stderr }
}

/// Runs a command to completion and captures its output. Output goes to temp
/// files, not pipes: a container started by `create` or `run -d` inherits the
/// runtime's stdio and may hold it open long after the command returns.
@discardableResult
func sh(
    _ executable: String, _ args: [String], stdin: String? = nil, environment: [String: String]? = nil,
    timeout: TimeInterval = 60
)
    throws -> Output
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = args
    if let environment { process.environment = environment }
    let base = NSTemporaryDirectory() + "apus-out-\(UInt32.random(in: 0..<UInt32.max))"
    FileManager.default.createFile(atPath: base + ".out", contents: nil)
    FileManager.default.createFile(atPath: base + ".err", contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
    }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try process.run()
    try? out.close()
    try? err.close()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try? input.fileHandleForWriting.close()
    }
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(2000) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
    }
    process.waitUntilExit()
    return Output(
        status: process.terminationStatus,
        stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
}

/// `apus --root <test root> ARGS…`
@discardableResult
func apus(_ args: String..., stdin: String? = nil, root: String = Env.stateRoot, timeout: TimeInterval = 60) throws
    -> Output
{
    try sh(Env.apus ?? "/nonexistent", ["--root", root] + args, stdin: stdin, timeout: timeout)
}

func apusArgs(_ args: [String], root: String = Env.stateRoot, timeout: TimeInterval = 60) throws -> Output {
    try sh(Env.apus ?? "/nonexistent", ["--root", root] + args, timeout: timeout)
}

/// Starts `apus --root <test root> ARGS…` in the background, waits until the
/// container prints "ready", sends SIGTERM to apus itself and returns apus's
/// exit status: what a foreground `run` or `exec` does with a signal it gets.
func terminateAfterReady(_ args: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Env.apus ?? "")
    process.arguments = ["--root", Env.stateRoot] + args
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let line = readOutput(out.fileHandleForReading, until: "ready")
    #expect(line.contains("ready"), "\(line)")
    kill(process.processIdentifier, SIGTERM)
    process.waitUntilExit()
    return process.terminationStatus
}

/// Reads `handle` until what it has read contains `text`, the writer closes it, or
/// `seconds` pass (a bound on waiting, never a timing assertion); returns what it read.
/// One read is not enough: a pipe may deliver a line in pieces.
/// A console-socket receiver, a recvtty stand-in in python3: accepts one connection, takes
/// the pty master it is sent and copies the pty's output to its stdout until the pty closes;
/// with `withMessage`, the SCM_RIGHTS message (the fd's name) and a newline come first.
/// Returns once it listens on `socket`.
func startPtyReceiver(socket: String, withMessage: Bool = false) throws -> (process: Process, output: Pipe) {
    let receiver = Process()
    receiver.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    receiver.arguments = [
        "-c",
        """
        import socket, os, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1)
        print("listening", flush=True)
        c, _ = s.accept()
        msg, fds, _, _ = socket.recv_fds(c, 1024, 1)
        out = b""
        while True:
            try:
                d = os.read(fds[0], 4096)
            except OSError:
                break
            if not d: break
            out += d
        head = msg.decode(errors="replace") + "\\n" if sys.argv[2] == "1" else ""
        sys.stdout.write(head + out.decode(errors="replace"))
        """, socket, withMessage ? "1" : "0",
    ]
    let pipe = Pipe()
    receiver.standardOutput = pipe
    try receiver.run()
    let listening = readOutput(pipe.fileHandleForReading, until: "listening\n")
    guard listening == "listening\n" else {
        if receiver.isRunning { kill(receiver.processIdentifier, SIGKILL) }
        throw TestFailure("console-socket receiver: \(listening)")
    }
    return (receiver, pipe)
}

func readOutput(_ handle: FileHandle, until text: String, seconds: Double = 30) -> String {
    let deadline = Date().addingTimeInterval(seconds)
    var data = Data()
    while !String(decoding: data, as: UTF8.self).contains(text) {
        let left = deadline.timeIntervalSinceNow
        guard left > 0 else { break }
        var pfd = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, Int32(min(left, 1) * 1000) + 1)
        if ready < 0 && errno == EINTR { continue }
        if ready < 0 { break }
        if ready == 0 { continue }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(handle.fileDescriptor, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        data.append(contentsOf: buffer[..<n])
    }
    return String(decoding: data, as: UTF8.self)
}

/// A unique container id for this test run.
func uniqueID(_ prefix: String = "it") -> String {
    "\(prefix)-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
}

/// A busybox bundle in a temp dir, with config.json from `apus spec` edited by
/// the test. Removed (rootfs included) at deinit.
final class TestBundle: @unchecked Sendable {
    let path: String
    var rootfs: String { path + "/rootfs" }
    var spec: Spec

    init(_ edit: (inout Spec) -> Void = { _ in }) throws {
        path = NSTemporaryDirectory() + "apus-bundle-\(UInt32.random(in: 0..<UInt32.max))"
        let made = try sh("/bin/bash", [Env.repo.appendingPathComponent("spec-fixtures/make-bundle.sh").path, path])
        guard made.status == 0 else { throw TestFailure("make-bundle.sh failed: \(made.all)") }
        let specOut = try sh(Env.apus ?? "/nonexistent", ["spec", "--bundle", path])
        guard specOut.status == 0 else { throw TestFailure("apus spec failed: \(specOut.all)") }
        spec = try Spec.decode(Data(contentsOf: URL(fileURLWithPath: path + "/config.json")))
        spec.process?.terminal = false
        edit(&spec)
        try save()
    }

    /// Sets the command and saves.
    func command(_ args: String...) throws {
        spec.process?.args = args
        try save()
    }

    func save() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted]
        try encoder.encode(spec).write(to: URL(fileURLWithPath: path + "/config.json"))
    }

    func writeRawConfig(_ text: String) throws {
        try text.write(toFile: path + "/config.json", atomically: true, encoding: .utf8)
    }

    deinit {
        // Never follow into mounts: the bundle has none (container mounts live
        // in the container's mount namespace).
        try? FileManager.default.removeItem(atPath: path)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What a container could leave behind on the host: state dirs, mounts that
/// mention a path, cgroup dirs named after an id, processes.
struct HostSnapshot: Equatable {
    var stateEntries: [String]
    var mounts: [String]
    var cgroups: [String]

    static func take(root: String = Env.stateRoot, mentioning needle: String) -> HostSnapshot {
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter {
            $0.contains(needle)
        }.sorted()
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let mounts = mountinfo.split(separator: "\n").map(String.init).filter { $0.contains(needle) }
        var cgroups: [String] = []
        if let controllers = try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup") {
            for controller in controllers {
                let base = "/sys/fs/cgroup/" + controller
                if let found = findDirectories(named: needle, under: base, depth: 4) { cgroups += found }
            }
        }
        return HostSnapshot(stateEntries: entries, mounts: mounts, cgroups: cgroups.sorted())
    }

    static func findDirectories(named needle: String, under base: String, depth: Int) -> [String]? {
        guard depth > 0, let children = try? FileManager.default.contentsOfDirectory(atPath: base) else { return nil }
        var found: [String] = []
        for child in children {
            let path = base + "/" + child
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { continue }
            if child.contains(needle) { found.append(path) }
            found += findDirectories(named: needle, under: path, depth: depth - 1) ?? []
        }
        return found
    }
}

/// Processes whose command line mentions `needle` (our unique ids / bundle paths).
func processes(mentioning needle: String) -> [Int32] {
    guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    var found: [Int32] = []
    for name in pids {
        guard let pid = Int32(name), pid != getpid() else { continue }
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
        let text = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        if text.contains(needle) { found.append(pid) }
    }
    return found
}

/// Starts every `apus --root <test root> ARGS…` at once (all processes exist before the
/// first is waited for, unlike a thread pool of 2 on 2 cores) and returns their outputs in
/// order. stdin is /dev/null; output goes to temp files, as in `sh`.
func apusAllAtOnce(_ argvs: [[String]], timeout: TimeInterval = 120) throws -> [Output] {
    let base = NSTemporaryDirectory() + "apus-par-\(UInt32.random(in: 0..<UInt32.max))"
    var processes: [Process] = []
    defer {
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for i in argvs.indices {
            try? FileManager.default.removeItem(atPath: "\(base)-\(i).out")
            try? FileManager.default.removeItem(atPath: "\(base)-\(i).err")
        }
    }
    for (i, args) in argvs.enumerated() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Env.apus ?? "/nonexistent")
        process.arguments = ["--root", Env.stateRoot] + args
        FileManager.default.createFile(atPath: "\(base)-\(i).out", contents: nil)
        FileManager.default.createFile(atPath: "\(base)-\(i).err", contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(base)-\(i).out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(base)-\(i).err"))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? out.close()
        try? err.close()
        processes.append(process)
    }
    let deadline = Date().addingTimeInterval(timeout)
    var outputs: [Output] = []
    for (i, process) in processes.enumerated() {
        while process.isRunning && Date() < deadline { usleep(2000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        outputs.append(
            Output(
                status: process.terminationStatus,
                stdout: (try? String(contentsOfFile: "\(base)-\(i).out", encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOfFile: "\(base)-\(i).err", encoding: .utf8)) ?? ""))
    }
    return outputs
}

/// The syscalls of the new mount API that apus falls back from when they fail with ENOSYS:
/// open_tree, fsopen and mount_setattr (one number on every architecture since Linux 5.1).
let newMountAPISyscalls = [428, 430, 442]

/// `apus --root <test root> ARGS…` under a seccomp filter that fails `syscalls` with ENOSYS,
/// as on a kernel without them (python3, a test dependency, loads the filter and execs apus).
func apusWithout(syscalls: [Int], _ args: [String], root: String = Env.stateRoot) throws -> Output {
    let loader = """
        import ctypes, os, struct, sys
        deny = [int(n) for n in sys.argv[1].split(",")]
        # BPF: load the syscall number; ENOSYS for the denied ones, allow the rest.
        prog = [struct.pack("HBBI", 0x20, 0, 0, 0)]
        prog += [struct.pack("HBBI", 0x15, len(deny) - i, 0, n) for i, n in enumerate(deny)]
        prog += [struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000), struct.pack("HBBI", 0x06, 0, 0, 0x50000 | 38)]
        code = ctypes.create_string_buffer(b"".join(prog))
        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        fprog = Prog(len(prog), ctypes.addressof(code))
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
            sys.exit("seccomp: errno %d" % ctypes.get_errno())
        os.execv(sys.argv[2], sys.argv[2:])
        """
    let deny = syscalls.map(String.init).joined(separator: ",")
    return try sh("/usr/bin/python3", ["-c", loader, deny, Env.apus ?? "/nonexistent", "--root", root] + args)
}

/// A rootfs directory with a file, a subdirectory with a setuid file owned by 1000, and
/// symlinks to /etc/passwd and ../../.. ; `tmpcopyup` mounts at /copy. Removed with the bundle.
/// The container and runc-parity tests use it.
func copyUpBundle(
    options: [String], modes: (dir: mode_t, sub: mode_t, inner: mode_t) = (0o1770, 0o750, 0o4755)
) throws -> TestBundle {
    let bundle = try TestBundle {
        $0.mounts?.append(.init(destination: "/copy", type: "tmpfs", source: "tmpfs", options: options))
    }
    let dir = bundle.rootfs + "/copy"
    try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
    try "top\n".write(toFile: dir + "/file", atomically: false, encoding: .utf8)
    try "inner\n".write(toFile: dir + "/sub/inner", atomically: false, encoding: .utf8)
    try FileManager.default.createSymbolicLink(atPath: dir + "/passwd-link", withDestinationPath: "/etc/passwd")
    try FileManager.default.createSymbolicLink(atPath: dir + "/up-link", withDestinationPath: "../../..")
    chown(dir + "/sub/inner", 1000, 1000)
    chmod(dir + "/file", 0o640)
    chmod(dir + "/sub/inner", modes.inner)
    chmod(dir + "/sub", modes.sub)
    chmod(dir, modes.dir)
    return bundle
}
