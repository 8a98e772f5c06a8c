import CApus
import Glibc
import OCI

/// The runc extension `tmpcopyup` (podman adds it to the tmpfs mounts it asks for): the
/// tmpfs starts with a copy of what the rootfs has in the directory it covers. runc mounts
/// the tmpfs on a scratch directory of the host and copies by path; apus builds the tmpfs
/// detached (fsopen/fsmount, Linux 5.2), fills it through fds and moves it onto the
/// target, so nothing is resolved outside the rootfs and no symlink is ever followed.
extension Rootfs {
    static let tmpfsMagic = 0x0102_1994
    /// Two fds stay open per directory level; a deeper tree is refused rather than
    /// running the process out of fds.
    static let copyUpDepthLimit = 128

    /// Mounts a tmpfs with `tmpcopyup`. Returns false, having done nothing, when the
    /// destination does not exist: there is nothing to copy, and the caller mounts a plain
    /// tmpfs (runc then leaves tmpfs's default mode too).
    static func mountTmpfsCopyUp(
        _ entry: Spec.Mount, options: ParsedMountOptions, root: borrowing RootfsDirectory, context: RootfsContext
    ) throws(ApusError) -> Bool {
        let destination = entry.destination
        guard let target = try openIfPresent(destination, root: root) else { return false }
        var covered = stat()
        try sys("tmpcopyup: stat \(destination)") { fstat(target.raw, &covered) }
        // openat(".") walks no path: the same directory, now readable. Opened before any
        // mount covers it.
        let listing = try OwnedFD.open("tmpcopyup: open \(destination)") {
            openat(target.raw, ".", O_RDONLY | APUS_O_DIRECTORY | O_CLOEXEC)
        }
        var detachedMount = try detachedTmpfs(
            options, source: entry.source ?? "tmpfs", label: context.mountLabel, destination: destination)
        let detached = detachedMount != nil
        let mounted =
            switch detachedMount.take() {
            case .some(let fd): fd
            case .none:
                try attachedTmpfs(
                    options, label: context.mountLabel, target: target.raw, covered: covered, root: root,
                    destination: destination)
            }
        let top = try OwnedFD.open("tmpcopyup: open the new tmpfs for \(destination)") {
            openat(mounted.raw, ".", O_RDONLY | APUS_O_DIRECTORY | O_CLOEXEC)
        }
        try copyEntries(from: listing, to: top.raw, path: destination, depth: 0)
        // runc gives the tmpfs the mode of the directory it covers; an explicit mode= wins
        // here. The owner stays the tmpfs's (uid=/gid=, else root), as in runc.
        if !tmpfsSetsMode(options.data) {
            try sys("tmpcopyup: set the mode of \(destination)") { fchmod(top.raw, covered.st_mode & 0o7777) }
        }
        var times = [covered.st_atim, covered.st_mtim]
        try sys("tmpcopyup: set the times of \(destination)") { futimens(top.raw, &times) }
        if detached {
            try sys("move the tmpfs onto \(destination)") { apus_move_mount_onto(mounted.raw, target.raw) }
        }
        if options.flags & msRdonly != 0 {
            // Filled while writable, then read-only, as runc does it.
            let perMount =
                options.flags & (msNosuid | msNodev | msNoexec | msNoatime | msNodiratime | msRelatime | msStrictatime)
                | options.flags & MountFlag.MS_NOSYMFOLLOW
            try sys("remount the tmpfs at \(destination) read-only") {
                apus_mount(nil, procFD(mounted.raw), nil, msRemount | msBind | msRdonly | perMount, nil)
            }
        }
        try applyPropagation(options, destination: destination, root: root)
        return true
    }

    /// The directory `destination` opened as a path; nil when it does not exist.
    static func openIfPresent(_ destination: String, root: borrowing RootfsDirectory) throws(ApusError) -> OwnedFD? {
        do {
            return try root.open(
                destination, flags: APUS_O_PATH | APUS_O_DIRECTORY, step: "tmpcopyup: open \(destination)")
        } catch {
            if error.errno == ENOENT { return nil }
            throw error
        }
    }

    /// A tmpfs not attached anywhere yet, configured as mount(2) would from `options`, or nil
    /// where the kernel (or a seccomp filter around apus) has no fsopen.
    static func detachedTmpfs(
        _ options: ParsedMountOptions, source: String, label: String?, destination: String
    ) throws(ApusError) -> OwnedFD? {
        guard let context = OwnedFD.opening({ apus_fsopen("tmpfs") }) else {
            let code = errno
            if code == ENOSYS { return nil }
            throw ApusError("tmpcopyup: create a tmpfs for \(destination)", errno: code)
        }
        // What mount(2) shows as the source in /proc/self/mountinfo.
        var parameters: [(key: String, value: String?)] = [("source", source)]
        parameters += tmpfsParameters(options.data)
        // The superblock flags of mount(2); the per-mount ones go to fsmount below.
        let superblockFlags: [(UInt, String)] = [
            (MountFlag.MS_SYNCHRONOUS, "sync"), (MountFlag.MS_DIRSYNC, "dirsync"),
            (MountFlag.MS_LAZYTIME, "lazytime"), (MountFlag.MS_MANDLOCK, "mand"),
        ]
        for (flag, name) in superblockFlags where options.flags & flag != 0 { parameters.append((name, nil)) }
        if let label { parameters.append(("context", label)) }
        for (key, value) in parameters {
            if apus_fsconfig_set(context.raw, key, value) < 0 {
                throw kernelError(
                    context.raw, errno: errno,
                    step: "mount tmpfs to \(destination) with \(value.map { key + "=" + $0 } ?? key)"
                )
            }
        }
        if RawSyscall.fsconfigCreate(context.raw) < 0 {
            throw kernelError(context.raw, errno: errno, step: "mount tmpfs to \(destination)")
        }
        var attrs: UInt64 = 0
        let perMount: [(UInt, UInt64)] = [
            (msNosuid, MountAttr.MOUNT_ATTR_NOSUID), (msNodev, MountAttr.MOUNT_ATTR_NODEV),
            (msNoexec, MountAttr.MOUNT_ATTR_NOEXEC), (msNodiratime, MountAttr.MOUNT_ATTR_NODIRATIME),
            (MountFlag.MS_NOSYMFOLLOW, MountAttr.MOUNT_ATTR_NOSYMFOLLOW),
        ]
        for (flag, attr) in perMount where options.flags & flag != 0 { attrs |= attr }
        // mount(2)'s precedence: strictatime over noatime over the relatime default.
        if options.flags & msStrictatime != 0 {
            attrs |= MountAttr.MOUNT_ATTR_STRICTATIME
        } else if options.flags & msNoatime != 0 {
            attrs |= MountAttr.MOUNT_ATTR_NOATIME
        }
        guard let mounted = OwnedFD.opening({ apus_fsmount(context.raw, UInt32(truncatingIfNeeded: attrs)) }) else {
            throw kernelError(context.raw, errno: errno, step: "mount tmpfs to \(destination)")
        }
        return mounted
    }

    /// Without fsopen: mount(2) the tmpfs on the target through its fd, then open the new
    /// mount by path (resolved in the root) and check it is a fresh tmpfs on top of the
    /// directory that `target` is: another device, the same parent.
    static func attachedTmpfs(
        _ options: ParsedMountOptions, label: String?, target: Int32, covered: stat, root: borrowing RootfsDirectory,
        destination: String
    ) throws(ApusError) -> OwnedFD {
        var fsData = options.data
        if let label { fsData.append("context=\"\(label)\"") }
        let data = fsData.isEmpty ? nil : fsData.joinedText(separator: ",")
        try sys("mount tmpfs to \(destination)") {
            apus_mount("tmpfs", procFD(target), "tmpfs", options.flags & ~msRdonly, data)
        }
        let top = try root.open(
            destination, flags: O_RDONLY | APUS_O_DIRECTORY, step: "tmpcopyup: open the new tmpfs at \(destination)")
        var st = stat()
        var parentAbove = stat()
        var parentBelow = stat()
        guard fstat(top.raw, &st) == 0, apus_fs_type(top.raw) == tmpfsMagic, st.st_dev != covered.st_dev,
            fstatat(top.raw, "..", &parentAbove, AT_SYMLINK_NOFOLLOW) == 0,
            fstatat(target, "..", &parentBelow, AT_SYMLINK_NOFOLLOW) == 0,
            parentAbove.st_dev == parentBelow.st_dev, parentAbove.st_ino == parentBelow.st_ino
        else {
            throw ApusError("mount tmpfs to \(destination)", detail: "the path changed while it was mounted")
        }
        return top
    }

    /// tmpfs parameters from `mounts[].options` data, split as mm/shmem.c splits mount(2)
    /// data: at commas, except one followed by a digit, which continues an mpol node list.
    static func tmpfsParameters(_ data: [String]) -> [(key: String, value: String?)] {
        var parameters: [(key: String, value: String?)] = []
        forEachTmpfsParameter(data) { key, value in parameters.append((String(key), value.map(String.init))) }
        return parameters
    }

    /// Whether the data sets tmpfs's `mode`. Without the array of tuples `tmpfsParameters`
    /// returns, whose metadata would be made at run time on every mount of a start.
    static func tmpfsSetsMode(_ data: [String]) -> Bool {
        var found = false
        forEachTmpfsParameter(data) { key, _ in found = found || key == "mode" }
        return found
    }

    private static func forEachTmpfsParameter(_ data: [String], _ body: (Substring, Substring?) -> Void) {
        for option in data {
            var parts: [Substring] = []
            var start = option.startIndex
            var index = option.startIndex
            while index < option.endIndex {
                let next = option.index(after: index)
                if option[index] == ",", next == option.endIndex || !(option[next].isASCII && option[next].isNumber) {
                    parts.append(option[start..<index])
                    start = next
                }
                index = next
            }
            parts.append(option[start...])
            for part in parts where !part.isEmpty {
                if let equals = part.firstIndex(of: "=") {
                    body(part[..<equals], part[part.index(after: equals)...])
                } else {
                    body(part, nil)
                }
            }
        }
    }

    /// The error of an fsconfig/fsmount step, with the kernel's own message from the
    /// filesystem context's log when there is one ("tmpfs: Bad value for 'size'").
    static func kernelError(_ context: Int32, errno code: Int32, step: String) -> ApusError {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(context, $0.baseAddress, $0.count) }
        guard count > 2 else { return ApusError(step, errno: code) }
        var message = String(decoding: buffer[0..<count], as: UTF8.self).trimmed
        if message.hasPrefix("e ") || message.hasPrefix("w ") || message.hasPrefix("i ") {
            message.removeFirst(2)
        }
        return ApusError(step, errno: code, detail: message)
    }

    /// Copies the entries of the directory open as `from` (consumed) into the directory open
    /// as `to`: directories, regular files, symlinks (as symlinks) and device, fifo and
    /// socket nodes, with owner, mode and times. Every lookup is one name relative to an fd,
    /// without following symlinks.
    static func copyEntries(from: consuming OwnedFD, to: Int32, path: String, depth: Int) throws(ApusError) {
        guard let dir = fdopendir(from.raw) else {
            throw ApusError("tmpcopyup: read directory \(path)", errno: errno)
        }
        // The stream owns the descriptor now: closedir closes it.
        _ = from.take()
        defer { closedir(dir) }
        let source = dirfd(dir)
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                let code = errno
                if code != 0 { throw ApusError("tmpcopyup: read directory \(path)", errno: code) }
                return
            }
            // The name's bytes as they are: a String would replace bytes that are not UTF-8.
            let name: [CChar] = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                let bytes = raw.bindMemory(to: CChar.self)
                return Array(bytes[0..<(bytes.firstIndex(of: 0) ?? bytes.count)]) + [0]
            }
            if name == [0] || name == [0x2E, 0] || name == [0x2E, 0x2E, 0] { continue }
            let shown = String(decoding: name.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let inside = path.hasSuffix("/") ? path + shown : path + "/" + shown
            try copyEntry(name, type: entry.pointee.d_type, at: source, into: to, path: inside, depth: depth)
        }
    }

    static func copyEntry(_ name: [CChar], type: UInt8, at source: Int32, into target: Int32, path: String, depth: Int)
        throws(ApusError)
    {
        var kind = mode_t(0)
        switch Int(type) {
        case Int(DT_DIR): kind = S_IFDIR
        case Int(DT_REG): kind = S_IFREG
        default: break
        }
        var st = stat()
        if kind == 0 {
            // Links and nodes are never opened: their metadata comes from the name.
            try sys("tmpcopyup: stat \(path)") { fstatat(source, name, &st, AT_SYMLINK_NOFOLLOW) }
            kind = st.st_mode & S_IFMT
        }
        switch kind {
        case S_IFDIR:
            guard depth < copyUpDepthLimit else {
                throw ApusError("tmpcopyup: copy \(path)", detail: "more than \(copyUpDepthLimit) directory levels")
            }
            let sub = try OwnedFD.open("tmpcopyup: open \(path)") {
                openat(source, name, O_RDONLY | APUS_O_DIRECTORY | APUS_O_NOFOLLOW | O_CLOEXEC)
            }
            if fstat(sub.raw, &st) < 0 || mkdirat(target, name, 0o700) < 0 {
                throw ApusError("tmpcopyup: copy directory \(path)", errno: errno)
            }
            guard
                let made = OwnedFD.opening({
                    openat(target, name, O_RDONLY | APUS_O_DIRECTORY | APUS_O_NOFOLLOW | O_CLOEXEC)
                })
            else { throw ApusError("tmpcopyup: copy directory \(path)", errno: errno) }
            try copyEntries(from: sub, to: made.raw, path: path, depth: depth + 1)
            // After the entries: creating them changed the directory's times.
            try copyMetadata(st, to: made.raw, path: path)
        case S_IFREG:
            try copyFile(name, at: source, into: target, path: path)
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = try sysSize("tmpcopyup: read symlink \(path)") {
                readlinkat(source, name, &buffer, buffer.count)
            }
            guard length < buffer.count else {
                throw ApusError("tmpcopyup: read symlink \(path)", errno: ENAMETOOLONG)
            }
            buffer[length] = 0
            try sys("tmpcopyup: create symlink \(path)") { symlinkat(buffer, target, name) }
            try sys("tmpcopyup: set the owner of \(path)") {
                fchownat(target, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW)
            }
            var times = [st.st_atim, st.st_mtim]
            try sys("tmpcopyup: set the times of \(path)") { utimensat(target, name, &times, AT_SYMLINK_NOFOLLOW) }
        default:
            // Device nodes fail in a user namespace, as with runc.
            try sys("tmpcopyup: create node \(path)") { mknodat(target, name, st.st_mode, st.st_rdev) }
            try sys("tmpcopyup: set the owner of \(path)") {
                fchownat(target, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW)
            }
            // The node is new in a tmpfs only this process can reach: fchmodat cannot be
            // redirected by a symlink there.
            try sys("tmpcopyup: set the mode of \(path)") { fchmodat(target, name, st.st_mode & 0o7777, 0) }
            var times = [st.st_atim, st.st_mtim]
            try sys("tmpcopyup: set the times of \(path)") { utimensat(target, name, &times, AT_SYMLINK_NOFOLLOW) }
        }
    }

    /// A regular file: opened as a path first, so that a name swapped for a device or fifo
    /// since readdir is refused instead of opened, then read through the fd's magic link.
    static func copyFile(_ name: [CChar], at source: Int32, into target: Int32, path: String) throws(ApusError) {
        let handle = try OwnedFD.open("tmpcopyup: open \(path)") {
            openat(source, name, APUS_O_PATH | APUS_O_NOFOLLOW | O_CLOEXEC)
        }
        var st = stat()
        guard fstat(handle.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw ApusError("tmpcopyup: copy \(path)", detail: "it changed while being copied")
        }
        let input = OwnedFD.opening { open(procFD(handle.raw), O_RDONLY | O_CLOEXEC | O_NOCTTY) }
        let openCode = errno
        handle.close()
        guard let input else { throw ApusError("tmpcopyup: open \(path)", errno: openCode) }
        let output = try OwnedFD.open("tmpcopyup: create \(path)") {
            openat(target, name, O_WRONLY | O_CREAT | O_EXCL | APUS_O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        try copyData(from: input.raw, to: output.raw, path: path)
        try copyMetadata(st, to: output.raw, path: path)
    }

    static func copyData(from input: Int32, to output: Int32, path: String) throws(ApusError) {
        while true {
            let sent = retryingEINTR { sendfile(output, input, nil, 1 << 30) }
            if sent > 0 { continue }
            if sent == 0 { return }
            if errno != EINVAL && errno != ENOSYS { throw ApusError("tmpcopyup: copy \(path)", errno: errno) }
            break
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try sysSize("tmpcopyup: read \(path)") {
                buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            }
            if count == 0 { return }
            try FileIO.writeAll(fd: output, bytes: Array(buffer[0..<count]), step: "tmpcopyup: write \(path)")
        }
    }

    /// Owner before mode: chown clears the set-id bits the mode then sets again.
    static func copyMetadata(_ st: stat, to fd: Int32, path: String) throws(ApusError) {
        try sys("tmpcopyup: set the owner of \(path)") { fchown(fd, st.st_uid, st.st_gid) }
        try sys("tmpcopyup: set the mode of \(path)") { fchmod(fd, st.st_mode & 0o7777) }
        var times = [st.st_atim, st.st_mtim]
        try sys("tmpcopyup: set the times of \(path)") { futimens(fd, &times) }
    }
}
