import CApus
import Glibc

/// Paths inside the container's rootfs are resolved against an fd of the rootfs
/// with openat2(RESOLVE_IN_ROOT), so a symlink in an untrusted image resolves as if
/// the rootfs were "/" and can never reach the host (CVE-2021-30465 class).
public struct RootfsDirectory: ~Copyable {
    public let fd: Int32
    public let path: String

    public init(path: String) throws(ApusError) {
        self.path = path
        self.fd = try sys("open rootfs \(path)") { Glibc.open(path, APUS_O_PATH | APUS_O_DIRECTORY | O_CLOEXEC) }
    }

    deinit { close(fd) }

    static let resolveInRoot: UInt64 = 0x10  // RESOLVE_IN_ROOT
    static let resolveNoMagiclinks: UInt64 = 0x02  // RESOLVE_NO_MAGICLINKS
    static let resolveNoSymlinks: UInt64 = 0x04  // RESOLVE_NO_SYMLINKS

    /// Opens `inside` (a path in the container) with APUS_O_PATH, resolved within the root.
    public func open(_ inside: String, flags: Int32 = APUS_O_PATH, step: @autoclosure () -> String) throws(ApusError)
        -> Int32
    {
        let relative = Self.relative(inside)
        if relative.isEmpty {
            return try sys(step()) { Glibc.openat(fd, ".", flags | O_CLOEXEC) }
        }
        return try sys(step()) {
            apus_openat2(
                fd, relative, UInt64(flags | O_CLOEXEC), 0,
                Self.resolveInRoot | Self.resolveNoMagiclinks)
        }
    }

    /// The directory `inside` opened with APUS_O_PATH when no component of it is a symlink
    /// (RESOLVE_NO_SYMLINKS: ELOOP otherwise), or -1 with errno. Kernel filesystems must
    /// land exactly where asked.
    public func openDirectoryNoSymlinks(_ inside: String) -> Int32 {
        apus_openat2(
            fd, Self.relative(inside), UInt64(APUS_O_PATH | APUS_O_DIRECTORY | O_CLOEXEC), 0,
            Self.resolveInRoot | Self.resolveNoSymlinks)
    }

    /// Creates every missing directory of `inside` (and, when `file` is true, an
    /// empty file as the last component) without following any symlink out of
    /// the root, and returns an APUS_O_PATH fd of the result.
    public func create(_ inside: String, file: Bool, mode: mode_t = 0o755, step: @autoclosure () -> String)
        throws(ApusError) -> Int32
    {
        // Most targets exist already (proc, dev, sys in any image): one openat2
        // instead of a mkdirat per component.
        let existing = apus_openat2(
            fd, Self.relative(inside), UInt64(APUS_O_PATH | O_CLOEXEC) | (file ? 0 : UInt64(APUS_O_DIRECTORY)), 0,
            Self.resolveInRoot | Self.resolveNoMagiclinks)
        if existing >= 0 { return existing }
        let relativePath = Self.relative(inside)
        if !file, errno == ENOENT, let slash = relativePath.lastIndex(of: "/") {
            // Usually only the last directory is missing (dev/pts, dev/shm): make it in its
            // parent and resolve the whole path again, as the walk below would.
            let parent = apus_openat2(
                fd, String(relativePath[..<slash]), UInt64(APUS_O_PATH | APUS_O_DIRECTORY | O_CLOEXEC), 0,
                Self.resolveInRoot | Self.resolveNoMagiclinks)
            if parent >= 0 {
                let made = mkdirat(parent, String(relativePath[relativePath.index(after: slash)...]), mode)
                let code = errno
                close(parent)
                if made < 0 && code != EEXIST { throw ApusError(step(), errno: code) }
                return try sys(step()) {
                    apus_openat2(
                        fd, relativePath, UInt64(APUS_O_PATH | APUS_O_DIRECTORY | O_CLOEXEC), 0,
                        Self.resolveInRoot | Self.resolveNoMagiclinks)
                }
            }
        }
        let parts = Self.relative(inside).split(separator: "/").map(String.init)
        var dirfd = try sys(step()) { Glibc.openat(fd, ".", APUS_O_PATH | APUS_O_DIRECTORY | O_CLOEXEC) }
        var walked = ""
        for (index, part) in parts.enumerated() {
            let last = index == parts.count - 1
            walked += "/" + part
            if last && file {
                // APUS_O_PATH cannot create; open for creation then reopen as a path.
                let created = apus_openat2(
                    fd, Self.relative(walked), UInt64(O_CREAT | O_WRONLY | O_CLOEXEC | O_NOCTTY), 0o644,
                    Self.resolveInRoot | Self.resolveNoMagiclinks)
                if created >= 0 {
                    close(created)
                } else if errno != EISDIR && errno != EEXIST && errno != ETXTBSY && errno != EACCES {
                    let code = errno
                    close(dirfd)
                    throw ApusError(step(), errno: code)
                }
            } else if mkdirat(dirfd, part, mode) < 0 && errno != EEXIST {
                let code = errno
                close(dirfd)
                throw ApusError(step(), errno: code)
            }
            let next = apus_openat2(
                fd, Self.relative(walked),
                UInt64(APUS_O_PATH | O_CLOEXEC) | (last && file ? 0 : UInt64(APUS_O_DIRECTORY)),
                0, Self.resolveInRoot | Self.resolveNoMagiclinks)
            let code = errno
            close(dirfd)
            if next < 0 { throw ApusError(step(), errno: code) }
            dirfd = next
        }
        return dirfd
    }

    static func relative(_ inside: String) -> String {
        var s = Substring(inside)
        while s.hasPrefix("/") { s = s.dropFirst() }
        while s.hasSuffix("/") { s = s.dropLast() }
        return String(s)
    }
}

/// The kernel path of an open fd, usable as a mount source or target: the
/// magic link keeps the resolution that openat2 did.
@inline(__always)
public func procFD(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

/// Joins a container path onto the host rootfs path for messages and for
/// mounts whose target was already resolved safely.
public func lexicalJoin(_ root: String, _ inside: String) -> String {
    let rel = RootfsDirectory.relative(inside)
    return rel.isEmpty ? root : root + "/" + rel
}
