import CApus
import Glibc
import OCI

/// The container's view of its cgroups, for `"type": "cgroup"` mounts: the host
/// directories of the container's own cgroup in each hierarchy.
public struct CgroupMountView: Sendable {
    /// cgroup v1: (name under /sys/fs/cgroup, host directory of the container's cgroup).
    public var v1: [(name: String, hostDirectory: String)]
    /// cgroup v2 (pure unified hosts): host directory of the container's cgroup.
    public var unified: String?

    public init(v1: [(name: String, hostDirectory: String)], unified: String?) {
        self.v1 = v1
        self.unified = unified
    }

    /// No cgroup of the container's own (rootless without cgroups): on a pure v2 host
    /// the cgroup2 mount still works in a cgroup namespace, and its fallback binds the
    /// whole hierarchy (runc's source when it has no container cgroup); on v1 the tmpfs
    /// stays empty.
    public static func withoutContainerCgroup() -> CgroupMountView {
        let unified = access(CgroupLayout.cgroupRoot + "/cgroup.controllers", F_OK) == 0
        return CgroupMountView(v1: [], unified: unified ? CgroupLayout.cgroupRoot : nil)
    }
}

/// Everything the mount step needs to know besides config.json.
public struct RootfsContext {
    public var bundle: String
    public var rootfs: String
    public var cgroups: CgroupMountView
    public var inUserNamespace: Bool
    /// The container has a cgroup namespace (new or joined), entered before the mounts.
    public var cgroupNamespace: Bool = false
    /// Mount index → the id-mapped tree the runtime prepared (`IDMappedMounts`).
    public var idmappedTrees: [Int: Int32]
    /// `linux.mountLabel` when the host has SELinux: the `context=` of the filesystems
    /// mounted for the container.
    public var mountLabel: String? = nil
    public var warn: (String) -> Void

    public init(
        bundle: String, rootfs: String, cgroups: CgroupMountView, inUserNamespace: Bool,
        idmappedTrees: [Int: Int32] = [:], warn: @escaping (String) -> Void
    ) {
        self.bundle = bundle
        self.rootfs = rootfs
        self.cgroups = cgroups
        self.inUserNamespace = inUserNamespace
        self.idmappedTrees = idmappedTrees
        self.warn = warn
    }
}

let msRdonly: UInt = 1
let msNosuid: UInt = 2
let msNodev: UInt = 4
let msNoexec: UInt = 8
let msRemount: UInt = 32
let msBind: UInt = 4096
let msMove: UInt = 8192
let msRec: UInt = 16384
let msPrivate: UInt = 1 << 18
let msSlave: UInt = 1 << 19
let msShared: UInt = 1 << 20
let msUnbindable: UInt = 1 << 17
let msStrictatime: UInt = 1 << 24
let msRelatime: UInt = 1 << 21
let msNoatime: UInt = 1024
let msNodiratime: UInt = 2048

/// Setup of the container's mount namespace, one function per step, called in
/// this order by `ContainerInit`: prepareRoot → mountAll → populateDev →
/// pivotRoot → (console) → readonlyPaths → maskPaths → finishRoot.
public enum Rootfs {
    /// Propagation flags from `linux.rootfsPropagation` (validated by OCI).
    public static func propagationFlags(_ value: String?) -> UInt {
        switch value {
        case "shared": return msShared
        case "rshared": return msShared | msRec
        case "slave": return msSlave
        case "rslave": return msSlave | msRec
        case "private": return msPrivate
        case "unbindable": return msUnbindable
        case "runbindable": return msUnbindable | msRec
        default: return msPrivate | msRec
        }
    }

    /// Makes the whole tree private (or what `rootfsPropagation` asks) so nothing
    /// we mount propagates back to the host, then binds the rootfs onto itself so
    /// it is a mount point pivot_root can use.
    public static func prepareRoot(_ spec: Spec, context: RootfsContext) throws(ApusError) -> RootfsDirectory {
        var flags = propagationFlags(spec.linux?.rootfsPropagation)
        // Shared propagation of "/" would leak our mounts to the host; start
        // from rslave and apply the requested mode to the new root at the end.
        if flags & msShared != 0 { flags = msSlave | msRec }
        // An unbindable tree cannot be the source of the bind below (EINVAL): start from
        // rprivate; finishRoot makes the new root unbindable, as runc 1.5 and crun do.
        if flags & msUnbindable != 0 { flags = msPrivate | msRec }
        try sys("make / \(flags & msSlave != 0 ? "rslave" : "private")", field: ".linux.rootfsPropagation") {
            apus_mount(nil, "/", nil, flags | msRec, nil)
        }
        try sys("bind rootfs \(context.rootfs) onto itself", field: ".root.path") {
            apus_mount(context.rootfs, context.rootfs, nil, msBind | msRec, nil)
        }
        return try RootfsDirectory(path: context.rootfs)
    }

    /// `beforeCgroupMounts` runs once, before the first mount that shows cgroups (a cgroup
    /// or cgroup2 mount, a bind from /sys): the container's cgroup directories exist from
    /// then on (`InitContext.cgroupFinishedAfterClone`).
    public static func mountAll(
        _ spec: Spec, root: borrowing RootfsDirectory, context: RootfsContext,
        beforeCgroupMounts: () throws(ApusError) -> Void = {}
    ) throws(ApusError) {
        var cgroupsReady = false
        for (index, entry) in (spec.mounts ?? []).enumerated() {
            if !cgroupsReady
                && (entry.type == "cgroup" || entry.type == "cgroup2" || (entry.source ?? "").hasPrefix("/sys"))
            {
                try beforeCgroupMounts()
                cgroupsReady = true
            }
            do {
                try mountEntry(entry, root: root, context: context, idmappedTree: context.idmappedTrees[index])
            } catch {
                throw error.with(field: ".mounts[\(index)]")
            }
        }
    }

    static func mountEntry(
        _ entry: Spec.Mount, root: borrowing RootfsDirectory, context: RootfsContext, idmappedTree: Int32? = nil
    ) throws(ApusError) {
        let options = parseMountOptions(entry.options ?? [])
        let type = entry.type ?? ""
        let isBind = options.isBind || type == "bind"
        let destination = entry.destination
        if isBind {
            try bindMount(entry, options: options, root: root, context: context, idmappedTree: idmappedTree)
        } else if type == "cgroup" || type == "cgroup2" {
            try mountCgroups(entry, options: options, root: root, context: context)
        } else if type == "tmpfs", options.tmpcopyup,
            try mountTmpfsCopyUp(entry, options: options, root: root, context: context)
        {
            return
        } else {
            // Kernel filesystems must land exactly where asked: a symlinked /proc
            // would leave the real procfs unmasked (CVE-2019-19921, CVE-2025-52565).
            let strict = ["proc", "sysfs", "devpts", "mqueue"].contains(type)
            var fsData = options.data
            // runc gives a tmpfs without mode= the mode of the directory it covers (a chmod
            // after the mount; docker's --tmpfs /run shows 755, not tmpfs's 1777); a target
            // runc has to create keeps 1777. Here it is a mount option: no extra syscall, and
            // a read-only tmpfs gets it too.
            if type == "tmpfs", !tmpfsSetsMode(options.data),
                let mode = coveredMode(destination, root: root)
            {
                fsData.append("mode=" + String(mode, radix: 8))
            }
            let target = try createTarget(destination, root: root, file: false, noSymlinks: strict, type: type)
            let source = entry.source ?? type
            // runc's rule: every new filesystem but the ones that take no context= option.
            if let label = context.mountLabel, !["proc", "sysfs", "mqueue"].contains(type) {
                fsData.append("context=\"\(label)\"")
            }
            let data = fsData.isEmpty ? nil : fsData.joinedText(separator: ",")
            try sys("mount \(type) to \(destination)") {
                apus_mount(source, procFD(target.raw), type, options.flags, data)
            }
            try applyPropagation(options, destination: destination, root: root)
        }
    }

    /// The permission bits of the directory at `destination`, or nil when there is none.
    static func coveredMode(_ destination: String, root: borrowing RootfsDirectory) -> mode_t? {
        guard let fd = try? root.open(destination, flags: APUS_O_PATH | APUS_O_DIRECTORY, step: "") else { return nil }
        var covered = stat()
        guard fstat(fd.raw, &covered) == 0 else { return nil }
        return covered.st_mode & 0o7777
    }

    static func createTarget(
        _ destination: String, root: borrowing RootfsDirectory, file: Bool, noSymlinks: Bool, type: String
    ) throws(ApusError) -> OwnedFD {
        if !noSymlinks {
            return try root.create(destination, file: file, step: "create mount target \(destination)")
        }
        // Opened without following any symlink: the target must be a real directory. Most
        // exist (proc, sys in any image): then this one openat2 is all.
        func refused(_ code: Int32) -> ApusError {
            ApusError(
                "mount \(type) to \(destination)", errno: code,
                detail: code == ELOOP ? "the target must not be a symlink" : nil)
        }
        if let strict = root.openDirectoryNoSymlinks(destination) { return strict }
        if errno == ENOENT {
            let step = "create mount target \(destination)"
            let relative = RootfsDirectory.relative(destination)
            do {
                if let made = try root.makeLastDirectory(relative, mode: 0o755, noSymlinks: true, step: step) {
                    return made
                }
            } catch  where error.errno == ELOOP {
                throw refused(ELOOP)
            }
            try root.create(destination, file: file, step: step).close()
            if let strict = root.openDirectoryNoSymlinks(destination) { return strict }
        }
        throw refused(errno)
    }

    static func bindMount(
        _ entry: Spec.Mount, options: ParsedMountOptions, root: borrowing RootfsDirectory, context: RootfsContext,
        idmappedTree: Int32? = nil
    ) throws(ApusError) {
        guard var source = entry.source, !source.isEmpty else {
            throw ApusError("bind mount to \(entry.destination)", detail: "no source given")
        }
        if !source.hasPrefix("/") { source = context.bundle + "/" + source }
        var st = stat()
        if stat(source, &st) < 0 {
            throw ApusError("bind mount \(source) to \(entry.destination)", errno: errno, detail: "source")
        }
        let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
        let target = try createTarget(
            entry.destination, root: root, file: !isDirectory, noSymlinks: false, type: "bind")
        let recursive = options.isRecursiveBind
        if let idmappedTree {
            // Init's copy of the tree the runtime opened (inherited at clone): init owns it.
            let idmappedTree = OwnedFD(adopting: idmappedTree)
            try sys("move id-mapped mount \(source) to \(entry.destination)") {
                apus_move_mount_onto(idmappedTree.raw, target.raw)
            }
        } else {
            try sys("bind mount \(source) to \(entry.destination)") {
                apus_mount(source, procFD(target.raw), nil, msBind | (recursive ? msRec : 0), nil)
            }
        }
        // MS_BIND ignores the other flags: apply them with a remount of the new
        // mount, keeping the flags the kernel locks (nosuid/nodev/noexec) when
        // the source mount has them, or the remount fails in a user namespace.
        let wanted = options.flags & ~(msBind | msRec | msRemount)
        if wanted != 0 {
            let mounted = try root.open(entry.destination, step: "open bind mount \(entry.destination)")
            var vfs = statvfs()
            var locked: UInt = 0
            if fstatvfs(mounted.raw, &vfs) == 0 {
                locked = UInt(vfs.f_flag) & (msNosuid | msNodev | msNoexec | msNoatime | msNodiratime | msRelatime)
            }
            try sys("remount \(entry.destination) with \(entry.options ?? [])") {
                apus_mount(nil, procFD(mounted.raw), nil, msBind | msRemount | wanted | locked, nil)
            }
        }
        try applyPropagation(options, destination: entry.destination, root: root)
    }

    static func applyPropagation(_ options: ParsedMountOptions, destination: String, root: borrowing RootfsDirectory)
        throws(ApusError)
    {
        if options.hasRecursiveAttrs {
            // rro, rnosuid, ...: mount_setattr applies them to the whole subtree
            // (Linux 5.12), which a remount cannot.
            let mounted = try root.open(destination, step: "open mount \(destination)")
            try sys("set recursive mount attributes of \(destination)") {
                apus_mount_setattr(
                    mounted.raw, "", UInt32(APUS_AT_EMPTY_PATH | APUS_AT_RECURSIVE),
                    options.recursiveAttrSet, options.recursiveAttrClear, 0, -1)
            }
        }
        if options.propagation.isEmpty { return }
        let mounted = try root.open(destination, step: "open mount \(destination)")
        for flag in options.propagation {
            try sys("set propagation of \(destination)") { apus_mount(nil, procFD(mounted.raw), nil, flag, nil) }
        }
    }

    /// cgroup mounts as runc does them: v2 → a cgroup2 filesystem of the container's
    /// cgroup namespace (or a bind of the container's cgroup); v1 → a tmpfs with one
    /// read-only bind of the container's cgroup per hierarchy.
    static func mountCgroups(
        _ entry: Spec.Mount, options: ParsedMountOptions, root: borrowing RootfsDirectory, context: RootfsContext
    ) throws(ApusError) {
        let destination = entry.destination
        if let unified = context.cgroups.unified {
            try mountCgroup2(entry, options: options, containerCgroup: unified, root: root, context: context)
            return
        }
        let target = try createTarget(destination, root: root, file: false, noSymlinks: true, type: "cgroup")
        // runc leaves the tmpfs itself writable (only the hierarchies are read-only); so
        // does apus, so the container sees the same mounts.
        let tmpfsFlags = options.flags & ~(msRdonly | msBind | msRec)
        try sys("mount tmpfs for cgroups to \(destination)") {
            apus_mount("tmpfs", procFD(target.raw), "tmpfs", tmpfsFlags, "mode=755")
        }
        if context.cgroups.v1.isEmpty { return }
        // The tmpfs just mounted is the container's own and empty, and nothing runs in the
        // container yet: names below its root are ours, so they are reached through the magic
        // link of its root, three syscalls a hierarchy instead of a safe walk from the rootfs
        // for each (about 19).
        guard let tmpfs = root.openDirectoryNoSymlinks(destination) else {
            throw ApusError("open the cgroup tmpfs at \(destination)", errno: errno)
        }
        let flags = msBind | msRemount | (options.flags & (msNosuid | msNodev | msNoexec | msRdonly | msRelatime))
        for hierarchy in context.cgroups.v1 {
            let inside = destination + "/" + hierarchy.name
            guard !hierarchy.name.isEmpty, !hierarchy.name.contains("/"), hierarchy.name != "..",
                hierarchy.name != "."
            else { throw ApusError("create cgroup mount point \(inside)", detail: "not a plain name") }
            if mkdirat(tmpfs.raw, hierarchy.name, 0o755) < 0 {
                throw ApusError("create cgroup mount point \(inside)", errno: errno)
            }
            let mountPoint = procFD(tmpfs.raw) + "/" + hierarchy.name
            try sys("bind cgroup \(hierarchy.hostDirectory) to \(inside)") {
                apus_mount(hierarchy.hostDirectory, mountPoint, nil, msBind, nil)
            }
            try sys("remount cgroup \(inside)") { apus_mount(nil, mountPoint, nil, flags, nil) }
        }
    }

    /// Pure cgroup v2. With a cgroup namespace, a new cgroup2 mount: its root is the
    /// namespace's root, which init created after joining the container's cgroup, so the
    /// container sees its own cgroup as / (cgroup.controllers, /proc/self/cgroup `0::/`).
    /// Mounting needs CAP_SYS_ADMIN in the user namespace that owns the cgroup namespace
    /// and fails with EPERM otherwise (a cgroup namespace joined from another user
    /// namespace); EBUSY means the target is already the root of a mount of the same
    /// cgroup2 superblock (e.g. a bound host /sys). Then, as runc does, a bind of the
    /// container's cgroup. Without a cgroup namespace runc and crun mount cgroup2 anyway,
    /// which shows the host's whole hierarchy; apus binds the container's cgroup instead,
    /// the view a cgroup namespace would give.
    static func mountCgroup2(
        _ entry: Spec.Mount, options: ParsedMountOptions, containerCgroup: String, root: borrowing RootfsDirectory,
        context: RootfsContext
    ) throws(ApusError) {
        let destination = entry.destination
        let target = try createTarget(destination, root: root, file: false, noSymlinks: true, type: "cgroup2")
        if context.cgroupNamespace {
            let flags = options.flags & ~(msBind | msRec | msRemount)
            let data = options.data.isEmpty ? nil : options.dataString
            if apus_mount("cgroup2", procFD(target.raw), "cgroup2", flags, data) == 0 {
                try applyPropagation(options, destination: destination, root: root)
                return
            }
            let code = errno
            if code != EPERM && code != EBUSY {
                throw ApusError("mount cgroup2 to \(destination)", errno: code)
            }
        }
        try sys("bind cgroup \(containerCgroup) to \(destination)") {
            apus_mount(containerCgroup, procFD(target.raw), nil, msBind | msRec, nil)
        }
        // MS_BIND ignores the other flags. The remount must name the new bind mount
        // itself (`target` still refers to the directory under it: EINVAL), and keep
        // the flags the kernel locks when the source mount has them (in a user namespace).
        let wanted = options.flags & (msNosuid | msNodev | msNoexec | msRdonly | msRelatime | msNoatime | msStrictatime)
        if wanted != 0 {
            let mounted = try root.open(destination, step: "open cgroup mount \(destination)")
            var vfs = statvfs()
            var locked: UInt = 0
            if fstatvfs(mounted.raw, &vfs) == 0 {
                locked = UInt(vfs.f_flag) & (msNosuid | msNodev | msNoexec)
            }
            try sys("remount cgroup \(destination)") {
                apus_mount(nil, procFD(mounted.raw), nil, msBind | msRemount | wanted | locked, nil)
            }
        }
        try applyPropagation(options, destination: destination, root: root)
    }

    /// Default devices, `linux.devices`, /dev/ptmx and the /dev/fd links, when
    /// /dev is a fresh tmpfs of ours (runc skips this for a bind-mounted /dev).
    public static func populateDev(_ spec: Spec, root: borrowing RootfsDirectory, context: RootfsContext)
        throws(ApusError)
    {
        let mounts = spec.mounts ?? []
        guard
            mounts.contains(where: {
                $0.destination == "/dev" && $0.type != "bind" && !parseMountOptions($0.options ?? []).isBind
            })
        else { return }
        let oldMask = umask(0)
        defer { umask(oldMask) }
        let defaults: [(String, UInt32, UInt32)] = [
            ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
            ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
        ]
        // One fd of /dev for every node and link directly in it.
        let dev = try root.open("/dev", flags: APUS_O_PATH | APUS_O_DIRECTORY, step: "open /dev")
        var configured = Set<String>()
        for (index, device) in (spec.linux?.devices ?? []).enumerated() {
            configured.insert(device.path)
            let mode: UInt32
            switch device.type {
            case "c", "u": mode = UInt32(S_IFCHR)
            case "b": mode = UInt32(S_IFBLK)
            case "p": mode = UInt32(S_IFIFO)
            default:
                throw ApusError(
                    "create device \(device.path)", detail: "unknown type \"\(device.type)\"",
                    field: ".linux.devices[\(index)].type")
            }
            do {
                try makeDevice(
                    device.path, mode: mode | (device.fileMode ?? 0o666) & 0o7777,
                    major: UInt32(clamping: device.major ?? 0), minor: UInt32(clamping: device.minor ?? 0),
                    uid: device.uid ?? 0, gid: device.gid ?? 0, dev: dev, root: root, context: context)
            } catch {
                throw error.with(field: ".linux.devices[\(index)]")
            }
        }
        for (path, major, minor) in defaults where !configured.contains(path) {
            try makeDevice(
                path, mode: UInt32(S_IFCHR) | 0o666, major: major, minor: minor, uid: 0, gid: 0, dev: dev,
                root: root, context: context)
        }
        let links: [(String, String)] = [
            ("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx"),
        ]
        for (target, name) in links {
            if symlinkat(target, dev.raw, name) < 0 && errno != EEXIST {
                throw ApusError("create symlink /dev/\(name)", errno: errno)
            }
        }
        if access("/proc/kcore", F_OK) == 0 && symlinkat("/proc/kcore", dev.raw, "core") < 0 && errno != EEXIST {
            throw ApusError("create symlink /dev/core", errno: errno)
        }
    }

    static func makeDevice(
        _ path: String, mode: UInt32, major: UInt32, minor: UInt32, uid: UInt32, gid: UInt32,
        dev: borrowing OwnedFD, root: borrowing RootfsDirectory, context: RootfsContext
    ) throws(ApusError) {
        guard path.hasPrefix("/dev/") else {
            throw ApusError("create device \(path)", detail: "devices must be under /dev")
        }
        let parentPath = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let name = String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
        let nested: OwnedFD? =
            parentPath == "/dev"
            ? nil : try root.create(parentPath, file: false, step: "create directory \(parentPath)")
        let parent = nested.rawOrNil ?? dev.raw
        if !context.inUserNamespace {
            let rc = mknodat(parent, name, mode_t(mode), dev_t(apus_makedev(major, minor)))
            if rc == 0 {
                if fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 {
                    throw ApusError("chown device \(path)", errno: errno)
                }
                return
            }
            if errno == EEXIST { return }
            if errno != EPERM { throw ApusError("create device \(path)", errno: errno) }
        }
        // In a user namespace mknod is not allowed: bind the host's node instead.
        do {
            let created = OwnedFD.opening {
                openat(parent, name, O_CREAT | O_WRONLY | O_CLOEXEC | APUS_O_NOFOLLOW, 0o666)
            }
            if created == nil && errno != EEXIST { throw ApusError("create device \(path)", errno: errno) }
        }
        let target = try root.open(path, step: "open device \(path)")
        try sys("bind device \(path) from the host") { apus_mount(path, procFD(target.raw), nil, msBind, nil) }
    }

    /// pivot_root into the rootfs and detach the old root. pivot_root(".", ".")
    /// stacks the old root on "/", so no directory has to be created for it.
    public static func pivotRoot(into rootfs: String) throws(ApusError) {
        try sys("chdir to rootfs \(rootfs)", field: ".root.path") { chdir(rootfs) }
        try sys("pivot_root into \(rootfs)") { RawSyscall.pivotRoot(".", ".") }
        // Make the old root rslave so its unmount cannot propagate to the host.
        try sys("make old root rslave") { apus_mount(nil, ".", nil, msSlave | msRec, nil) }
        try sys("detach old root") { apus_umount2(".", 2 /* MNT_DETACH */) }
        try sys("chdir to /") { chdir("/") }
    }

    /// `--no-pivot`: move the rootfs onto / and chroot, for roots (ramfs/initramfs)
    /// where pivot_root is not allowed.
    public static func moveRoot(into rootfs: String) throws(ApusError) {
        try sys("chdir to rootfs \(rootfs)", field: ".root.path") { chdir(rootfs) }
        try sys("move rootfs onto /") { apus_mount(rootfs, "/", nil, msMove, nil) }
        try sys("chroot into rootfs") { chroot(".") }
        try sys("chdir to /") { chdir("/") }
    }

    /// `linux.readonlyPaths`: each path is covered by a read-only, recursive clone of its own
    /// mount tree. Every step after the one open acts on fds, so a path swapped in between
    /// cannot redirect it; mount_setattr changes only MOUNT_ATTR_RDONLY, so the clone keeps
    /// nosuid/nodev/noexec and the atime setting of the original without a statfs to read
    /// them. A symlink is not followed: the link itself is covered, its target stays as is.
    public static func readonlyPaths(_ paths: [String]) throws(ApusError) {
        var newMountAPI = true
        for (index, path) in paths.enumerated() {
            let field = ".linux.readonlyPaths[\(index)]"
            guard let opened = OwnedFD.opening({ Glibc.open(path, APUS_O_PATH | O_CLOEXEC | APUS_O_NOFOLLOW) }) else {
                let code = errno
                if code == ENOENT { continue }
                throw ApusError("make \(path) read-only", errno: code, field: field)
            }
            // The path's fd and its clone end together (one close_range).
            var held = OwnedFDs()
            let fd = held.hold(opened)
            if newMountAPI {
                var tree: Int32 = -1
                if let clone = OwnedFD.opening({
                    apus_open_tree(
                        fd, "",
                        UInt32(APUS_OPEN_TREE_CLONE | APUS_OPEN_TREE_CLOEXEC | APUS_AT_RECURSIVE | APUS_AT_EMPTY_PATH))
                }) {
                    tree = held.hold(clone)
                }
                var code = errno
                if tree >= 0 {
                    let readonly = apus_mount_setattr(
                        tree, "", UInt32(APUS_AT_EMPTY_PATH | APUS_AT_RECURSIVE), MountAttr.MOUNT_ATTR_RDONLY, 0, 0, -1)
                    code = errno
                    if readonly == 0 {
                        try sys("mount the read-only clone of \(path) over it", field: field) {
                            apus_move_mount_onto(tree, fd)
                        }
                        continue
                    }
                }
                // open_tree is Linux 5.2, mount_setattr 5.12.
                if code != ENOSYS {
                    let step = tree < 0 ? "clone the mount at \(path)" : "make the clone of \(path) read-only"
                    throw ApusError(step, errno: code, field: field)
                }
                newMountAPI = false
            }
            try remountReadonly(fd, path: path, field: field)
        }
    }

    /// readonlyPaths before Linux 5.12: bind the path onto itself and remount the bind
    /// read-only, naming both by the magic links of fds. `fd` names the mount under the new
    /// bind, so the path is opened again and checked to be the same inode on another mount.
    /// A remount replaces the per-mount flags: the ones the mount has are read and kept.
    static func remountReadonly(_ fd: Int32, path: String, field: String) throws(ApusError) {
        try sys("bind \(path) onto itself", field: field) {
            apus_mount(procFD(fd), procFD(fd), nil, msBind | msRec, nil)
        }
        let mounted = try OwnedFD.open("open \(path) after binding it", field: field) {
            Glibc.open(path, APUS_O_PATH | O_CLOEXEC | APUS_O_NOFOLLOW)
        }
        var below: (dev: UInt64, ino: UInt64, mount: UInt64) = (0, 0, 0)
        var above: (dev: UInt64, ino: UInt64, mount: UInt64) = (0, 0, 0)
        guard apus_file_identity(fd, &below.dev, &below.ino, &below.mount) == 0,
            apus_file_identity(mounted.raw, &above.dev, &above.ino, &above.mount) == 0,
            below.dev == above.dev, below.ino == above.ino,
            // Mount ids are Linux 5.8; before, the inode check stands alone.
            below.mount == 0 || below.mount != above.mount
        else {
            throw ApusError("make \(path) read-only", detail: "the path changed while it was bound", field: field)
        }
        var vfs = statvfs()
        var keep: UInt = msNosuid | msNodev | msNoexec
        if fstatvfs(mounted.raw, &vfs) == 0 {
            keep = UInt(vfs.f_flag) & (msNosuid | msNodev | msNoexec | msNoatime | msNodiratime | msRelatime)
        }
        try sys("remount \(path) read-only", field: field) {
            apus_mount(nil, procFD(mounted.raw), nil, msBind | msRemount | msRdonly | keep, nil)
        }
    }

    /// `linux.maskedPaths`: files are covered with /dev/null, directories with a
    /// read-only tmpfs. /dev/null is checked to be the real 1:3 character device
    /// first, so a rootfs cannot redirect the mask (CVE-2025-31133).
    public static func maskPaths(_ paths: [String]) throws(ApusError) {
        if paths.isEmpty { return }
        guard let null = OwnedFD.opening({ Glibc.open("/dev/null", APUS_O_PATH | O_CLOEXEC | APUS_O_NOFOLLOW) }) else {
            throw ApusError("open /dev/null to mask paths", errno: errno, field: ".linux.maskedPaths")
        }
        var st = stat()
        guard fstat(null.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFCHR, apus_major(UInt64(st.st_rdev)) == 1,
            apus_minor(UInt64(st.st_rdev)) == 3
        else {
            throw ApusError("mask paths", detail: "/dev/null is not the null device", field: ".linux.maskedPaths")
        }
        for (index, path) in paths.enumerated() {
            guard let fd = OwnedFD.opening({ Glibc.open(path, APUS_O_PATH | O_CLOEXEC | APUS_O_NOFOLLOW) }) else {
                if errno == ENOENT { continue }
                throw ApusError("mask \(path)", errno: errno, field: ".linux.maskedPaths[\(index)]")
            }
            var target = stat()
            fstat(fd.raw, &target)
            if (target.st_mode & S_IFMT) == S_IFDIR {
                // One page and one inode (the root), as runc 1.5 does: even a process that
                // could remount it read-write finds no room to keep anything there.
                try sys("mask directory \(path)", field: ".linux.maskedPaths[\(index)]") {
                    apus_mount("tmpfs", procFD(fd.raw), "tmpfs", msRdonly, "size=4k,nr_inodes=1")
                }
            } else {
                try sys("mask \(path)", field: ".linux.maskedPaths[\(index)]") {
                    apus_mount(procFD(null.raw), procFD(fd.raw), nil, msBind, nil)
                }
            }
        }
    }

    /// stdio that is the host's /dev/null becomes the container's own (runc's
    /// reOpenDevNull): a descriptor of a host mount inside the container is one CRIU cannot
    /// dump ("Can't lookup mount … path=/dev/null"), and the host's device node is not the
    /// container's to hold. Run after pivot_root; a container without /dev/null keeps its stdio.
    public static func reopenDevNull() throws(ApusError) {
        guard let null = OwnedFD.opening({ Glibc.open("/dev/null", O_RDWR | O_CLOEXEC) }) else { return }
        var own = stat()
        guard fstat(null.raw, &own) == 0, (own.st_mode & S_IFMT) == S_IFCHR else { return }
        for fd: Int32 in 0...2 {
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFCHR, st.st_rdev == own.st_rdev else { continue }
            try sys("reopen /dev/null as fd \(fd)") { apus_dup3(null.raw, fd, 0) }
        }
    }

    /// `root.readonly` and the final propagation of the new root.
    public static func finishRoot(_ spec: Spec) throws(ApusError) {
        if spec.root?.readonly == true {
            var vfs = statvfs()
            var keep: UInt = 0
            if statvfs("/", &vfs) == 0 {
                keep = UInt(vfs.f_flag) & (msNosuid | msNodev | msNoexec | msNoatime | msNodiratime | msRelatime)
            }
            try sys("remount / read-only", field: ".root.readonly") {
                apus_mount(nil, "/", nil, msBind | msRemount | msRdonly | keep, nil)
            }
        }
        if let propagation = spec.linux?.rootfsPropagation {
            try sys("set propagation of / to \(propagation)", field: ".linux.rootfsPropagation") {
                apus_mount(nil, "/", nil, propagationFlags(propagation), nil)
            }
        }
    }
}

extension MountOption {
    /// Whether a mount step acts on the option; `apus features` lists only these.
    public var isImplemented: Bool {
        switch self {
        case .flag, .propagation, .recursiveAttr, .ignored, .idmap, .tmpcopyup: return true
        }
    }
}
