import CApus
import Glibc

/// Paths inside the container's rootfs are resolved against an fd of the rootfs
/// with openat2(RESOLVE_IN_ROOT), so a symlink in an untrusted image resolves as if
/// the rootfs were "/" and can never reach the host (CVE-2021-30465 class).
public struct RootfsDirectory: ~Copyable {
    private let handle: OwnedFD
    public var fd: Int32 { handle.raw }
    public let path: String

    public init(path: String) throws(ApusError) {
        self.path = path
        self.handle = try OwnedFD.open("open rootfs \(path)") {
            Glibc.open(path, APUS_O_PATH | APUS_O_DIRECTORY | O_CLOEXEC)
        }
    }

    static let resolveInRoot: UInt64 = 0x10  // RESOLVE_IN_ROOT
    static let resolveNoMagiclinks: UInt64 = 0x02  // RESOLVE_NO_MAGICLINKS
    static let resolveNoSymlinks: UInt64 = 0x04  // RESOLVE_NO_SYMLINKS
    static let resolveBeneath: UInt64 = 0x08  // RESOLVE_BENEATH

    /// Opens `inside` (a path in the container) with APUS_O_PATH, resolved within the root.
    public func open(_ inside: String, flags: Int32 = APUS_O_PATH, step: @autoclosure () -> String) throws(ApusError)
        -> OwnedFD
    {
        let relative = Self.relative(inside)
        if relative.isEmpty {
            return try OwnedFD.open(step()) { Glibc.openat(fd, ".", flags | O_CLOEXEC) }
        }
        return try OwnedFD.open(step()) {
            apus_openat2(
                fd, relative, UInt64(flags | O_CLOEXEC), 0,
                Self.resolveInRoot | Self.resolveNoMagiclinks)
        }
    }

    /// The directory `inside` opened with APUS_O_PATH when no component of it is a symlink
    /// (RESOLVE_NO_SYMLINKS: ELOOP otherwise), or nil with errno. Kernel filesystems must
    /// land exactly where asked.
    public func openDirectoryNoSymlinks(_ inside: String) -> OwnedFD? {
        OwnedFD.opening {
            apus_openat2(
                fd, Self.relative(inside), UInt64(APUS_O_PATH | APUS_O_DIRECTORY | O_CLOEXEC), 0,
                Self.resolveInRoot | Self.resolveNoSymlinks)
        }
    }

    /// Creates every missing directory of `inside` (and, when `file` is true, an
    /// empty file as the last component) without following any symlink out of
    /// the root, and returns an APUS_O_PATH fd of the result.
    public func create(_ inside: String, file: Bool, mode: mode_t = 0o755, step: @autoclosure () -> String)
        throws(ApusError) -> OwnedFD
    {
        // Most targets exist already (proc, dev, sys in any image): one openat2
        // instead of a mkdirat per component.
        let relativePath = Self.relative(inside)
        if let existing = openInRoot(relativePath, directory: !file) { return existing }
        if !file, errno == ENOENT {
            // Usually only the last directory is missing (dev/pts, dev/shm): make it in its
            // parent. A missing parent falls through to the walk below.
            if let made = try makeLastDirectory(relativePath, mode: mode, noSymlinks: false, step: step()) {
                return made
            }
        }
        let parts = relativePath.split(separator: "/").map(String.init)
        var dirfd = try OwnedFD.open(step()) { Glibc.openat(fd, ".", APUS_O_PATH | APUS_O_DIRECTORY | O_CLOEXEC) }
        var walked = ""
        for (index, part) in parts.enumerated() {
            let last = index == parts.count - 1
            walked += "/" + part
            if last && file {
                // APUS_O_PATH cannot create; open for creation then reopen as a path.
                let created = OwnedFD.opening {
                    apus_openat2(
                        fd, Self.relative(walked), UInt64(O_CREAT | O_WRONLY | O_CLOEXEC | O_NOCTTY), 0o644,
                        Self.resolveInRoot | Self.resolveNoMagiclinks)
                }
                let code = errno
                if created == nil && code != EISDIR && code != EEXIST && code != ETXTBSY && code != EACCES {
                    throw ApusError(step(), errno: code)
                }
            } else if mkdirat(dirfd.raw, part, mode) < 0 && errno != EEXIST {
                let code = errno
                throw ApusError(step(), errno: code)
            }
            guard let next = openInRoot(Self.relative(walked), directory: !(last && file)) else {
                let code = errno
                throw ApusError(step(), errno: code)
            }
            dirfd = next
        }
        return dirfd
    }

    /// Makes the last directory of `relative` in its parent and returns an APUS_O_PATH fd of
    /// it, or nil when the path has no parent or the parent is missing. The new directory is opened from the parent
    /// without following a symlink, so nothing swapped in after the mkdirat is followed;
    /// one made by someone else in between is resolved from the root again. With
    /// `noSymlinks` no component of the parent may be a symlink either.
    func makeLastDirectory(_ relative: String, mode: mode_t, noSymlinks: Bool, step: @autoclosure () -> String)
        throws(ApusError) -> OwnedFD?
    {
        guard let slash = relative.lastIndex(of: "/") else { return nil }
        let resolve = Self.resolveInRoot | (noSymlinks ? Self.resolveNoSymlinks : Self.resolveNoMagiclinks)
        let directory = UInt64(APUS_O_PATH | APUS_O_DIRECTORY | O_CLOEXEC)
        guard let parent = OwnedFD.opening({ apus_openat2(fd, String(relative[..<slash]), directory, 0, resolve) })
        else {
            if errno == ENOENT { return nil }
            let code = errno
            throw ApusError(step(), errno: code)
        }
        let name = String(relative[relative.index(after: slash)...])
        let opened: OwnedFD?
        if mkdirat(parent.raw, name, mode) == 0 {
            opened = OwnedFD.opening {
                apus_openat2(parent.raw, name, directory, 0, Self.resolveBeneath | Self.resolveNoSymlinks)
            }
        } else if errno == EEXIST {
            opened = OwnedFD.opening { apus_openat2(fd, relative, directory, 0, resolve) }
        } else {
            opened = nil
        }
        let code = errno
        parent.close()
        guard let opened else { throw ApusError(step(), errno: code) }
        return opened
    }

    /// `relative` opened with APUS_O_PATH in the root (a directory when `directory`), no magic
    /// links; nil with errno.
    private func openInRoot(_ relative: String, directory: Bool) -> OwnedFD? {
        OwnedFD.opening {
            apus_openat2(
                fd, relative, UInt64(APUS_O_PATH | O_CLOEXEC) | (directory ? UInt64(APUS_O_DIRECTORY) : 0), 0,
                Self.resolveInRoot | Self.resolveNoMagiclinks)
        }
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
