extension Spec {
    /// The spec version `apus spec` writes.
    public static let defaultOCIVersion = "1.3.0"

    /// The config `apus spec` writes: runc 1.5.1's `runc spec` (or `runc spec --rootless`)
    /// with one documented difference: `hostname` is "apus" (runc writes "runc"). Like
    /// runc since 1.2, no ambient capabilities: a non-root user process does not keep
    /// CAP_KILL and friends across execve unless the config asks for them.
    ///
    /// For `rootless`, runc maps container root to the caller's effective uid and gid; OCI
    /// makes no syscalls, so the CLI passes `geteuid()`/`getegid()` as `hostUID`/`hostGID`.
    public static func defaultSpec(rootless: Bool = false, hostUID: UInt32 = 0, hostGID: UInt32 = 0) -> Spec {
        let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        var spec = Spec(
            ociVersion: defaultOCIVersion,
            process: Process(
                terminal: true,
                user: User(uid: 0, gid: 0),
                args: ["sh"],
                env: [
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm",
                ],
                cwd: "/",
                capabilities: Process.Capabilities(
                    bounding: caps, effective: caps, permitted: caps),
                rlimits: [Process.Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)],
                noNewPrivileges: true
            ),
            root: Root(path: "rootfs", readonly: true),
            hostname: "apus",
            mounts: [
                Mount(destination: "/proc", type: "proc", source: "proc"),
                Mount(
                    destination: "/dev", type: "tmpfs", source: "tmpfs",
                    options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
                Mount(
                    destination: "/dev/pts", type: "devpts", source: "devpts",
                    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
                Mount(
                    destination: "/dev/shm", type: "tmpfs", source: "shm",
                    options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
                Mount(
                    destination: "/dev/mqueue", type: "mqueue", source: "mqueue",
                    options: ["nosuid", "noexec", "nodev"]),
                Mount(
                    destination: "/sys", type: "sysfs", source: "sysfs",
                    options: ["nosuid", "noexec", "nodev", "ro"]),
                Mount(
                    destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup",
                    options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
            ],
            linux: Linux(
                resources: Linux.Resources(devices: [.init(allow: false, access: "rwm")]),
                namespaces: [
                    .init(type: .pid), .init(type: .network), .init(type: .ipc), .init(type: .uts),
                    .init(type: .mount),
                ],
                maskedPaths: [
                    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                ],
                readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
            )
        )
        if rootless {
            spec.makeRootless(hostUID: hostUID, hostGID: hostGID)
        }
        return spec
    }

    /// runc's `specconv.ToRootless`: no network namespace but a user namespace mapping root to
    /// the caller, /sys bind-mounted (sysfs cannot be mounted without owning the network
    /// namespace), no uid=/gid= mount options (those ids are not mapped) and no cgroup settings.
    mutating func makeRootless(hostUID: UInt32, hostGID: UInt32) {
        var linux = self.linux ?? Linux()
        var namespaces = (linux.namespaces ?? []).filter { $0.type != .network && $0.type != .user }
        namespaces.append(.init(type: .user))
        linux.namespaces = namespaces
        linux.uidMappings = [.init(containerID: 0, hostID: hostUID, size: 1)]
        linux.gidMappings = [.init(containerID: 0, hostID: hostGID, size: 1)]
        linux.resources = nil
        self.linux = linux
        mounts = mounts?.map { m in
            if m.destination == "/sys" || m.destination == "/sys/" {
                return Mount(
                    destination: "/sys", type: "none", source: "/sys",
                    options: ["rbind", "nosuid", "noexec", "nodev", "ro"])
            }
            var m = m
            if let options = m.options {
                m.options = options.filter { !$0.hasPrefix("gid=") && !$0.hasPrefix("uid=") }
            }
            return m
        }
    }

    /// JSON paths (in `JSONPrinter`'s notation) whose objects are maps, printed with sorted keys
    /// as Go does; every other object is a struct printed in field order.
    private static let mapPaths: Set<String> = [
        ".annotations", ".linux.sysctl", ".linux.resources.unified", ".linux.resources.rdma",
        ".linux.timeOffsets", ".linux.netDevices",
    ]

    /// config.json text laid out like runc's: tab indentation, runtime-spec field order, map
    /// keys sorted, no trailing newline.
    public func encodedSpec() throws -> [UInt8] {
        let tree = try TreeEncoder.encode(self)
        return Array(JSONPrinter.print(tree, sortKeysAt: { Self.mapPaths.contains($0) }).utf8)
    }
}
