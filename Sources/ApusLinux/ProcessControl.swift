import CApus
import Glibc

/// The process-wide calls the lifecycle makes (prctl, signals, clone, setns, unshare,
/// pipes, descriptor passing), typed, so that ApusCore never calls the C target itself.
public enum ProcessControl {
    /// PR_SET_DUMPABLE 0: /proc/PID of this process (its exe, its memory) is closed to
    /// anyone without CAP_SYS_PTRACE (CVE-2019-5736).
    public static func makeUndumpable() {
        setDumpable(false)
    }

    /// PR_SET_DUMPABLE (a process that is not dumpable cannot be ptraced or entered by setns
    /// from a container; the runtime turns it back on around a pid namespace join).
    public static func setDumpable(_ on: Bool) {
        _ = apus_prctl(APUS_PR_SET_DUMPABLE, on ? 1 : 0, 0, 0, 0)
    }

    /// PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented here.
    public static func becomeChildSubreaper() -> Bool {
        apus_prctl(APUS_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    }

    /// setsid: a session (and process group) of its own. EPERM (already a group leader) is
    /// harmless: then it leads one already.
    public static func newSession() {
        _ = setsid()
    }

    /// SIGPIPE ignored: a closed stdout or a peer gone mid-write fails the write instead.
    public static func ignoreBrokenPipe() {
        apus_ignore_sigpipe()
    }

    /// The signals in `which` (bit n-1 for signal n) back to SIG_DFL, and the signal mask
    /// cleared.
    public static func resetSignals(_ which: UInt64 = .max) {
        apus_reset_signals(which)
    }

    /// fork(2)-like clone with extra namespace flags; 0 in the child.
    public static func cloneProcess(namespaceFlags: Int32 = 0) -> pid_t {
        apus_clone(UInt(bitPattern: Int(namespaceFlags)))
    }

    /// pipe2 with O_CLOEXEC into `fds` (read end, write end): 0, or -1 with errno.
    public static func pipe(_ fds: inout [Int32]) -> Int32 {
        apus_pipe2(&fds, O_CLOEXEC)
    }

    /// setresgid(0, 0, 0) and setresuid(0, 0, 0): root of a new user namespace.
    public static func becomeRootInUserNamespace() throws(ApusError) {
        try sys("setresgid(0) in the user namespace", field: ".linux.gidMappings") { apus_setresgid(0, 0, 0) }
        try sys("setresuid(0) in the user namespace", field: ".linux.uidMappings") { apus_setresuid(0, 0, 0) }
    }

    /// Brings up the loopback interface of the current network namespace.
    public static func bringUpLoopback() throws(ApusError) {
        try sys("bring up lo") { apus_loopback_up() }
    }

    /// Re-executes this binary from a sealed memfd copy; returns only on failure.
    public static func reexecuteSealed() -> Int32 {
        apus_reexec_sealed(CommandLine.unsafeArgv, environ)
    }
}

/// Namespace flags and calls (setns, unshare) by kind.
public enum NamespaceCall {
    public static let newPID = Int32(APUS_CLONE_NEWPID)
    public static let newCgroup = Int32(APUS_CLONE_NEWCGROUP)
    public static let newUser = Int32(APUS_CLONE_NEWUSER)
    /// CLONE_NEWTIME, which shares its value with CSIGNAL's range and has no Glibc name.
    public static let newTime: Int32 = 0x80

    /// setns(2): 0, or -1 with errno.
    public static func enter(_ fd: Int32, _ kind: Int32) -> Int32 {
        apus_setns(fd, kind)
    }

    /// unshare(2): 0, or -1 with errno.
    public static func unshare(_ flags: Int32) -> Int32 {
        apus_unshare(flags)
    }

    /// NS_GET_PARENT (ioctl _IO(0xb7, 0x2)) of a namespace fd: the parent's fd, or -1.
    public static func parent(of fd: Int32) -> Int32 {
        apus_ioctl_ptr(fd, 0xb702, nil)
    }
}

/// open(2) flags the Glibc module does not import.
public enum OpenFlags {
    public static let path = Int32(APUS_O_PATH)
    public static let directory = Int32(APUS_O_DIRECTORY)
}

/// A signalfd of every catchable signal, with those signals blocked.
public enum SignalDescriptor {
    /// The fd, or -1.
    public static func blockingAll() -> Int32 {
        apus_signalfd_all()
    }

    /// The next signal: its number, si_code and, for SIGCHLD, the child's status.
    public static func read(_ fd: Int32) -> (signal: Int32, code: Int32, status: Int32)? {
        var signal: Int32 = 0
        var code: Int32 = 0
        var status: Int32 = 0
        guard apus_signalfd_read(fd, &signal, &code, &status) >= 0 else { return nil }
        return (signal, code, status)
    }
}

/// One descriptor across a unix socket (SCM_RIGHTS).
public enum DescriptorPassing {
    /// Sends `fd` with `message` as the payload; false on failure (errno set).
    public static func send(_ fd: Int32, over socket: Int32, message: String) -> Bool {
        apus_send_fd(socket, fd, message) == 0
    }

    /// One message into `buffer`, with the descriptor it carried in `descriptor` (-1 if
    /// none): the byte count, or -1 with errno. EINTR is retried.
    public static func receive(
        _ socket: Int32, into buffer: UnsafeMutableBufferPointer<UInt8>, descriptor: inout Int32
    ) -> Int {
        apus_recv_msg(socket, buffer.baseAddress, buffer.count, &descriptor)
    }
}
