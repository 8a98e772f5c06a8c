import Foundation
import OCI
import Testing

typealias Seccomp = Spec.Linux.Seccomp

/// seccomp, capabilities and the runc CVE classes, each with a real container
/// that attempts what must fail.
@Suite("security", .integration)
struct SecurityTests {
    func run(_ bundle: TestBundle, _ script: String) throws -> Output {
        try bundle.command("sh", "-c", script)
        return try apus("run", "--bundle", bundle.path, uniqueID("sec"))
    }

    // MARK: seccomp

    /// spec-fixtures/sysnr.c built static into `rootfs/bin/sysnr`; the test is cancelled
    /// (reported as skipped, with the reason) where gcc or a static libc is missing.
    func installSyscallProber(_ bundle: TestBundle) throws {
        let source = Env.repo.appendingPathComponent("spec-fixtures/sysnr.c").path
        let built = try sh("/usr/bin/env", ["gcc", "-static", "-O1", "-o", bundle.rootfs + "/bin/sysnr", source])
        if built.status != 0 {
            try Test.cancel("seccomp ENOSYS: cannot build a static test program: \(built.stderr.prefix(200))")
        }
    }

    /// Syscalls newer than every one a deny-by-default profile names get ENOSYS, not the
    /// default errno, so programs fall back as on an older kernel (runc's patchbpf stub).
    /// 400 is in x86_64's unused range, 435 is clone3, 1000 is past the table; 39 (getpid)
    /// is allowed and 83 (mkdir) is older than the newest named syscall, so it gets the
    /// default action. 335/336 are avoided: Linux lets uretprobe/uprobe bypass seccomp.
    @Test(
        "seccomp: syscalls newer than the profile return ENOSYS, older unlisted ones the default action, as with runc")
    func enosysForNewerSyscalls() throws {
        let allowed = [
            "read", "write", "close", "fstat", "newfstatat", "mmap", "mprotect", "munmap", "brk", "rt_sigaction",
            "rt_sigprocmask", "rt_sigreturn", "ioctl", "execve", "exit", "exit_group", "arch_prctl",
            "set_tid_address", "set_robust_list", "rseq", "prlimit64", "getrandom", "readlinkat", "futex", "openat",
            "fcntl", "getpid", "getppid", "gettid", "tgkill", "capget", "capset", "prctl", "setgroups", "setuid",
            "setgid", "setresuid", "setresgid", "getcwd", "chdir", "fchdir", "epoll_create1", "epoll_ctl",
            "epoll_pwait", "epoll_wait", "sched_yield", "nanosleep", "clone", "wait4", "sigaltstack", "madvise",
            "dup3", "pipe2", "getdents64", "lseek", "pread64", "sched_getaffinity", "clock_gettime", "uname",
            "fstatfs", "statfs", "umask", "access", "faccessat",
            // runc 1.5 checks /proc with statx after loading the filter.
            "statx",
        ]
        let bundle = try TestBundle {
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1,
                architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                syscalls: [.init(names: allowed, action: "SCMP_ACT_ALLOW")])
        }
        try installSyscallProber(bundle)
        try bundle.command("/bin/sysnr", "39", "83", "400", "435", "1000")
        let out = try apus("run", "--bundle", bundle.path, uniqueID("enosys"))
        #expect(out.status == 0, "\(out.all)")
        let enosys = "Function not implemented"
        #expect(
            out.stdout == "39 ok\n83 Operation not permitted\n400 \(enosys)\n435 \(enosys)\n1000 \(enosys)\n",
            "\(out.all)")
        let runc = try Env.requireRunc()
        let root = NSTemporaryDirectory() + "apus-runc-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let theirs = try sh(runc, ["--root", root, "run", "--bundle", bundle.path, uniqueID("enosys-runc")])
        #expect(theirs.stdout == out.stdout, "runc: \(theirs.all)")
    }

    @Test("a profile that denies mkdir with EPERM", arguments: [true, false])
    func denyMkdir(noNewPrivileges: Bool) throws {
        let bundle = try TestBundle {
            $0.process?.noNewPrivileges = noNewPrivileges
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                syscalls: [.init(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO")])
        }
        let out = try run(
            bundle, "mkdir /dev/shm/x; echo rc=$?; touch /dev/shm/y && echo touched; grep Seccomp: /proc/self/status")
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stderr.contains("Operation not permitted"), "\(out.all)")
        #expect(out.stdout.contains("rc=1"), "\(out.all)")
        #expect(out.stdout.contains("touched"), "other syscalls still work: \(out.all)")
        #expect(out.stdout.contains("Seccomp:\t2"), "\(out.all)")
    }

    @Test("errnoRet and defaultErrnoRet pick the errno")
    func errnoRet() throws {
        let bundle = try TestBundle {
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW",
                syscalls: [.init(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 28)])  // ENOSPC
        }
        let out = try run(bundle, "mkdir /dev/shm/x")
        #expect(out.stderr.contains("No space left on device"), "\(out.all)")
    }

    @Test(
        "a profile that kills on a syscall",
        arguments: ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD"])
    func kill(action: String) throws {
        let bundle = try TestBundle {
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW", syscalls: [.init(names: ["sync"], action: action)])
        }
        let out = try run(bundle, "echo before; exec sync; echo after")
        #expect(out.status == 128 + 31, "killed by SIGSYS: \(out.status) \(out.all)")
        #expect(out.stdout.contains("before") && !out.stdout.contains("after"), "\(out.all)")
    }

    /// personality(PER_LINUX32 = 8) is what `linux32` calls; `linux64` calls personality(0).
    static let conditions: [(op: String, value: UInt64, valueTwo: UInt64?, denies32: Bool, denies64: Bool)] = [
        ("SCMP_CMP_EQ", 8, nil, true, false),
        ("SCMP_CMP_NE", 8, nil, false, true),
        ("SCMP_CMP_GT", 4, nil, true, false),
        ("SCMP_CMP_GE", 8, nil, true, false),
        ("SCMP_CMP_LT", 4, nil, false, true),
        ("SCMP_CMP_LE", 7, nil, false, true),
        ("SCMP_CMP_MASKED_EQ", 0xff, 8, true, false),
        ("SCMP_CMP_MASKED_EQ", 0x8, 0, false, true),
    ]

    @Test("an argument-conditioned rule only denies matching calls", arguments: conditions.indices)
    func argumentCondition(index: Int) throws {
        let c = Self.conditions[index]
        let bundle = try TestBundle {
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW",
                syscalls: [
                    .init(
                        names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: 13,
                        args: [.init(index: 0, value: c.value, valueTwo: c.valueTwo, op: c.op)])
                ])
        }
        let out = try run(bundle, "linux32 true; echo r32=$?; linux64 true; echo r64=$?")
        #expect(out.stdout.contains(c.denies32 ? "r32=1" : "r32=0"), "\(c): \(out.all)")
        #expect(out.stdout.contains(c.denies64 ? "r64=1" : "r64=0"), "\(c): \(out.all)")
    }

    @Test("unknown syscall names are skipped with a warning, as runc does")
    func unknownSyscall() throws {
        let bundle = try TestBundle {
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW",
                syscalls: [.init(names: ["no_such_syscall_apus", "mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO")])
        }
        let out = try run(bundle, "mkdir /dev/shm/x")
        #expect(out.stderr.contains("no_such_syscall_apus"), "\(out.all)")
        #expect(out.stderr.contains("Operation not permitted"), "\(out.all)")
    }

    @Test("SCMP_ACT_NOTIFY sends the listener fd and the state to listenerPath")
    func notifyListener() throws {
        let dir = NSTemporaryDirectory() + "apus-notify-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socketPath = dir + "/agent.sock"
        let report = dir + "/report.json"
        let agent = """
            import json, os, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(sys.argv[1]); s.listen(1)
            open(sys.argv[1] + ".ready", "w").close()
            s.settimeout(30)
            c, _ = s.accept()
            msg, fds, flags, addr = socket.recv_fds(c, 65536, 4)
            link = os.readlink("/proc/self/fd/%d" % fds[0])
            json.dump({"msg": json.loads(msg), "link": link, "nfds": len(fds)}, open(sys.argv[2], "w"))
            # Closing the listener makes every notified syscall fail with ENOSYS.
            for fd in fds: os.close(fd)
            """
        try agent.write(toFile: dir + "/agent.py", atomically: true, encoding: .utf8)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = [dir + "/agent.py", socketPath, report]
        try python.run()
        defer { if python.isRunning { python.terminate() } }
        try waitFor(10) { FileManager.default.fileExists(atPath: socketPath + ".ready") }

        let bundle = try TestBundle {
            $0.annotations = ["org.example.key": "value"]
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW", listenerPath: socketPath, listenerMetadata: "meta-1",
                syscalls: [.init(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_NOTIFY")])
        }
        let id = uniqueID("notify")
        // mkdir waits on the listener until the agent closes it, then fails with ENOSYS.
        try bundle.command("sh", "-c", "mkdir /dev/shm/x; echo rc=$?")
        let out = try apus("run", "--bundle", bundle.path, id)
        python.waitUntilExit()
        #expect(out.stderr.contains("Function not implemented"), "\(out.all)")
        let data = try Data(contentsOf: URL(fileURLWithPath: report))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["link"] as? String == "anon_inode:seccomp notify", "\(json)")
        #expect(json["nfds"] as? Int == 1)
        let msg = try #require(json["msg"] as? [String: Any])
        #expect(msg["fds"] as? [String] == ["seccompFd"])
        #expect(msg["metadata"] as? String == "meta-1")
        let state = try #require(msg["state"] as? [String: Any])
        #expect(state["id"] as? String == id)
        #expect(state["bundle"] as? String == bundle.path)
        #expect((state["pid"] as? Int ?? 0) > 0)
        #expect((state["annotations"] as? [String: String])?["org.example.key"] == "value")
    }

    @Test("Seccomp: and capability lines equal runc's for a seccomp profile", arguments: [true, false])
    func seccompParity(noNewPrivileges: Bool) throws {
        let runc = try Env.requireRunc()
        let bundle = try TestBundle {
            $0.process?.noNewPrivileges = noNewPrivileges
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW",
                syscalls: [.init(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO")])
        }
        try bundle.command("sh", "-c", "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; mkdir /dev/shm/x 2>&1")
        let ours = try apus("run", "--bundle", bundle.path, uniqueID("parity"))
        // A root of this run's own, removed after: parameterized cases run in parallel.
        let runcRoot = NSTemporaryDirectory() + "runc-sec-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: runcRoot) }
        let theirs = try sh(runc, ["--root", runcRoot, "run", "--bundle", bundle.path, uniqueID("parity-runc")])
        #expect(ours.status == theirs.status, "apus \(ours.all) runc \(theirs.all)")
        #expect(ours.stdout == theirs.stdout, "--- apus\n\(ours.stdout)--- runc\n\(theirs.stdout)")
        #expect(ours.stdout.contains("Seccomp:\t2"))
    }

    // MARK: capabilities

    @Test("chown needs CAP_CHOWN", arguments: [false, true])
    func chown(withCap: Bool) throws {
        let bundle = try TestBundle {
            if withCap {
                for kind in [\Spec.Process.Capabilities.bounding, \.effective, \.permitted] {
                    $0.process?.capabilities?[keyPath: kind]?.append("CAP_CHOWN")
                }
            }
        }
        let out = try run(bundle, "touch /dev/shm/f && echo touched; chown 1000 /dev/shm/f; echo rc=$?")
        #expect(out.stdout.contains("touched"), "\(out.all)")
        #expect(out.stdout.contains(withCap ? "rc=0" : "rc=1"), "\(out.all)")
    }

    @Test("a raw socket needs CAP_NET_RAW", arguments: [false, true])
    func rawSocket(withCap: Bool) throws {
        let bundle = try TestBundle {
            if withCap {
                for kind in [\Spec.Process.Capabilities.bounding, \.effective, \.permitted] {
                    $0.process?.capabilities?[keyPath: kind]?.append("CAP_NET_RAW")
                }
            }
        }
        let out = try run(bundle, "ping -c 1 -W 1 127.0.0.1 >/dev/null; echo rc=$?")
        #expect(out.stdout.contains(withCap ? "rc=0" : "rc=1"), "\(out.all)")
        if !withCap {
            #expect(out.stderr.contains("ermission denied") || out.stderr.contains("not permitted"), "\(out.all)")
        }
    }

    // MARK: runc CVE classes

    func sha256(_ path: String) throws -> String {
        try sh("/usr/bin/sha256sum", [path]).stdout
    }

    /// The state.json apus keeps for `id` in the test root, decoded.
    func stateFile(_ id: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Env.stateRoot + "/" + id + "/state.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A bundle whose container joins the pid namespace of `pid`, with broad capabilities
    /// (CAP_SYS_PTRACE among them when `ptrace`): the CVE-2019-5736 attacker.
    func pidNamespaceJoiner(of pid: Int, ptrace: Bool) throws -> TestBundle {
        try TestBundle {
            let namespaces = $0.linux?.namespaces?.map { ns in
                ns.type == .pid ? Spec.Linux.Namespace(type: .pid, path: "/proc/\(pid)/ns/pid") : ns
            }
            $0.linux?.namespaces = namespaces
            var all = [
                "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_SYS_ADMIN",
                "CAP_KILL", "CAP_SETUID", "CAP_SETGID",
            ]
            if ptrace { all.append("CAP_SYS_PTRACE") }
            $0.process?.capabilities = .init(bounding: all, effective: all, permitted: all)
        }
    }

    static let exeOpener =
        "for f in /proc/[0-9]*/exe; do ls -l $f 2>&1; (exec 3<>$f) 2>/dev/null && echo OPENED $f;"
        + " (echo x >>$f) 2>/dev/null && echo WROTE $f; done; echo done"

    /// CVE-2019-5736: while a container is created (its init is still apus), a second
    /// container in its pid namespace tries to open every /proc/*/exe for writing; the apus
    /// binary on the host must come out unchanged. Without CAP_SYS_PTRACE the victim's init
    /// (apus, not dumpable) hides its exe link; with it, which overrides dumpable, the joiner
    /// is refused until the victim is started, and then sees no apus at all.
    @Test("CVE-2019-5736: the host apus binary cannot be overwritten from a container", arguments: [false, true])
    func overwriteRuntime(ptrace: Bool) throws {
        let binary = try #require(Env.apus)
        let before = try sha256(binary)
        let victim = try TestBundle()
        try victim.command("sh", "-c", "sleep 30")
        let victimID = uniqueID("victim")
        let created = try apus("create", "--bundle", victim.path, victimID)
        try #require(created.status == 0, "\(created.all)")
        defer { _ = try? apus("delete", "--force", victimID) }
        let pid = try #require(try decodeState(try apus("state", victimID).stdout)["pid"] as? Int)

        let attacker = try pidNamespaceJoiner(of: pid, ptrace: ptrace)
        try attacker.command("sh", "-c", Self.exeOpener)
        let attackerID = uniqueID("attacker")
        defer { _ = try? apus("delete", "--force", attackerID) }
        let beforeAttack = HostSnapshot.take(mentioning: attackerID)
        var out = try apus("run", "--bundle", attacker.path, attackerID)
        if ptrace {
            #expect(out.status != 0, "\(out.all)")
            for needle in [
                "join pid namespace /proc/\(pid)/ns/pid", "(apus init): start it first", "CVE-2019-5736",
                "(config.json .linux.namespaces[",
            ] {
                #expect(out.stderr.contains(needle), "stderr lacks \(needle): \(out.all)")
            }
            #expect(!out.stdout.contains("done"), "\(out.all)")
            #expect(HostSnapshot.take(mentioning: attackerID) == beforeAttack)
            #expect(processes(mentioning: attackerID).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + attackerID))
            #expect(try stateFile(victimID)["pidNamespaceShared"] == nil, "a refusal changes nothing")
            // Started, the victim's init is its user process: the joiner is let in, and
            // the victim's later execs run from a sealed copy.
            let started = try apus("start", victimID)
            try #require(started.status == 0, "\(started.all)")
            out = try apus("run", "--bundle", attacker.path, attackerID)
            #expect(out.status == 0, "\(out.all)")
            #expect(out.stdout.contains("/proc/1/exe -> /bin/busybox"), "\(out.all)")
            #expect(try stateFile(victimID)["pidNamespaceShared"] as? Bool == true)
        } else {
            // The victim's init (apus, pid 1 of that namespace) is not dumpable: its exe
            // link is not even readable.
            #expect(!out.stdout.contains("/proc/1/exe -> "), "\(out.all)")
        }
        #expect(out.stdout.contains("done"), "\(out.all)")
        #expect(!out.stdout.contains("OPENED") && !out.stdout.contains("WROTE"), "\(out.all)")
        #expect(try sha256(binary) == before)
    }

    /// Starts `apus exec ID …` in the background, waits until its process runs, and returns
    /// where /proc/PID/exe of that apus process (its child's until execve) points.
    func executableOfExec(_ id: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Env.apus ?? "/nonexistent")
        process.arguments = ["--root", Env.stateRoot, "exec", id, "sh", "-c", "echo ready; exec sleep 20"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        defer {
            // Forwarded to the exec'd process, which ends.
            process.terminate()
            process.waitUntilExit()
        }
        let line = readOutput(out.fileHandleForReading, until: "ready")
        guard line.contains("ready") else { throw TestFailure("exec in \(id) did not start: \(line)") }
        return try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.processIdentifier)/exe")
    }

    /// CVE-2019-5736 through execs: an `apus exec` is apus inside the container until execve.
    /// Once a container with CAP_SYS_PTRACE has joined a container's pid namespace, execs
    /// into that container run from a sealed copy; before, they cost nothing extra.
    @Test("CVE-2019-5736: once a privileged container joins a pid namespace, execs there run from a sealed copy")
    func execAfterPrivilegedJoin() throws {
        let owner = try TestBundle()
        try owner.command("sleep", "30")
        let ownerID = uniqueID("owner")
        defer { _ = try? apus("delete", "--force", ownerID) }
        try #require(try apus("run", "-d", "--bundle", owner.path, ownerID).status == 0)
        let pid = try #require(try decodeState(try apus("state", ownerID).stdout)["pid"] as? Int)
        #expect(!(try executableOfExec(ownerID).hasPrefix("/memfd:")))

        let joiner = try pidNamespaceJoiner(of: pid, ptrace: true)
        try joiner.command("sleep", "30")
        let joinerID = uniqueID("joiner")
        defer { _ = try? apus("delete", "--force", joinerID) }
        let joined = try apus("run", "-d", "--bundle", joiner.path, joinerID)
        try #require(joined.status == 0, "\(joined.all)")
        #expect(try stateFile(ownerID)["pidNamespaceShared"] as? Bool == true)
        #expect(try executableOfExec(ownerID).hasPrefix("/memfd:apus"))
    }

    /// `exec --cap CAP_SYS_PTRACE` gives a process of the container what its init was set up
    /// without: refused while init is still apus, and it makes later execs use a sealed copy.
    @Test("CVE-2019-5736: exec with CAP_SYS_PTRACE into a created container is refused until start")
    func ptraceExecIntoCreated() throws {
        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        let id = uniqueID("ptrace-exec")
        defer { _ = try? apus("delete", "--force", id) }
        try #require(try apus("create", "--bundle", bundle.path, id).status == 0)
        let refused = try apus("exec", "--cap", "CAP_SYS_PTRACE", id, "ls", "-l", "/proc/1/exe")
        #expect(refused.status != 0, "\(refused.all)")
        #expect(refused.stderr.contains("(apus init): start it first"), "\(refused.all)")
        #expect(refused.stderr.contains("CVE-2019-5736"), "\(refused.all)")
        #expect(try stateFile(id)["pidNamespaceShared"] == nil)
        try #require(try apus("start", id).status == 0)
        let out = try apus("exec", "--cap", "CAP_SYS_PTRACE", id, "ls", "-l", "/proc/1/exe")
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout.contains("/proc/1/exe -> /bin/busybox"), "\(out.all)")
        #expect(try stateFile(id)["pidNamespaceShared"] as? Bool == true)
    }

    /// Looks at every /proc/*/exe; any that is not busybox or a sealed memfd is opened
    /// read-only and held, then written through /proc/self/fd (the CVE-2019-5736 attack).
    static let exeScanner =
        "for f in /proc/[0-9]*/exe; do l=$(readlink $f 2>/dev/null) || continue; echo \"$f -> $l\";"
        + " case \"$l\" in /bin/busybox|/memfd:*) ;; *) (exec 3<$f && echo OPENED $f;"
        + " echo x >>/proc/self/fd/3 && echo WROTE $f) 2>/dev/null;; esac; done; echo done"

    /// CVE-2019-5736 with CAP_SYS_PTRACE, which overrides PR_SET_DUMPABLE: a process of the
    /// container (here one exec'd while init is still apus) sees init's /proc/1/exe. It must
    /// be apus's sealed copy, never the host binary.
    @Test("CVE-2019-5736 with CAP_SYS_PTRACE in the container: init runs from a sealed copy")
    func ptraceInsideContainer() throws {
        let binary = try #require(Env.apus)
        let before = try sha256(binary)
        let bundle = try TestBundle {
            $0.process?.capabilities?.bounding?.append("CAP_SYS_PTRACE")
            $0.process?.capabilities?.effective?.append("CAP_SYS_PTRACE")
            $0.process?.capabilities?.permitted?.append("CAP_SYS_PTRACE")
        }
        try bundle.command("sleep", "30")
        let id = uniqueID("ptrace")
        defer { _ = try? apus("delete", "--force", id) }
        let created = try apus("create", "--bundle", bundle.path, id)
        try #require(created.status == 0, "\(created.all)")
        let out = try apus("exec", id, "sh", "-c", Self.exeScanner)
        #expect(out.stdout.contains("done"), "\(out.all)")
        #expect(out.stdout.contains("/proc/1/exe -> /memfd:apus"), "\(out.all)")
        #expect(!out.stdout.contains("OPENED") && !out.stdout.contains("WROTE"), "\(out.all)")
        #expect(try sha256(binary) == before)
    }

    /// The same through a shared pid namespace (a pod): a container with CAP_SYS_PTRACE
    /// sees the init of a second container that joins its pid namespace.
    @Test("CVE-2019-5736 in a shared pid namespace: a joining container's init runs from a sealed copy")
    func ptraceSharedPidNamespace() throws {
        let binary = try #require(Env.apus)
        let before = try sha256(binary)
        let owner = try TestBundle {
            $0.process?.capabilities?.bounding?.append("CAP_SYS_PTRACE")
            $0.process?.capabilities?.effective?.append("CAP_SYS_PTRACE")
            $0.process?.capabilities?.permitted?.append("CAP_SYS_PTRACE")
        }
        try owner.command("sleep", "30")
        let ownerID = uniqueID("pod")
        defer { _ = try? apus("delete", "--force", ownerID) }
        try #require(try apus("run", "-d", "--bundle", owner.path, ownerID).status == 0)
        let pid = try #require(try decodeState(try apus("state", ownerID).stdout)["pid"] as? Int)
        let joiner = try TestBundle {
            let namespaces = $0.linux?.namespaces?.map { ns in
                ns.type == .pid ? Spec.Linux.Namespace(type: .pid, path: "/proc/\(pid)/ns/pid") : ns
            }
            $0.linux?.namespaces = namespaces
        }
        try joiner.command("sleep", "30")
        let joinerID = uniqueID("podmember")
        defer { _ = try? apus("delete", "--force", joinerID) }
        let created = try apus("create", "--bundle", joiner.path, joinerID)
        try #require(created.status == 0, "\(created.all)")
        let out = try apus("exec", ownerID, "sh", "-c", Self.exeScanner)
        #expect(out.stdout.contains("done"), "\(out.all)")
        #expect(out.stdout.contains("/exe -> /memfd:apus"), "\(out.all)")
        #expect(!out.stdout.contains("OPENED") && !out.stdout.contains("WROTE"), "\(out.all)")
        #expect(try sha256(binary) == before)
    }

    /// CVE-2024-21626: a cwd through a leaked runtime fd must not reach the host.
    @Test("CVE-2024-21626: cwd /proc/self/fd/N never lands outside the container", arguments: 3...10)
    func leakedFdCwd(n: Int) throws {
        let bundle = try TestBundle { $0.process?.cwd = "/proc/self/fd/\(n)" }
        let out = try run(bundle, "pwd; ls .. | head -3; cat ../../../etc/hostname 2>/dev/null")
        if out.status == 0 {
            #expect(!out.stdout.contains("unreachable"), "\(out.all)")
            let host = (try? String(contentsOfFile: "/etc/hostname", encoding: .utf8)) ?? "\u{0}"
            #expect(
                !out.stdout.contains(host.trimmingCharacters(in: .whitespacesAndNewlines)) || host.isEmpty, "\(out.all)"
            )
        }
    }

    @Test("CVE-2024-21626: no runtime fd is open in the container")
    func noLeakedFds() throws {
        let bundle = try TestBundle()
        // pid 1 must stay sh: no pipeline (ash holds a pipe end while it forks
        // the next stage) and not a lone command (ash would exec ls, whose own
        // directory fd is then 3).
        let out = try run(bundle, "ls /proc/1/fd; true")
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout.split(whereSeparator: \.isWhitespace) == ["0", "1", "2"], "\(out.all)")
    }

    /// CVE-2021-30465 class: a mount destination through a symlink resolves
    /// inside the rootfs, never on the host.
    @Test(
        "CVE-2021-30465: a symlinked mount target stays in the rootfs", arguments: ["/etc", "../../../../../etc", "/"])
    func symlinkedMountTarget(link: String) throws {
        let hostEtc = try FileManager.default.contentsOfDirectory(atPath: "/etc").sorted()
        let hostMounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        let source = NSTemporaryDirectory() + "apus-src-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try "marker".write(toFile: source + "/MARKER", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: source) }
        let bundle = try TestBundle {
            $0.mounts?.append(.init(destination: "/evil/tmp", type: "tmpfs", source: "tmpfs"))
            $0.mounts?.append(
                .init(destination: "/evil/bound", type: "bind", source: source, options: ["rbind", "ro"]))
        }
        try FileManager.default.createSymbolicLink(atPath: bundle.rootfs + "/evil", withDestinationPath: link)
        let out = try run(bundle, "ls /evil/bound; mount | grep -c evil; true")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "/etc").sorted() == hostEtc)
        // Nothing mounted on the host but what the filesystems suite, which may run beside this
        // test, mounts itself: a tmpfs at a temp dir, a read-only bind of a bundle over itself.
        let after = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        let added = Set(after.split(separator: "\n")).subtracting(hostMounts.split(separator: "\n"))
        let temp = NSTemporaryDirectory()
        let onHost = added.filter { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return true }
            let target = String(fields[4])
            let bundleItself = target.hasPrefix(temp + "apus-bundle-") && !target.dropFirst(temp.count).contains("/")
            return !(target.hasPrefix(temp + "apus-fs-") || bundleItself)
        }
        #expect(onHost.isEmpty, "mounted on the host: \(onHost)")
        #expect(
            !FileManager.default.fileExists(atPath: "/etc/bound") && !FileManager.default.fileExists(atPath: "/bound"))
        if out.status == 0 {
            #expect(out.stdout.contains("MARKER"), "\(out.all)")
        }
    }

    @Test("linux.mountLabel on a host without SELinux: the container runs, with a warning naming the field")
    func mountLabelWithoutSELinux() throws {
        if FileManager.default.fileExists(atPath: "/sys/fs/selinux/enforce") {
            try Test.cancel("mountLabel without SELinux: this host has SELinux")
        }
        let bundle = try TestBundle { $0.linux?.mountLabel = "system_u:object_r:container_file_t:s0" }
        let out = try run(bundle, "echo ran")
        #expect(out.status == 0 && out.stdout == "ran\n", "\(out.all)")
        #expect(out.stderr.contains("warning") && out.stderr.contains(".linux.mountLabel"), "\(out.stderr)")
    }

    /// CVE-2025-52881: mounts over the procfs files init writes (a sysctl, oom_score_adj)
    /// must not receive those writes: init writes through procfs it opened before any
    /// container mount existed. The host files bound over them stay unchanged.
    @Test("CVE-2025-52881: procfs writes are not redirected by mounts over /proc files")
    func procfsWritesNotRedirected() throws {
        let decoys = (0..<2).map { NSTemporaryDirectory() + "apus-decoy-\($0)-\(UInt32.random(in: 0..<UInt32.max))" }
        for decoy in decoys { try "untouched\n".write(toFile: decoy, atomically: false, encoding: .utf8) }
        defer { for decoy in decoys { try? FileManager.default.removeItem(atPath: decoy) } }
        let bundle = try TestBundle {
            $0.linux?.sysctl = ["net.ipv4.ip_unprivileged_port_start": "1234"]
            $0.process?.oomScoreAdj = 123
            $0.mounts?.append(
                Spec.Mount(
                    destination: "/proc/sys/net/ipv4/ip_unprivileged_port_start", type: "bind", source: decoys[0],
                    options: ["bind"]))
            $0.mounts?.append(
                Spec.Mount(destination: "/proc/self/oom_score_adj", type: "bind", source: decoys[1], options: ["bind"]))
        }
        let out = try run(bundle, "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; echo done")
        #expect(out.status == 0, "\(out.all)")
        for decoy in decoys {
            #expect(try String(contentsOfFile: decoy, encoding: .utf8) == "untouched\n", "\(decoy) was written")
        }
    }

    /// Whether setgroups is denied is read through the runtime's procfs handle, not the
    /// container's /proc: a container with CAP_SYS_ADMIN in its user namespace can cover its
    /// /proc with a "self/setgroups" that says "deny", and an exec'd process would then keep
    /// the supplementary groups of whoever ran `apus exec` (host groups, in the container).
    @Test("exec: a /proc/self/setgroups faked by the container keeps no host groups")
    func fakedSetgroupsDeny() throws {
        let admin = ["CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"]
        let bundle = try TestBundle {
            $0.linux?.namespaces?.append(.init(type: .user))
            $0.linux?.uidMappings = [.init(containerID: 0, hostID: 100_000, size: 65_536)]
            $0.linux?.gidMappings = [.init(containerID: 0, hostID: 100_000, size: 65_536)]
            $0.process?.capabilities = .init(bounding: admin, effective: admin, permitted: admin)
        }
        _ = try sh("/bin/chown", ["-R", "100000:100000", bundle.rootfs])
        try bundle.command(
            "sh", "-c", "mount -t tmpfs fake /proc && mkdir /proc/self && echo deny > /proc/self/setgroups && sleep 60")
        let id = uniqueID("setgroups")
        let started = try apus("run", "-d", "--bundle", bundle.path, id)
        #expect(started.status == 0, "\(started.all)")
        defer { _ = try? apus("delete", "--force", id) }
        // Until the container has covered its /proc (a bound on waiting, not a timing check).
        let deadline = Date().addingTimeInterval(20)
        var seen = ""
        while Date() < deadline {
            seen = try apus("exec", id, "cat", "/proc/self/setgroups").stdout
            if seen == "deny\n" { break }
            usleep(20_000)
        }
        try #require(seen == "deny\n", "the container's /proc was not covered: \(seen)")
        // `apus exec` run with a supplementary group, as from a user's shell.
        let out = try sh(
            "/usr/bin/setpriv",
            ["--groups", "4321", "--", Env.apus ?? "/nonexistent", "--root", Env.stateRoot, "exec", id, "id", "-G"])
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout == "0\n", "the exec'd process's groups: \(out.stdout)")
    }

    /// CVE-2025-31133: a rootfs whose /dev/null is a symlink to a host-ish
    /// file must not turn masking into a bind of that file.
    @Test("CVE-2025-31133: masking is not redirected by a symlinked /dev/null")
    func symlinkedDevNull() throws {
        let pattern = try String(contentsOfFile: "/proc/sys/kernel/core_pattern", encoding: .utf8)
        let bundle = try TestBundle {
            // The rootfs's own /dev: no tmpfs of ours hides the planted link.
            $0.mounts = $0.mounts?.filter { $0.destination != "/dev" && !$0.destination.hasPrefix("/dev/") }
            $0.linux?.devices = nil
        }
        try? FileManager.default.removeItem(atPath: bundle.rootfs + "/dev/null")
        try FileManager.default.createDirectory(atPath: bundle.rootfs + "/dev", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: bundle.rootfs + "/dev/null", withDestinationPath: "/proc/sys/kernel/core_pattern")
        let out = try run(bundle, "head -c 64 /proc/kcore; head -c 64 /proc/timer_list; true")
        if out.status == 0 {
            #expect(!out.stdout.contains(pattern.trimmingCharacters(in: .whitespacesAndNewlines)), "\(out.all)")
        } else {
            #expect(out.stderr.contains("null"), "\(out.all)")
        }
        #expect(try String(contentsOfFile: "/proc/sys/kernel/core_pattern", encoding: .utf8) == pattern)
    }

    /// CVE-2025-52565: /dev/console planted as a symlink must not redirect the console bind.
    @Test("CVE-2025-52565: /dev/console cannot be redirected")
    func symlinkedConsole() throws {
        let victim = NSTemporaryDirectory() + "apus-victim-\(UInt32.random(in: 0..<UInt32.max))"
        try "host file".write(toFile: victim, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: victim) }
        let bundle = try TestBundle {
            $0.process?.terminal = true
            $0.mounts = $0.mounts?.filter { $0.destination != "/dev" && !$0.destination.hasPrefix("/dev/") }
            $0.mounts?.append(
                .init(
                    destination: "/dev/pts", type: "devpts", source: "devpts",
                    options: ["newinstance", "ptmxmode=0666"]))
        }
        try FileManager.default.createDirectory(atPath: bundle.rootfs + "/dev/pts", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: bundle.rootfs + "/dev/console")
        try FileManager.default.createSymbolicLink(atPath: bundle.rootfs + "/dev/console", withDestinationPath: victim)
        let out = try run(bundle, "ls -l /dev/console")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "host file")
        #expect(out.status != 0, "a symlinked /dev/console is refused: \(out.all)")
    }

    @Test("a symlinked /proc in the rootfs is refused", arguments: ["/etc", "/tmp", "../../../../proc"])
    func symlinkedProc(link: String) throws {
        let bundle = try TestBundle()
        try FileManager.default.removeItem(atPath: bundle.rootfs + "/proc")
        try FileManager.default.createSymbolicLink(atPath: bundle.rootfs + "/proc", withDestinationPath: link)
        let out = try run(bundle, "true")
        #expect(out.status != 0, "\(out.all)")
        #expect(out.stderr.contains("/proc"), "\(out.all)")
    }

    /// tmpcopyup copies what the destination is inside the rootfs: a destination through a
    /// symlink that climbs out resolves in the rootfs, and symlinks in the copied tree are
    /// copied, never followed.
    @Test("tmpcopyup through a symlinked destination copies the rootfs's directory, not the host's")
    func tmpcopyupSymlinkedDestination() throws {
        let bundle = try TestBundle {
            $0.mounts?.append(.init(destination: "/evil", type: "tmpfs", source: "tmpfs", options: ["tmpcopyup"]))
        }
        try FileManager.default.createSymbolicLink(
            atPath: bundle.rootfs + "/evil", withDestinationPath: "../../../../../etc")
        try FileManager.default.createSymbolicLink(
            atPath: bundle.rootfs + "/etc/host-shadow", withDestinationPath: "/../../../../etc/shadow")
        // The host's mounts on /etc: other suites running meanwhile mount elsewhere (criu's
        // restore root), so only /etc and below are compared.
        func hostEtcMounts() throws -> [String] {
            try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).split(separator: "\n").compactMap {
                let fields = $0.split(separator: " ")
                guard fields.count > 4, fields[4] == "/etc" || fields[4].hasPrefix("/etc/") else { return nil }
                return String($0)
            }
        }
        let hostMounts = try hostEtcMounts()
        let out = try run(bundle, "ls /etc; readlink /etc/host-shadow; cat /etc/host-shadow 2>&1 | grep -c root:; true")
        #expect(out.status == 0, "\(out.all)")
        let names = Set(out.stdout.split(separator: "\n").map(String.init))
        #expect(names.isSuperset(of: ["passwd", "group", "hostname", "host-shadow"]), "\(out.stdout)")
        #expect(!names.contains("shadow"), "the host's /etc was copied: \(out.stdout)")
        #expect(names.contains("/../../../../etc/shadow") && names.contains("0"), "\(out.stdout)")
        #expect(try hostEtcMounts() == hostMounts, "nothing was mounted on the host's /etc")
    }

    // MARK: sysctl, LSMs, personality, I/O priority, scheduler, RDT

    @Test("a namespaced sysctl is applied; a host-wide one is refused with the key named")
    func sysctl() throws {
        let ok = try TestBundle { $0.linux?.sysctl = ["kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"] }
        let out = try run(ok, "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward")
        #expect(out.stdout == "1234\n1\n", "\(out.all)")
        let host = try String(contentsOfFile: "/proc/sys/vm/swappiness", encoding: .utf8)
        let bad = try TestBundle { $0.linux?.sysctl = ["vm.swappiness": "7"] }
        let refused = try run(bad, "true")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("vm.swappiness"), "\(refused.all)")
        #expect(try String(contentsOfFile: "/proc/sys/vm/swappiness", encoding: .utf8) == host)
    }

    @Test("linux.personality LINUX32 makes uname report a 32-bit machine")
    func personality() throws {
        let bundle = try TestBundle { $0.linux?.personality = .init(domain: "LINUX32") }
        let out = try run(bundle, "uname -m")
        #expect(out.stdout == "i686\n", "\(out.all)")
    }

    @Test("process.ioPriority and process.scheduler are applied")
    func ioPriorityAndScheduler() throws {
        let bundle = try TestBundle {
            $0.process?.ioPriority = .init(class: "IOPRIO_CLASS_BE", priority: 6)
            $0.process?.scheduler = .init(policy: "SCHED_BATCH", nice: 5)
        }
        // /proc/PID/stat field 19 is nice, 41 the policy (SCHED_BATCH = 3).
        let out = try run(bundle, "ionice -p $$; cut -d' ' -f19,41 /proc/self/stat")
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout.contains("best-effort: prio 6"), "\(out.all)")
        #expect(out.stdout.hasSuffix("\n5 3\n"), "nice 5, SCHED_BATCH: \(out.all)")
    }

    @Test(
        "apparmorProfile, selinuxLabel and intelRdt fail clearly when the host lacks them",
        arguments: ["AppArmor", "SELinux", "resctrl"])
    func absentFacility(word: String) throws {
        let cases: [String: (String, (inout Spec) -> Void)] = [
            "AppArmor": ("/sys/module/apparmor/parameters/enabled", { $0.process?.apparmorProfile = "apus-test" }),
            "SELinux": ("/sys/fs/selinux/enforce", { $0.process?.selinuxLabel = "system_u:system_r:container_t:s0" }),
            "resctrl": ("/sys/fs/resctrl/schemata", { $0.linux?.intelRdt = .init(closID: "apus-test") }),
        ]
        let (probe, edit) = try #require(cases[word])
        if FileManager.default.fileExists(atPath: probe) {
            try Test.cancel("\(word) absent case: this host has \(probe)")
        }
        let bundle = try TestBundle(edit)
        let out = try run(bundle, "true")
        #expect(out.status != 0, "\(word): \(out.all)")
        #expect(out.stderr.contains(word), "\(word): \(out.all)")
    }
}
