import CApus
import Glibc

/// The container's terminal: a pty from the container's own devpts instance.
public struct Console: ~Copyable {
    /// The master until `becomeStdio` closes it (sent on by then).
    private var masterFD: OwnedFD?
    public let slave: OwnedFD
    public var master: Int32 { masterFD.raw }
    public let slavePath: String

    /// Opens /dev/ptmx of the (already pivoted) container root.
    public static func open(width: UInt?, height: UInt?) throws(ApusError) -> Console {
        let master = try OwnedFD.open("open /dev/ptmx for the console") {
            Glibc.open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        // TIOCSPTLCK = 0x40045431, TIOCGPTN = 0x80045430
        if apus_ioctl_ptr(master.raw, 0x4004_5431, &unlock) < 0
            || apus_ioctl_ptr(master.raw, 0x8004_5430, &number) < 0
        {
            throw ApusError("unlock the console pty", errno: errno)
        }
        let path = "/dev/pts/\(number)"
        let slave = try OwnedFD.open("open console \(path)") { Glibc.open(path, O_RDWR | O_NOCTTY | O_CLOEXEC) }
        let console = Console(masterFD: master, slave: slave, slavePath: path)
        if let width, let height { console.resize(width: width, height: height) }
        return console
    }

    /// The window size of terminal `from` (the caller's stdin) given to terminal `to`, as a
    /// terminal proxy does on SIGWINCH.
    public static func copyWindowSize(from: Int32, to: Int32) {
        var size = winsize()
        if apus_ioctl_ptr(from, UInt(TIOCGWINSZ), &size) == 0 {
            _ = apus_ioctl_ptr(to, UInt(TIOCSWINSZ), &size)
        }
    }

    public func resize(width: UInt, height: UInt) {
        var size = winsize(
            ws_row: UInt16(clamping: height), ws_col: UInt16(clamping: width), ws_xpixel: 0, ws_ypixel: 0)
        _ = apus_ioctl_ptr(master, UInt(TIOCSWINSZ), &size)
    }

    /// Bind-mounts the slave onto /dev/console, as runc does, so programs that
    /// open /dev/console reach the container's terminal and not the host's.
    public func mountOnDevConsole() throws(ApusError) {
        do {
            let created = OwnedFD.opening {
                Glibc.open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | APUS_O_NOFOLLOW, 0o666)
            }
            if created == nil && errno != EEXIST { throw ApusError("create /dev/console", errno: errno) }
        }
        // Mount onto the inode we checked, never onto the path again: a rootfs
        // could swap /dev/console for a symlink to a host file in between
        // (CVE-2025-52565).
        let target = try OwnedFD.open("open /dev/console") {
            Glibc.open("/dev/console", APUS_O_PATH | O_CLOEXEC | APUS_O_NOFOLLOW)
        }
        var st = stat()
        guard fstat(target.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG || (st.st_mode & S_IFMT) == S_IFCHR else {
            throw ApusError("bind \(slavePath) to /dev/console", detail: "/dev/console is not a file or a device")
        }
        try sys("bind \(slavePath) to /dev/console") {
            apus_mount(procFD(slave.raw), procFD(target.raw), nil, UInt(MS_BIND), nil)
        }
    }

    /// New session, the slave as controlling terminal and stdio; the master (sent on by
    /// then) is closed first, and the slave once it is stdio.
    public mutating func becomeStdio() throws(ApusError) {
        masterFD = nil
        _ = setsid()
        try sys("make \(slavePath) the controlling terminal") { apus_ioctl_int(slave.raw, UInt(TIOCSCTTY), 0) }
        for target: Int32 in 0...2 {
            try sys("dup console to fd \(target)") { apus_dup3(slave.raw, target, 0) }
        }
    }
}
