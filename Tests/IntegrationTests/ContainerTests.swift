import Foundation
import OCI
import Testing

/// What the process inside sees, for each part of config.json.
@Suite("container setup", .integration)
struct ContainerTests {
    func run(_ bundle: TestBundle, _ script: String) throws -> Output {
        try bundle.command("sh", "-c", script)
        return try apus("run", "--bundle", bundle.path, uniqueID())
    }

    /// apus resets only the signals its process ignores (SigIgn, read once) before execve:
    /// the ones a caller like nohup or a shell's background job ignored must not reach the
    /// container, in init or in an exec'd process, and none stays blocked.
    @Test("signals ignored by apus's caller are default in the container, init and exec")
    func ignoredSignalsReset() throws {
        let apusPath = try #require(Env.apus)
        // `trap ''` in sh ignores HUP, INT and PIPE for everything it execs.
        let traps = "trap '' HUP INT PIPE; exec \"$0\" \"$@\""
        let clean = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
        let initBundle = try TestBundle()
        try initBundle.command("grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status")
        let run = try sh(
            "/bin/sh",
            ["-c", traps, apusPath, "--root", Env.stateRoot, "run", "--bundle", initBundle.path, uniqueID("sig")])
        #expect(run.status == 0 && run.stdout == clean, "init: \(run.all)")

        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        let id = uniqueID("sig")
        defer { _ = try? apus("delete", "--force", id) }
        #expect(try apus("run", "-d", "--bundle", bundle.path, id).status == 0)
        let exec = try sh(
            "/bin/sh",
            [
                "-c", traps, apusPath, "--root", Env.stateRoot, "exec", id, "grep", "-E", "^Sig(Ign|Blk)",
                "/proc/self/status",
            ])
        #expect(exec.status == 0 && exec.stdout == clean, "exec: \(exec.all)")
    }

    @Test("pid, uts, ipc, network and mount namespaces are new")
    func newNamespaces() throws {
        let bundle = try TestBundle {
            $0.hostname = "box-1"; $0.domainname = "example.test"
        }
        let out = try run(
            bundle,
            "echo $$; hostname; cat /proc/sys/kernel/domainname; ip -o link 2>/dev/null | wc -l; cat /sys/class/net/lo/operstate; for n in pid uts ipc net mnt; do readlink /proc/self/ns/$n; done"
        )
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "1")
        #expect(lines.dropFirst().first == "box-1")
        #expect(lines.dropFirst(2).first == "example.test")
        #expect(lines.contains("unknown") || lines.contains("up"), "lo is up: \(lines)")
        for ns in ["pid", "uts", "ipc", "net", "mnt"] {
            let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(ns)")
            #expect(!lines.contains(host), "\(ns) namespace is the host's")
        }
    }

    /// The runtime makes a new network namespace beside its own work and init joins it
    /// (NetnsHelper): it must still be the container's own, joined before sysfs is mounted,
    /// one per container, and no descriptor of it may reach the container.
    @Test("the new network namespace is the container's own: only lo, in sysfs too, one per container")
    func networkNamespacePerContainer() throws {
        let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        let look = try TestBundle()
        let out = try run(look, "readlink /proc/self/ns/net; ls /sys/class/net")
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines.first != host, "in the host's network namespace: \(lines)")
        #expect(lines.last == "lo", "sysfs shows another namespace's devices: \(lines)")

        let bundle = try TestBundle()
        try bundle.command("sleep", "30")
        var seen: [String] = []
        for _ in 0..<2 {
            let id = uniqueID("netns")
            #expect(try apus("run", "-d", "--bundle", bundle.path, id).status == 0)
            defer { _ = try? apus("delete", "--force", id) }
            let pid = try decodeState(try apus("state", id).stdout)["pid"] as? Int ?? 0
            seen.append(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net"))
            let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").sorted()
            #expect(fds == ["0", "1", "2"], "descriptors of the container's process: \(fds)")
        }
        #expect(!seen.contains(host) && Set(seen).count == 2, "network namespaces: \(seen), host \(host)")
    }

    /// The namespace is made once init is in every hierarchy's cgroup (after the clone, as
    /// root): each line of /proc/self/cgroup is its root, and the cgroup mounted at
    /// /sys/fs/cgroup is the container's, with its limit.
    @Test("cgroup and time namespaces, with time offsets")
    func cgroupAndTimeNamespaces() throws {
        let bundle = try TestBundle {
            $0.linux?.namespaces?.append(.init(type: .cgroup))
            $0.linux?.namespaces?.append(.init(type: .time))
            $0.linux?.timeOffsets = ["boottime": .init(secs: 86_400 * 365, nanosecs: 0)]
            $0.linux?.resources = Spec.Linux.Resources(pids: .init(limit: 77))
        }
        let out = try run(
            bundle,
            "cat /proc/self/cgroup; echo pids $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max); cut -d. -f1 /proc/uptime"
        )
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.stdout.split(separator: "\n").map(String.init)
        let memberships = lines.filter { $0.first?.isNumber == true && $0.contains(":/") }
        #expect(
            !memberships.isEmpty && memberships.allSatisfy { $0.hasSuffix(":/") }, "cgroup namespace root: \(lines)")
        #expect(lines.contains("pids 77"), "the container's cgroup at /sys/fs/cgroup: \(lines)")
        let uptime = Int(lines.last ?? "") ?? 0
        #expect(uptime >= 86_400 * 365, "boottime offset applied: \(uptime)")
    }

    @Test("a user namespace with mappings")
    func userNamespace() throws {
        let bundle = try TestBundle {
            $0.linux?.namespaces?.append(.init(type: .user))
            $0.linux?.uidMappings = [.init(containerID: 0, hostID: 100_000, size: 65_536)]
            $0.linux?.gidMappings = [.init(containerID: 0, hostID: 100_000, size: 65_536)]
            // sysfs cannot be mounted in a user namespace without a new netns owner: keep default netns new.
        }
        // The rootfs must be owned by the mapped root to be usable.
        _ = try sh("/bin/chown", ["-R", "100000:100000", bundle.rootfs])
        let out = try run(bundle, "cat /proc/self/uid_map; id -u; ls -ln / | grep -c ' 0 *0 '")
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("100000"), "\(out.stdout)")
        #expect(out.stdout.split(separator: "\n").dropFirst().first == "0")
    }

    @Test("namespaces joined from a path")
    func joinedNamespaces() throws {
        let first = try TestBundle { $0.hostname = "shared-uts" }
        try first.command("sleep", "30")
        let firstID = uniqueID("join-a")
        #expect(try apus("run", "-d", "--bundle", first.path, firstID).status == 0)
        defer { _ = try? apus("delete", "--force", firstID) }
        let pid = try decodeState(try apus("state", firstID).stdout)["pid"] as? Int ?? 0
        let names: [Spec.Linux.Namespace.Kind: String] = [.uts: "uts", .network: "net", .ipc: "ipc", .pid: "pid"]
        let second = try TestBundle { spec in
            spec.hostname = nil
            let joined = (spec.linux?.namespaces ?? []).map { ns -> Spec.Linux.Namespace in
                guard let name = names[ns.type] else { return ns }
                return .init(type: ns.type, path: "/proc/\(pid)/ns/\(name)")
            }
            spec.linux?.namespaces = joined
        }
        let out = try run(second, "hostname; readlink /proc/self/ns/net; ps -o pid,comm | grep -c sleep")
        #expect(out.status == 0, "\(out.stderr)")
        let lines: [String] = out.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "shared-uts")
        let net = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")
        #expect(lines.dropFirst().first == net)
        #expect(lines.last == "1", "sees the other container's sleep in the shared pid namespace")
    }

    @Test("bind mounts of files and directories, read-only, with missing targets created")
    func bindMounts() throws {
        let host = NSTemporaryDirectory() + "apus-bind-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: host + "/dir/sub", withIntermediateDirectories: true)
        try "file-content".write(toFile: host + "/file.txt", atomically: true, encoding: .utf8)
        try "nested".write(toFile: host + "/dir/sub/n.txt", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: host) }
        let bundle = try TestBundle {
            $0.mounts? += [
                .init(
                    destination: "/mnt/deep/file.txt", type: "bind", source: host + "/file.txt",
                    options: ["bind", "ro"]),
                .init(destination: "/data", type: "bind", source: host + "/dir", options: ["rbind", "rw"]),
                .init(destination: "/ro", source: host + "/dir", options: ["rbind", "ro", "nosuid", "nodev"]),
            ]
        }
        let out = try run(
            bundle,
            "cat /mnt/deep/file.txt; echo; cat /data/sub/n.txt; echo; touch /data/new && echo rw-ok; touch /ro/x 2>&1 | grep -o 'Read-only'; grep ' /ro ' /proc/mounts | grep -o 'ro,nosuid,nodev'"
        )
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout == "file-content\nnested\nrw-ok\nRead-only\nro,nosuid,nodev\n", "\(out.stdout)")
        #expect(FileManager.default.fileExists(atPath: host + "/dir/new"))
    }

    @Test("tmpfs options, overlay lower/upper/work")
    func tmpfsAndOverlay() throws {
        let base = NSTemporaryDirectory() + "apus-ovl-\(UInt32.random(in: 0..<UInt32.max))"
        for dir in ["lower", "upper", "work"] {
            try FileManager.default.createDirectory(atPath: base + "/" + dir, withIntermediateDirectories: true)
        }
        try "from-lower".write(toFile: base + "/lower/l.txt", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let bundle = try TestBundle {
            $0.mounts? += [
                .init(
                    destination: "/scratch", type: "tmpfs", source: "tmpfs",
                    options: ["nosuid", "size=1m", "mode=1770"]),
                .init(
                    destination: "/layered", type: "overlay", source: "overlay",
                    options: ["lowerdir=\(base)/lower", "upperdir=\(base)/upper", "workdir=\(base)/work"]),
            ]
        }
        let out = try run(
            bundle,
            "stat -c %a /scratch; grep ' /scratch ' /proc/mounts | grep -o 'size=1024k'; cat /layered/l.txt; echo; echo up > /layered/u.txt"
        )
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout == "1770\nsize=1024k\nfrom-lower\n", "\(out.stdout)")
        #expect((try? String(contentsOfFile: base + "/upper/u.txt", encoding: .utf8)) == "up\n")
    }

    @Test("linux.devices entries are created with their mode and owner")
    func devices() throws {
        let bundle = try TestBundle {
            $0.linux?.devices = [
                .init(type: "c", path: "/dev/fuse", major: 10, minor: 229, fileMode: 0o640, uid: 1000, gid: 1000)
            ]
        }
        let out = try run(bundle, "stat -c '%A %u %g %t %T' /dev/fuse /dev/null")
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout == "crw-r----- 1000 1000 a e5\ncrw-rw-rw- 0 0 1 3\n", "\(out.stdout)")
    }

    @Test("process user, groups, umask, cwd, env, rlimits, oomScoreAdj, noNewPrivileges")
    func processSettings() throws {
        let bundle = try TestBundle {
            $0.process?.user = Spec.User(uid: 1000, gid: 1000, umask: 0o027, additionalGids: [5, 100])
            $0.process?.cwd = "/home/apus/work"
            $0.process?.env = ["PATH=/bin:/usr/bin", "GREETING=hello world"]
            $0.process?.rlimits = [
                .init(type: "RLIMIT_NOFILE", hard: 2048, soft: 512), .init(type: "RLIMIT_NPROC", hard: 300, soft: 200),
            ]
            $0.process?.oomScoreAdj = 500
            $0.process?.noNewPrivileges = true
        }
        let out = try run(
            bundle,
            "id; umask; pwd; echo $GREETING; ulimit -n; ulimit -Hn; ulimit -u; cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status"
        )
        #expect(out.status == 0, "\(out.stderr)")
        #expect(
            out.stdout == """
                uid=1000(apus) gid=1000(apus) groups=5(tty),100
                0027
                /home/apus/work
                hello world
                512
                2048
                200
                500
                NoNewPrivs:\t1

                """, "\(out.stdout)")
    }

    @Test("process.terminal with --console-socket sends the pty master (recvtty protocol)")
    func consoleSocket() throws {
        let bundle = try TestBundle { $0.process?.terminal = true }
        try bundle.command("sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; stat -c %t:%T /dev/console")
        let socket = bundle.path + "/console.sock"
        let id = uniqueID("tty")
        let (receiver, pipe) = try startPtyReceiver(socket: socket, withMessage: true)
        let created = try apus("create", "--bundle", bundle.path, "--console-socket", socket, id)
        #expect(created.status == 0, "\(created.all)")
        defer { _ = try? apus("delete", "--force", id) }
        #expect(try apus("start", id).status == 0)
        receiver.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("/dev/ptmx"), "fd name: \(text)")
        #expect(text.contains("/dev/pts/0"), "\(text)")
        #expect(text.contains("stdin-is-tty"), "\(text)")
        #expect(text.contains("88:0"), "/dev/console is the pty slave: \(text)")
    }

    @Test("foreground run with a terminal proxies the pty")
    func foregroundTerminal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            try Test.cancel("foreground terminal: util-linux `script` is missing")
        }
        let bundle = try TestBundle { $0.process?.terminal = true }
        try bundle.command("sh", "-c", "tty; echo exit-soon; exit 3")
        let command = "\(Env.apus ?? "") --root \(Env.stateRoot) run --bundle \(bundle.path) \(uniqueID("fgtty"))"
        let out = try sh("/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(out.status == 3, "\(out.all)")
        #expect(out.stdout.contains("/dev/pts/0"), "\(out.stdout)")
        #expect(out.stdout.contains("exit-soon"))
    }

    @Test("read-only root, masked and read-only paths")
    func readonlyAndMasked() throws {
        let bundle = try TestBundle()
        let out = try run(
            bundle,
            "touch /x 2>&1 | grep -c Read-only; cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; (echo 1 > /proc/sys/kernel/hostname) 2>&1 | grep -c Read-only"
        )
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout == "1\n0\n0\n1\n", "\(out.stdout)")
    }

    /// Runs the bundle, with the new mount API (open_tree, fsopen, mount_setattr) or with
    /// those syscalls failing ENOSYS, as on kernels before 5.12.
    func run(_ bundle: TestBundle, newMountAPI: Bool, _ script: String) throws -> Output {
        try bundle.command("sh", "-c", script)
        let args = ["run", "--bundle", bundle.path, uniqueID("mountapi")]
        return newMountAPI ? try apusArgs(args) : try apusWithout(syscalls: newMountAPISyscalls, args)
    }

    @Test(
        "readonlyPaths: EROFS, the mount's nosuid/nodev/noexec kept, a symlink not followed",
        arguments: [true, false])
    func readonlyPathsKeepFlags(newMountAPI: Bool) throws {
        let host = NSTemporaryDirectory() + "apus-ro-\(UInt32.random(in: 0..<UInt32.max))"
        for dir in ["ro/inner", "target"] {
            try FileManager.default.createDirectory(atPath: host + "/" + dir, withIntermediateDirectories: true)
        }
        try FileManager.default.createSymbolicLink(atPath: host + "/link", withDestinationPath: "/data/target")
        defer { try? FileManager.default.removeItem(atPath: host) }
        let bundle = try TestBundle {
            $0.mounts? += [
                .init(
                    destination: "/data", type: "bind", source: host, options: ["rbind", "nosuid", "nodev", "noexec"]),
                .init(destination: "/data/ro/inner", type: "tmpfs", source: "tmpfs", options: ["size=1m"]),
            ]
            $0.linux?.readonlyPaths?.append(contentsOf: ["/data/ro", "/data/link"])
        }
        let out = try run(
            bundle, newMountAPI: newMountAPI,
            """
            touch /data/ro/x 2>&1 | grep -o 'Read-only file system'
            grep ' /data/ro ' /proc/self/mountinfo | cut -d' ' -f6
            touch /data/target/through-link && echo target-writable
            readlink /data/link
            (echo 1 > /proc/sys/kernel/hostname) 2>&1 | grep -o 'Read-only file system'
            touch /data/ro/inner/y 2>&1 | grep -o 'Read-only file system' || echo inner-writable
            """)
        #expect(out.status == 0, "\(out.all)")
        let lines = out.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 6, "\(out.all)")
        #expect(lines.first == "Read-only file system")
        #expect(lines.dropFirst().first == "ro,nosuid,nodev,noexec,relatime", "\(out.stdout)")
        #expect(lines.dropFirst(2).first == "target-writable", "the symlink's target was made read-only")
        #expect(lines.dropFirst(3).first == "/data/target")
        #expect(lines.dropFirst(4).first == "Read-only file system")
        // mount_setattr(AT_RECURSIVE) reaches mounts below a read-only path; the remount
        // fallback, like runc, only the bind itself.
        #expect(lines.last == (newMountAPI ? "Read-only file system" : "inner-writable"), "\(out.stdout)")
        #expect(!FileManager.default.fileExists(atPath: host + "/ro/x"))
        #expect(FileManager.default.fileExists(atPath: host + "/target/through-link"))
    }

    @Test("tmpcopyup: the tmpfs starts with the rootfs's files, modes, owners and symlinks", arguments: [true, false])
    func tmpcopyup(newMountAPI: Bool) throws {
        let bundle = try copyUpBundle(options: ["tmpcopyup", "nosuid", "nodev", "size=1m"])
        let out = try run(
            bundle, newMountAPI: newMountAPI,
            """
            stat -c '%n %A %u:%g' /copy /copy/file /copy/sub /copy/sub/inner /copy/passwd-link /copy/up-link
            readlink /copy/passwd-link; readlink /copy/up-link
            cat /copy/file /copy/sub/inner
            echo changed > /copy/file && echo added > /copy/added && echo wrote
            grep ' /copy ' /proc/self/mountinfo | cut -d' ' -f6
            grep ' /copy ' /proc/self/mountinfo | sed 's/.* - //' | cut -d' ' -f1,2
            """)
        #expect(out.status == 0, "\(out.all)")
        #expect(
            out.stdout == """
                /copy drwxrwx--T 0:0
                /copy/file -rw-r----- 0:0
                /copy/sub drwxr-x--- 0:0
                /copy/sub/inner -rwsr-xr-x 1000:1000
                /copy/passwd-link lrwxrwxrwx 0:0
                /copy/up-link lrwxrwxrwx 0:0
                /etc/passwd
                ../../..
                top
                inner
                wrote
                rw,nosuid,nodev,relatime
                tmpfs tmpfs

                """, "\(out.all)")
        // The writes went to the tmpfs, not to the bundle.
        #expect(try String(contentsOfFile: bundle.rootfs + "/copy/file", encoding: .utf8) == "top\n")
        #expect(!FileManager.default.fileExists(atPath: bundle.rootfs + "/copy/added"))
    }

    @Test(
        "tmpcopyup with ro and mode=: copied, then read-only; an explicit mode wins; a missing target is a plain tmpfs")
    func tmpcopyupReadOnly() throws {
        let bundle = try copyUpBundle(options: ["tmpcopyup", "ro", "mode=700"])
        bundle.spec.mounts?.append(.init(destination: "/fresh", type: "tmpfs", source: "tmpfs", options: ["tmpcopyup"]))
        try bundle.save()
        let out = try run(
            bundle,
            "cat /copy/sub/inner; stat -c %a /copy /fresh; touch /copy/x 2>&1 | grep -o 'Read-only file system'; touch /fresh/y && echo fresh-rw"
        )
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout == "inner\n700\n1777\nRead-only file system\nfresh-rw\n", "\(out.all)")
    }

    @Test("--no-pivot uses MS_MOVE and chroot")
    func noPivot() throws {
        let bundle = try TestBundle()
        try bundle.command("sh", "-c", "cat /etc/hostname; ls / | grep -cx bin")
        let out = try apus("run", "--no-pivot", "--bundle", bundle.path, uniqueID("nopivot"))
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout == "apus\n1\n")
    }

    @Test("--preserve-fds passes extra fds; other fds are closed")
    func preserveFds() throws {
        let bundle = try TestBundle()
        try bundle.command("sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '")
        // fd 3 is given by bash; fd 4 is opened too but not preserved.
        let command =
            "exec 3</dev/null 4</dev/null; \(Env.apus ?? "") --root \(Env.stateRoot) run --preserve-fds 1 --bundle \(bundle.path) \(uniqueID("fds"))"
        let out = try sh("/bin/bash", ["-c", command])
        #expect(out.status == 0, "\(out.stderr)")
        // 0-2, 3 (preserved), and 4: the lowest free fd, which ls opens to read the
        // directory. A leaked fd 4 would push that one to 5.
        #expect(out.stdout == "0 1 2 3 4 ", "\(out.stdout)")
    }

    @Test("recursive mount attributes (rro) reach nested mounts")
    func recursiveReadOnly() throws {
        let host = NSTemporaryDirectory() + "apus-rro-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: host + "/inner", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: host) }
        let bundle = try TestBundle {
            $0.mounts? += [
                .init(destination: "/outer", type: "bind", source: host, options: ["rbind", "rw"]),
                .init(destination: "/outer/inner", type: "tmpfs", source: "tmpfs", options: ["size=1m"]),
            ]
        }
        bundle.spec.root?.readonly = false
        try bundle.save()
        // The host dir is bound again at /view with rro: read-only there,
        // while /outer stays writable.
        bundle.spec.mounts?.append(.init(destination: "/view", type: "bind", source: host, options: ["rbind", "rro"]))
        try bundle.save()
        let out = try run(bundle, "touch /view/x 2>&1 | grep -c Read-only; touch /outer/inner/y && echo inner-rw")
        #expect(out.stdout == "1\ninner-rw\n", "\(out.all)")
    }

    @Test("a rootless container: `apus spec --rootless` and `apus run` as nobody")
    func rootless() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            try Test.cancel("rootless: util-linux setpriv is missing")
        }
        let bundle = try TestBundle()
        let runtimeDir = NSTemporaryDirectory() + "apus-rootless-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: runtimeDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runtimeDir) }
        try FileManager.default.removeItem(atPath: bundle.path + "/config.json")
        for path in [bundle.path, runtimeDir] { _ = try sh("/bin/chown", ["-R", "65534:65534", path]) }
        let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        let env = ["XDG_RUNTIME_DIR": runtimeDir, "PATH": "/usr/bin:/bin"]
        let spec = try sh(
            "/usr/bin/setpriv", asNobody + [Env.apus ?? "", "spec", "--rootless", "--bundle", bundle.path],
            environment: env)
        #expect(spec.status == 0, "\(spec.all)")
        bundle.spec = try Spec.decode(Data(contentsOf: URL(fileURLWithPath: bundle.path + "/config.json")))
        bundle.spec.process?.terminal = false
        bundle.spec.process?.args = ["sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '"]
        try bundle.save()
        _ = try sh("/bin/chown", ["65534:65534", bundle.path + "/config.json"])
        let out = try sh(
            "/usr/bin/setpriv", asNobody + [Env.apus ?? "", "run", "--bundle", bundle.path, uniqueID("rootless")],
            environment: env)
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout == "0\n 0 65534 1\n", "\(out.stdout)")

        // A root config run by nobody: the error says what is missing and how to get it.
        let namespaces = bundle.spec.linux?.namespaces?.filter { $0.type != .user }
        bundle.spec.linux?.namespaces = namespaces
        bundle.spec.linux?.uidMappings = nil
        bundle.spec.linux?.gidMappings = nil
        try bundle.save()
        let rootful = try sh(
            "/usr/bin/setpriv", asNobody + [Env.apus ?? "", "run", "--bundle", bundle.path, uniqueID("rootless")],
            environment: env)
        #expect(rootful.status != 0)
        #expect(rootful.stderr.contains("apus spec --rootless"), "\(rootful.stderr)")
        // State went to $XDG_RUNTIME_DIR/apus, and is gone after the foreground run.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: runtimeDir + "/apus"))?.isEmpty ?? true)
    }
}

/// Id-mapped bind mounts: file owners on disk appear shifted through the mount's mappings
/// (or the container's, for a bare "idmap"), without chown.
@Suite("id-mapped mounts", .integration)
struct IDMappedMountTests {
    typealias Mapping = Spec.Linux.IDMapping

    /// A host dir with /a owned by 0:0 and /b by 1000:1000; removed by the caller.
    func hostDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "apus-idmap-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        FileManager.default.createFile(atPath: dir + "/a", contents: nil)
        FileManager.default.createFile(atPath: dir + "/b", contents: nil)
        chown(dir + "/b", 1000, 1000)
        return dir
    }

    @Test("mounts[].uidMappings shift on-disk owners in a container without a user namespace")
    func explicitMappings() throws {
        let dir = try hostDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bundle = try TestBundle {
            $0.mounts?.append(
                Spec.Mount(
                    destination: "/data", type: "bind", source: dir, options: ["rbind"],
                    uidMappings: [Mapping(containerID: 0, hostID: 100_000, size: 65536)],
                    gidMappings: [Mapping(containerID: 0, hostID: 200_000, size: 65536)]))
        }
        try bundle.command("sh", "-c", "stat -c '%n %u %g' /data/a /data/b")
        let out = try apus("run", "--bundle", bundle.path, uniqueID("idmap"))
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout == "/data/a 100000 200000\n/data/b 101000 201000\n", "\(out.all)")
    }

    @Test(
        "\"idmap\" takes the user namespace's mappings: container root owns what host root owns",
        arguments: [true, false])
    func containerMappings(idmap: Bool) throws {
        let dir = try hostDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bundle = try TestBundle {
            $0.linux?.namespaces?.append(.init(type: .user))
            $0.linux?.uidMappings = [Mapping(containerID: 0, hostID: 100_000, size: 65536)]
            $0.linux?.gidMappings = [Mapping(containerID: 0, hostID: 100_000, size: 65536)]
            // A cgroup v1 bind needs privilege over the host's cgroupfs.
            $0.mounts = $0.mounts?.filter { $0.type != "cgroup" }
            $0.mounts?.append(
                Spec.Mount(
                    destination: "/data", type: "bind", source: dir, options: ["rbind"] + (idmap ? ["idmap"] : [])))
        }
        // Container root maps to host 100000, which may not create the target in a root-owned rootfs.
        try FileManager.default.createDirectory(atPath: bundle.rootfs + "/data", withIntermediateDirectories: true)
        try bundle.command("sh", "-c", "stat -c '%n %u %g' /data/a /data/b; touch /data/new 2>&1; echo touched")
        let out = try apus("run", "--bundle", bundle.path, uniqueID("idmapns"))
        #expect(out.status == 0, "\(out.all)")
        if idmap {
            #expect(out.stdout.hasPrefix("/data/a 0 0\n/data/b 1000 1000\n"), "\(out.all)")
            // Written by container root through the mapping: owned by host root on disk.
            var st = stat()
            #expect(stat(dir + "/new", &st) == 0 && st.st_uid == 0, "\(out.all)")
        } else {
            // The control: without the id mapping host root's files belong to nobody.
            #expect(out.stdout.hasPrefix("/data/a 65534 65534\n/data/b 65534 65534\n"), "\(out.all)")
        }
    }

    @Test("an id-mapped mount that is not a bind mount is refused, naming the mount")
    func notABind() throws {
        let bundle = try TestBundle {
            $0.mounts?.append(Spec.Mount(destination: "/data", type: "tmpfs", source: "tmpfs", options: ["idmap"]))
        }
        try bundle.command("true")
        let id = uniqueID("idmapbad")
        let out = try apus("run", "--bundle", bundle.path, id)
        #expect(out.status != 0)
        #expect(out.stderr.contains(".mounts[7]") && out.stderr.contains("bind"), "\(out.stderr)")
        #expect(!FileManager.default.fileExists(atPath: Env.stateRoot + "/" + id))
    }
}
