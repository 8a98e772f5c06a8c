import CApus
import Glibc
import OCI

/// What this host offers a container runtime (`apus info`). Every fact is probed: a
/// syscall that answers ENOSYS or not, a file the kernel writes, a namespace a child
/// tries to create. Nothing is inferred from the kernel version, which backports and
/// distribution patches make unreliable.
public struct HostFacts: Sendable {
    public var kernel: Kernel
    public var cgroups: Cgroups
    public var namespaces: [Namespace]
    public var userNamespaces: UserNamespaces
    public var seccomp: Seccomp
    public var securityModules: SecurityModules
    public var facilities: [Facility]

    public struct Kernel: Sendable, Equatable {
        public var release: String
        public var version: String
        public var machine: String
    }

    public struct Hierarchy: Sendable, Equatable {
        public var version: CgroupVersion
        public var mountpoint: String
        public var controllers: [String]
    }

    /// Where apus writes one part of `linux.resources`.
    public struct Placement: Sendable, Equatable {
        public var controller: String
        /// What needs the controller: a config.json field, or a command.
        public var usedBy: String
        /// nil: no hierarchy has the controller, and a config that sets the field fails.
        public var version: CgroupVersion?
        public var mountpoint: String?
    }

    public struct Cgroups: Sendable, Equatable {
        /// nil when no cgroup filesystem is mounted (`error` says why).
        public var layout: CgroupLayoutKind?
        public var error: String?
        /// v1 hierarchies in mountinfo order, then the cgroup v2 one.
        public var hierarchies: [Hierarchy]
        public var placements: [Placement]
    }

    public struct Namespace: Sendable, Equatable {
        public var kind: Spec.Linux.Namespace.Kind
        /// The kernel has this namespace type (/proc/self/ns/<name> exists).
        public var available: Bool
    }

    public struct UserNamespaces: Sendable, Equatable {
        /// /proc/sys/user/max_user_namespaces; 0 forbids them for everyone.
        public var max: Int?
        /// Debian's and Ubuntu's kernel.unprivileged_userns_clone; nil on kernels without the patch.
        public var unprivilegedClone: Bool?
        /// Ubuntu 23.10+'s kernel.apparmor_restrict_unprivileged_userns; nil when absent.
        public var apparmorRestricted: Bool?
        /// errno of unshare(CLONE_NEWUSER) tried by a child of this process; 0 when it worked.
        public var createErrno: Int32
        public var canCreate: Bool { createErrno == 0 }
    }

    public struct Seccomp: Sendable, Equatable {
        /// prctl(PR_GET_SECCOMP) works: the kernel has CONFIG_SECCOMP.
        public var kernel: Bool
        /// SECCOMP_SET_MODE_FILTER exists (CONFIG_SECCOMP_FILTER).
        public var filter: Bool
        /// The seccomp mode apus itself runs in: 2 when a filter already applies to it
        /// (apus inside a container), and so to every container it starts.
        public var currentMode: Int32?
        /// SCMP_ACT_* names apus translates that the kernel also has.
        public var actions: [String]
        /// SECCOMP_FILTER_FLAG_* names of config.json the kernel accepts.
        public var flags: [String]
        /// "major.minor.micro" of the linked libseccomp.
        public var libseccomp: String?
        /// libseccomp's API level, which it derives from what the kernel supports.
        public var libseccompAPI: UInt32
    }

    public struct SecurityModules: Sendable, Equatable {
        /// /sys/kernel/security/lsm; nil when securityfs is not mounted or not readable.
        public var active: [String]?
        /// The checks ProcessAttributes makes before applying a profile or label.
        public var apparmor: Bool
        public var selinux: Bool
    }

    /// A kernel facility apus uses (or could), and what happens without it.
    public struct Facility: Sendable, Equatable {
        public var name: String
        /// The first mainline kernel that has it, for the hint.
        public var since: String
        public var available: Bool
        /// errno of the probe (0 when the probe call succeeded).
        public var probeErrno: Int32
        public var usedByApus: Bool
        /// What apus does with it, or why it does not use it.
        public var use: String
        /// What a container loses on a kernel without it.
        public var without: String
    }

    public static func probe() -> HostFacts {
        HostFacts(
            kernel: probeKernel(), cgroups: probeCgroups(),
            namespaces: Spec.Linux.Namespace.Kind.allCases.map {
                Namespace(kind: $0, available: access("/proc/self/ns/" + $0.procName, F_OK) == 0)
            },
            userNamespaces: probeUserNamespaces(), seccomp: probeSeccomp(), securityModules: probeSecurityModules(),
            facilities: probeFacilities())
    }

    // MARK: - Kernel

    static func probeKernel() -> Kernel {
        var names = utsname()
        guard uname(&names) == 0 else { return Kernel(release: "unknown", version: "unknown", machine: "unknown") }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return Kernel(release: text(names.release), version: text(names.version), machine: text(names.machine))
    }

    // MARK: - Cgroups

    /// The parts of `linux.resources` and the controller each needs (Plan.swift), in config order.
    static let resourceControllers: [(controller: String, usedBy: String)] = [
        ("cpuset", ".linux.resources.cpu.cpus and .mems"),
        ("devices", ".linux.resources.devices"),
        ("memory", ".linux.resources.memory"),
        ("cpu", ".linux.resources.cpu"),
        ("pids", ".linux.resources.pids"),
        ("blkio", ".linux.resources.blockIO"),
        ("hugetlb", ".linux.resources.hugepageLimits"),
        ("net_cls", ".linux.resources.network.classID"),
        ("net_prio", ".linux.resources.network.priorities"),
        ("rdma", ".linux.resources.rdma"),
        ("freezer", "apus pause/resume"),
    ]

    static func probeCgroups() -> Cgroups {
        let layout: CgroupLayout
        do {
            layout = try CgroupLayout.detect()
        } catch {
            return Cgroups(layout: nil, error: error.description, hierarchies: [], placements: [])
        }
        return cgroups(layout: layout, v2Controllers: layout.unified.map(readV2Controllers) ?? [])
    }

    static func readV2Controllers(_ mountpoint: String) -> [String] {
        (FileIO.readString(mountpoint + "/cgroup.controllers") ?? "").split(separator: " ").map {
            String($0).trimmed
        }.filter { !$0.isEmpty }
    }

    /// The facts for a layout, apart from reading the host (unit-testable).
    public static func cgroups(layout: CgroupLayout, v2Controllers: [String]) -> Cgroups {
        var hierarchies: [Hierarchy] = []
        for mountpoint in layout.v1Order {
            let controllers = layout.v1.filter { $0.value == mountpoint }.map(\.key).sorted()
            hierarchies.append(Hierarchy(version: .v1, mountpoint: mountpoint, controllers: controllers))
        }
        if let unified = layout.unified {
            hierarchies.append(Hierarchy(version: .v2, mountpoint: unified, controllers: v2Controllers))
        }
        let v2 = Set(v2Controllers)
        let placement = CgroupPlacement(
            layout: layout.kind, v1Controllers: Set(layout.v1.keys), v2Controllers: v2)
        let placements = resourceControllers.map { controller, usedBy in
            var version = placement.version(of: controller)
            // CgroupPlacement leaves the v2 check of a pure v2 host to the write; here it is
            // known. devices (eBPF) and freezer (cgroup.freeze) are part of cgroup v2 itself.
            if layout.kind == .unified, !v2.contains(CgroupPlacement.v2Name(controller)),
                controller != "devices", controller != "freezer"
            {
                version = nil
            }
            // net_cls and net_prio have no v2 counterpart (Network.swift).
            if version == .v2, controller == "net_cls" || controller == "net_prio" { version = nil }
            let mountpoint = version.flatMap { $0 == .v1 ? layout.v1[controller] : layout.unified }
            return Placement(controller: controller, usedBy: usedBy, version: version, mountpoint: mountpoint)
        }
        return Cgroups(layout: layout.kind, error: nil, hierarchies: hierarchies, placements: placements)
    }

    // MARK: - User namespaces

    static func probeUserNamespaces() -> UserNamespaces {
        func number(_ path: String) -> Int? { FileIO.readString(path).flatMap { Int($0.trimmed) } }
        return UserNamespaces(
            max: number("/proc/sys/user/max_user_namespaces"),
            unprivilegedClone: number("/proc/sys/kernel/unprivileged_userns_clone").map { $0 != 0 },
            apparmorRestricted: number("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").map { $0 != 0 },
            createErrno: KernelProbe.unshare(APUS_CLONE_NEWUSER))
    }

    // MARK: - Seccomp

    /// SECCOMP_RET_ACTION_FULL: SECCOMP_GET_ACTION_AVAIL wants the action without its data.
    static let actionMask: UInt32 = 0xffff_0000

    static func probeSeccomp() -> Seccomp {
        let mode = apus_prctl(21 /* PR_GET_SECCOMP */, 0, 0, 0, 0)
        let filter = KernelProbe.seccompFlags(0) == EFAULT
        let actions = SeccompFilter.supportedActions.filter { name in
            guard filter, let value = try? SeccompFilter.action(name, errnoRet: nil, field: "") else { return false }
            return KernelProbe.seccompAction(value & actionMask) == 0
        }
        var version: String? = nil
        if let v = seccomp_version() {
            version = "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
        }
        return Seccomp(
            kernel: mode >= 0, filter: filter, currentMode: mode >= 0 ? mode : nil, actions: actions,
            flags: filter ? supportedSeccompFlags() : [], libseccomp: version, libseccompAPI: seccomp_api_get())
    }

    /// The config.json seccomp flags this kernel accepts. apus loads filters with seccomp(2)
    /// itself, so libseccomp's version does not limit them.
    public static func supportedSeccompFlags() -> [String] {
        knownSeccompFlags.filter { _, bit in
            // The kernel refuses WAIT_KILLABLE_RECV without NEW_LISTENER (EINVAL) whether
            // or not it knows the flag; `compile` only passes it with a listener.
            let flags = bit == SeccompFilter.waitKillableRecv ? bit | SeccompFilter.newListener : bit
            return KernelProbe.seccompFlags(flags) == EFAULT
        }.map(\.key).sorted()
    }

    // MARK: - Security modules

    static func probeSecurityModules() -> SecurityModules {
        let active = FileIO.readString("/sys/kernel/security/lsm").map {
            $0.trimmed.split(separator: ",").map(String.init)
        }
        return SecurityModules(
            active: active,
            apparmor: FileIO.readString("/sys/module/apparmor/parameters/enabled")?.trimmed == "Y",
            selinux: access("/sys/fs/selinux/enforce", F_OK) == 0)
    }

    // MARK: - Facilities

    static func probeFacilities() -> [Facility] {
        // EPERM: a seccomp filter around apus (inside a container) denies the call; for
        // apus that is the same as a kernel without it.
        func present(_ code: Int32) -> Bool { code != ENOSYS && code != EPERM }
        let openat2 = KernelProbe.openat2()
        let pidfd = KernelProbe.pidfdOpen()
        let closeRange = KernelProbe.closeRange()
        let mountSetattr = KernelProbe.mountSetattr()
        let openTree = KernelProbe.openTree()
        let clone3 = KernelProbe.clone3()
        let idmap = MountOption.idmap(recursive: false).isImplemented
        return [
            Facility(
                name: "openat2", since: "5.6", available: present(openat2), probeErrno: openat2, usedByApus: true,
                use: "resolves every rootfs path with RESOLVE_IN_ROOT",
                without: "no container can be created: apus has no fallback"),
            Facility(
                name: "pidfd_open", since: "5.3", available: present(pidfd), probeErrno: pidfd, usedByApus: true,
                use: "signals and waits for container init and hooks",
                without:
                    "signals go by pid after a start-time check, hook timeouts are not enforced, delete --force does not kill init"
            ),
            Facility(
                name: "close_range", since: "5.11", available: closeRange == 0, probeErrno: closeRange,
                usedByApus: true, use: "CLOSE_RANGE_CLOEXEC keeps runtime fds out of the container",
                without: "fds are marked close-on-exec one by one from /proc/self/fd"),
            Facility(
                name: "mount_setattr", since: "5.12", available: present(mountSetattr), probeErrno: mountSetattr,
                usedByApus: true, use: "recursive mount options (rro, rnosuid, rnodev, rnoexec, ratime ...)",
                without: "mounts with recursive options fail"),
            Facility(
                name: "idmapped mounts", since: "5.12", available: present(openTree) && present(mountSetattr),
                probeErrno: present(openTree) ? mountSetattr : openTree, usedByApus: idmap,
                use: idmap
                    ? "open_tree + mount_setattr(MOUNT_ATTR_IDMAP) for mounts with uidMappings/gidMappings"
                    : "not implemented yet: the idmap option and mounts[].uidMappings are not applied",
                without: "mounts cannot be id-mapped"),
            Facility(
                name: "clone3", since: "5.3", available: present(clone3), probeErrno: clone3, usedByApus: false,
                use: "init is started with clone(2)", without: "nothing, for apus"),
        ]
    }
}
