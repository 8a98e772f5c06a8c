import ApusLinux
import Glibc
import OCI

extension Runtime {
    public struct RunOptions: Sendable {
        public var create: CreateOptions
        public var detach = false
        public var keep = false
        public init(create: CreateOptions) { self.create = create }
    }

    /// `run`: create and start in one process. Detached, it returns once the
    /// user process is exec'd; in the foreground it forwards signals (and the
    /// terminal), waits, deletes the container and returns its exit code.
    public func run(id: String, options: RunOptions) throws -> Int32 {
        let foreground = !options.detach
        var signals: Int32 = -1
        if foreground {
            // Blocked before clone so nothing is lost; init unblocks them
            // before execve.
            signals = SignalDescriptor.blockingAll()
            // Orphans of a container without its own pid namespace are reaped here.
            _ = ProcessControl.becomeChildSubreaper()
        }
        if options.detach && options.create.consoleSocket == nil {
            // Checked by create too; here to give runc's message for run -d.
            if let spec = try? loadBundle(options.create.bundle).spec, spec.process?.terminal == true {
                throw ApusError("cannot allocate tty if apus will detach without setting console socket")
            }
        }
        let created = try create(id: id, options: options.create, trigger: .syncMessage)
        let record = created.record
        defer { created.sync.close() }

        // Exec happened when the close-on-exec sync socket reaches EOF. `start` is usually
        // queued already (`Runtime.startsBeforeReady`).
        guard created.startSent || created.sync.start() else {
            try? destroy(record)
            throw ApusError("container init exited before start")
        }
        if let message = created.sync.next() {
            var text = "unexpected message from container init"
            if case .failure(let failure) = message { text = failure }
            try? killAndWait(record)
            if foreground { _ = reapChild(record.pid) }
            try? destroy(record)
            throw ApusError(text)
        }
        do {
            try runPoststart(record)
        } catch {
            // Stopped by runPoststart; run then deletes it, as after any exit.
            if foreground { _ = reapChild(record.pid) }
            try? destroy(record)
            throw error
        }
        if options.detach { return 0 }

        let status = forwardUntilExit(pid: record.pid, signals: signals, master: created.terminalMaster)
        if !options.keep {
            do {
                try destroy(record)
            } catch {
                log.warn("delete \(id): \(error)")
            }
        }
        return exitCode(waitStatus: status)
    }

    /// Foreground loop: forwards every signal apus receives to init, proxies
    /// the pty if there is one, and reaps children until init exits.
    func forwardUntilExit(pid: Int32, signals: Int32, master: Int32?) -> Int32 {
        var proxy = master.map { TerminalProxy(master: $0) }
        proxy?.begin()
        defer { proxy?.end() }
        var initStatus: Int32? = nil
        // A container still running after a moment keeps apus waiting for as long as it
        // lives: the clean pages of apus's own executable (most of its resident memory)
        // are then given back as the wait starts; the exit path faults in the little it
        // needs. Short runs never pay for it.
        var idle = false
        var released = false
        while initStatus == nil {
            var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            if let proxy { fds += proxy.pollSet() }
            let n: Int32
            if idle && !released {
                released = true
                let ranges = ProcessMemory.reading(
                    OwnedFD.opening { open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) }, ProcessMemory.cleanImageRanges
                )
                n = fds.withUnsafeMutableBufferPointer { fds in
                    Int32(
                        ProcessMemory.release(
                            ranges, thenSyscall: ProcessMemory.ppoll, Int(bitPattern: fds.baseAddress), fds.count, 0, 0)
                    )
                }
            } else {
                n = poll(&fds, nfds_t(fds.count), idle ? -1 : 50)
            }
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            if n == 0 {
                idle = true
                continue
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                if let sig = SignalDescriptor.read(signals)?.signal {
                    switch sig {
                    case SIGCHLD:
                        initStatus = reapChildren(initPid: pid)
                    case SIGWINCH:
                        proxy?.copyWindowSize()
                    default:
                        Glibc.kill(pid, sig)
                    }
                }
            }
            if proxy != nil, fds.count > 1 {
                proxy?.handle(Array(fds[1...]))
            }
        }
        proxy?.drain()
        return initStatus ?? 0
    }

    /// Reaps every exited child (we are their subreaper); returns init's
    /// status once it is among them.
    func reapChildren(initPid: Int32) -> Int32? {
        var result: Int32? = nil
        while true {
            var status: Int32 = 0
            let reaped = waitpid(-1, &status, WNOHANG)
            if reaped <= 0 { break }
            if reaped == initPid { result = status }
        }
        return result
    }

    func reapChild(_ pid: Int32) -> Int32 {
        var status: Int32 = 0
        _ = retryingEINTR { waitpid(pid, &status, 0) }
        return status
    }
}

/// Copies between the caller's terminal and the container's pty master, with
/// the caller's terminal in raw mode for the duration.
struct TerminalProxy {
    let master: Int32
    var saved: termios? = nil
    var stdinOpen = true
    var masterOpen = true

    init(master: Int32) { self.master = master }

    mutating func begin() {
        if isatty(0) == 1 {
            var attrs = termios()
            if tcgetattr(0, &attrs) == 0 {
                saved = attrs
                var raw = attrs
                cfmakeraw(&raw)
                tcsetattr(0, TCSANOW, &raw)
            }
            copyWindowSize()
        }
    }

    func end() {
        if var saved { tcsetattr(0, TCSANOW, &saved) }
    }

    func copyWindowSize() {
        Console.copyWindowSize(from: 0, to: master)
    }

    func pollSet() -> [pollfd] {
        [
            pollfd(fd: stdinOpen ? 0 : -1, events: Int16(POLLIN), revents: 0),
            pollfd(fd: masterOpen ? master : -1, events: Int16(POLLIN), revents: 0),
        ]
    }

    mutating func handle(_ fds: [pollfd]) {
        if fds[0].revents != 0 {
            if !copy(from: 0, to: master) { stdinOpen = false }
        }
        if fds[1].revents != 0 {
            if !copy(from: master, to: 1) { masterOpen = false }
        }
    }

    /// After init exits, what it wrote last may still be in the pty.
    mutating func drain() {
        guard masterOpen else { return }
        let flags = fcntl(master, F_GETFL)
        _ = fcntl(master, F_SETFL, flags | O_NONBLOCK)
        while copy(from: master, to: 1) {}
    }

    func copy(from: Int32, to: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let n = retryingEINTR { buffer.withUnsafeMutableBytes { Glibc.read(from, $0.baseAddress, $0.count) } }
        if n <= 0 { return false }
        return (try? FileIO.writeAll(fd: to, bytes: Array(buffer[0..<n]), step: "terminal")) != nil
    }
}
