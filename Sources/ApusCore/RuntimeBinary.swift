import ApusLinux
import Glibc

/// CVE-2019-5736 for containers whose processes may hold CAP_SYS_PTRACE. PR_SET_DUMPABLE 0
/// hides /proc/PID/exe of an apus process inside a container (init until start, every exec
/// until execve) from everything but CAP_SYS_PTRACE, which overrides it: such a process can
/// open the host binary and write it once no apus runs. For those containers apus
/// re-executes from a sealed memfd copy of itself (runc 1.1's defence), unless its binary
/// is already sealed or on a read-only mount. The same holds for a pid namespace shared
/// with other containers (a pod), whose processes may have CAP_SYS_PTRACE, and for one a
/// process with CAP_SYS_PTRACE entered after create (`admitPtrace`). Other containers pay
/// nothing. None of this keys on the runtime's euid: as uid 0 of a user namespace
/// (rootless podman) a root-owned /usr/local/bin/apus is not writable from there, but a
/// user's own build of apus is, so the same rules hold for every runtime identity.
enum RuntimeBinary {
    static func protect(bounding: [String]?..., sharedPidNamespace: Bool) throws {
        let ptrace = bounding.contains { allowsPtrace($0) }
        guard ptrace || sharedPidNamespace, !ownBinaryIsProtected() else { return }
        // The sealed copy can no longer tell which file it was copied from; `admitPtrace`
        // needs that to recognise other apus processes.
        if let host = FileIdentity(path: "/proc/self/exe") {
            setenv(identityVariable, "\(host.device):\(host.inode)", 1)
        }
        _ = ProcessControl.reexecuteSealed()
        throw ApusError(
            "re-execute from a sealed copy of apus (the container may use CAP_SYS_PTRACE, CVE-2019-5736): "
                + errorString(errno))
    }

    static func allowsPtrace(_ bounding: [String]?) -> Bool {
        bounding?.contains("CAP_SYS_PTRACE") == true
    }

    /// This process's executable cannot be written through /proc/PID/exe: a sealed memfd
    /// (F_SEAL_WRITE) or a file on a read-only mount.
    static func ownBinaryIsProtected() -> Bool {
        guard let fd = OwnedFD.opening({ open("/proc/self/exe", O_RDONLY | O_CLOEXEC) }) else { return false }
        return isProtected(fd.raw)
    }

    static func isProtected(_ fd: Int32) -> Bool {
        // F_GET_SEALS and F_SEAL_WRITE (linux/fcntl.h), not in the Glibc module.
        let seals = fcntl(fd, 1034)
        if seals >= 0 && seals & 0x0008 != 0 { return true }
        var fs = statvfs()
        return fstatvfs(fd, &fs) == 0 && fs.f_flag & UInt(ST_RDONLY) != 0
    }

    static let identityVariable = "_APUS_RUNTIME_BINARY"

    /// The host binary apus runs from: /proc/self/exe, or, in the sealed copy `protect`
    /// re-executed, the file it was copied from.
    static func hostIdentity() -> FileIdentity? {
        defer { unsetenv(identityVariable) }
        if ownBinaryIsProtected(), let value = getenv(identityVariable) {
            let parts = String(cString: value).split(separator: ":")
            if parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) {
                return FileIdentity(device: device, inode: inode)
            }
        }
        return FileIdentity(path: "/proc/self/exe")
    }
}

/// A process that may hold CAP_SYS_PTRACE entering a pid namespace that already exists (a
/// container joining another's, `exec --cap CAP_SYS_PTRACE`) sees every apus process
/// in it, and CAP_SYS_PTRACE overrides the non-dumpable flag that hides their
/// /proc/PID/exe: the init of a container not started yet is apus until start, an exec is
/// apus until execve. Neither was re-executed from a sealed copy, since nothing with
/// CAP_SYS_PTRACE was foreseen in that namespace when it was set up.
extension RuntimeBinary {
    /// Refuses the entry while an apus process that runs from a writable binary is in the
    /// namespace (or in one nested in it); otherwise first marks every container of `store`
    /// whose init is there (`exec` then re-executes from a sealed copy), then looks again:
    /// an exec that read its container's state before the mark holds the container's lock
    /// until its process exists (see `exec`), so it is seen. The first look keeps a refusal
    /// free of side effects; the mark is never removed (another entrant may rely on it).
    /// The namespace apus itself runs in is exempt: a process with CAP_SYS_PTRACE there
    /// can ptrace the host's processes, which no runtime can protect against.
    static func admitPtrace(
        intoPidNamespace target: FileIdentity, store: StateStore, refuse: (ExposedRuntime) -> ApusError
    ) throws(ApusError) {
        guard let own = FileIdentity(path: "/proc/self/ns/pid") else {
            throw ApusError("stat /proc/self/ns/pid", errno: errno)
        }
        if target == own { return }
        var tree = PidNamespaceTree(root: target, own: own)
        var runtimes: Set<FileIdentity> = []
        if let binary = hostIdentity() { runtimes.insert(binary) }
        var members: [ContainerRecord] = []
        for id in store.ids() {
            guard let record = try? store.load(id), record.pid > 0,
                let ns = FileIdentity(path: "/proc/\(record.pid)/ns/pid"), tree.contains(ns, pid: record.pid)
            else { continue }
            members.append(record)
            // Until start, init is the runtime that created it, whichever binary that was.
            if record.status(store: store) == .created, let exe = writableExecutable(pid: record.pid) {
                runtimes.insert(exe)
            }
        }
        if let found = exposedRuntime(in: &tree, runtimes: runtimes) { throw refuse(found) }
        // A container that joined a pid namespace already execs from a sealed copy.
        for record in members where record.ownPidNamespace && record.pidNamespaceShared != true {
            try store.markPidNamespaceShared(record.id, pid: record.pid, startTime: record.pidStartTime)
        }
        if let found = exposedRuntime(in: &tree, runtimes: runtimes) { throw refuse(found) }
    }

    /// An apus process in the namespace tree that runs from a writable binary. An exec
    /// still setting up is waited for (about 100 ms at most): it is apus only until execve.
    static func exposedRuntime(in tree: inout PidNamespaceTree, runtimes: Set<FileIdentity>) -> ExposedRuntime? {
        var attempt = 0
        while true {
            var found: [ExposedRuntime] = []
            for name in FileIO.listDirectory("/proc") {
                guard let pid = Int32(name), pid != getpid(),
                    let ns = FileIdentity(path: "/proc/\(pid)/ns/pid"), tree.contains(ns, pid: pid),
                    runsWritableRuntime(pid: pid, runtimes: runtimes)
                else { continue }
                found.append(ExposedRuntime(pid: pid, isInit: namespacePid(pid) == 1, nested: ns != tree.root))
            }
            if let initProcess = found.first(where: \.isInit) { return initProcess }
            guard let first = found.first else { return nil }
            attempt += 1
            if attempt == 50 { return first }
            usleep(2000)
        }
    }

    /// The process's executable is writable (not sealed, not on a read-only mount) and is
    /// a known runtime binary or another file named apus: another install or version of
    /// apus is as writable as this one. A program of that name in the container's own
    /// writable rootfs is refused too; that errs on the safe side, for privileged entrants
    /// only.
    static func runsWritableRuntime(pid: Int32, runtimes: Set<FileIdentity>) -> Bool {
        guard let exe = writableExecutable(pid: pid) else { return false }
        if runtimes.contains(exe) { return true }
        guard var path = FileIO.readLink("/proc/\(pid)/exe") else { return false }
        if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
        return path.split(separator: "/").last == "apus"
    }

    /// The executable of `pid` unless it is sealed or on a read-only mount.
    static func writableExecutable(pid: Int32) -> FileIdentity? {
        // A kernel thread or a zombie has no executable; a process gone runs nothing.
        guard let fd = OwnedFD.opening({ open("/proc/\(pid)/exe", O_RDONLY | O_CLOEXEC) }) else { return nil }
        return isProtected(fd.raw) ? nil : FileIdentity(fd: fd.raw)
    }

    /// The pid of a process in its own pid namespace (the last NSpid field).
    static func namespacePid(_ pid: Int32) -> Int32? {
        guard let status = FileIO.readString("/proc/\(pid)/status"),
            let last = ProcFS.statusField("NSpid", in: status)?.split(whereSeparator: { $0 == "\t" || $0 == " " }).last
        else { return nil }
        return Int32(last)
    }
}

/// An apus process found by `admitPtrace`.
struct ExposedRuntime: Sendable {
    /// In the pid namespace of apus.
    var pid: Int32
    /// pid 1 of its pid namespace: the init of a container not started yet.
    var isInit: Bool
    /// In a pid namespace nested in the one entered.
    var nested: Bool

    var reason: String {
        if isInit && !nested {
            return "the pid namespace's init (pid \(pid)) is a container that is not started yet (apus init): "
                + "start it first"
        }
        if isInit {
            return "process \(pid) in a nested pid namespace is the init of a container that is not started yet "
                + "(apus init): start it first"
        }
        return "process \(pid) in it still runs apus (an exec or a create setting up a process there): retry"
    }
}

/// A pid namespace and those nested in it: what a process in it sees in its /proc.
struct PidNamespaceTree {
    let root: FileIdentity
    /// The namespace apus runs in: never nested in `root` (apus would not see it).
    let own: FileIdentity
    private var known: [FileIdentity: Bool] = [:]

    init(root: FileIdentity, own: FileIdentity) {
        self.root = root
        self.own = own
    }

    /// Whether `ns`, the pid namespace of `pid`, is `root` or nested in it. Walks up with
    /// NS_GET_PARENT (Linux 4.9), which fails with EPERM above apus's own namespace.
    mutating func contains(_ ns: FileIdentity, pid: Int32) -> Bool {
        if ns == root { return true }
        if ns == own { return false }
        if let answer = known[ns] { return answer }
        var walked = [ns]
        var answer = false
        var fd = OwnedFD.opening { open("/proc/\(pid)/ns/pid", O_RDONLY | O_CLOEXEC) }
        // Pid namespaces nest at most 32 deep.
        for _ in 0..<33 {
            guard let child = fd.take() else { break }
            fd = OwnedFD.opening { NamespaceCall.parent(of: child.raw) }
            child.close()
            guard let identity = fd.rawOrNil.flatMap({ FileIdentity(fd: $0) }) else { break }
            if identity == root || identity == own || known[identity] != nil {
                answer = identity == root || known[identity] == true
                break
            }
            walked.append(identity)
        }
        for identity in walked { known[identity] = answer }
        return answer
    }
}

/// st_dev and st_ino: what makes two paths the same file (or namespace).
struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    init(_ st: stat) {
        self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// Of the file `path` names, symlinks (and /proc's magic links) followed.
    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(st)
    }

    init?(fd: Int32) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        self.init(st)
    }
}
