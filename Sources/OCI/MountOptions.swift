// runc's mount option table (libcontainer/specconv), as data plus one pure parser, so that
// ApusLinux turns `mounts[].options` into mount(2) / mount_setattr(2) arguments exactly as
// runc does and tests can check the translation without a kernel.

/// mount(2) flags (include/uapi/linux/mount.h). Defined here so OCI needs no Glibc.
public enum MountFlag {
    public static let MS_RDONLY: UInt = 0x1
    public static let MS_NOSUID: UInt = 0x2
    public static let MS_NODEV: UInt = 0x4
    public static let MS_NOEXEC: UInt = 0x8
    public static let MS_SYNCHRONOUS: UInt = 0x10
    public static let MS_REMOUNT: UInt = 0x20
    public static let MS_MANDLOCK: UInt = 0x40
    public static let MS_DIRSYNC: UInt = 0x80
    /// Linux 5.10.
    public static let MS_NOSYMFOLLOW: UInt = 0x100
    public static let MS_NOATIME: UInt = 0x400
    public static let MS_NODIRATIME: UInt = 0x800
    public static let MS_BIND: UInt = 0x1000
    public static let MS_MOVE: UInt = 0x2000
    public static let MS_REC: UInt = 0x4000
    public static let MS_SILENT: UInt = 0x8000
    public static let MS_POSIXACL: UInt = 0x10000
    public static let MS_UNBINDABLE: UInt = 0x20000
    public static let MS_PRIVATE: UInt = 0x40000
    public static let MS_SLAVE: UInt = 0x80000
    public static let MS_SHARED: UInt = 0x100000
    public static let MS_RELATIME: UInt = 0x200000
    public static let MS_I_VERSION: UInt = 0x800000
    public static let MS_STRICTATIME: UInt = 0x1000000
    public static let MS_LAZYTIME: UInt = 0x2000000
}

/// mount_setattr(2) attributes (Linux 5.12; MOUNT_ATTR_NOSYMFOLLOW 5.14).
public enum MountAttr {
    public static let MOUNT_ATTR_RDONLY: UInt64 = 0x1
    public static let MOUNT_ATTR_NOSUID: UInt64 = 0x2
    public static let MOUNT_ATTR_NODEV: UInt64 = 0x4
    public static let MOUNT_ATTR_NOEXEC: UInt64 = 0x8
    /// Mask of the access-time setting: one of RELATIME (0), NOATIME, STRICTATIME.
    public static let MOUNT_ATTR__ATIME: UInt64 = 0x70
    public static let MOUNT_ATTR_RELATIME: UInt64 = 0x0
    public static let MOUNT_ATTR_NOATIME: UInt64 = 0x10
    public static let MOUNT_ATTR_STRICTATIME: UInt64 = 0x20
    public static let MOUNT_ATTR_NODIRATIME: UInt64 = 0x80
    public static let MOUNT_ATTR_IDMAP: UInt64 = 0x100000
    public static let MOUNT_ATTR_NOSYMFOLLOW: UInt64 = 0x200000
}

/// What one entry of `mounts[].options` means.
public enum MountOption: Sendable, Equatable {
    /// A mount(2) flag; `set: false` clears it (e.g. "rw" clears MS_RDONLY).
    case flag(set: Bool, UInt)
    /// A propagation change applied after the mount (MS_PRIVATE etc., with MS_REC for r*).
    case propagation(UInt)
    /// A mount_setattr(2) attribute applied recursively ("rro", "rnosuid", ...).
    case recursiveAttr(set: Bool, UInt64)
    /// runc extension: copy the contents of the destination into a new tmpfs.
    case tmpcopyup
    /// runc extension: id-mapped bind mount ("idmap"; "ridmap" for the whole subtree).
    case idmap(recursive: Bool)
    /// Accepted and ignored.
    case ignored
}

/// runc's option table. Anything not in it is passed to the filesystem in the data string.
public let mountOptionTable: [String: MountOption] = [
    // "acl" deliberately absent: MS_POSIXACL is not a per-mount flag (runc issue #3738).
    "async": .flag(set: false, MountFlag.MS_SYNCHRONOUS),
    "atime": .flag(set: false, MountFlag.MS_NOATIME),
    "bind": .flag(set: true, MountFlag.MS_BIND),
    // runc's table maps "defaults" to flag 0, which falls through to the data string where
    // filesystems such as tmpfs reject it; apus treats it as what fstab means: nothing.
    "defaults": .ignored,
    "dev": .flag(set: false, MountFlag.MS_NODEV),
    "diratime": .flag(set: false, MountFlag.MS_NODIRATIME),
    "dirsync": .flag(set: true, MountFlag.MS_DIRSYNC),
    "exec": .flag(set: false, MountFlag.MS_NOEXEC),
    "iversion": .flag(set: true, MountFlag.MS_I_VERSION),
    "lazytime": .flag(set: true, MountFlag.MS_LAZYTIME),
    "loud": .flag(set: false, MountFlag.MS_SILENT),
    "mand": .flag(set: true, MountFlag.MS_MANDLOCK),
    "noatime": .flag(set: true, MountFlag.MS_NOATIME),
    "nodev": .flag(set: true, MountFlag.MS_NODEV),
    "nodiratime": .flag(set: true, MountFlag.MS_NODIRATIME),
    "noexec": .flag(set: true, MountFlag.MS_NOEXEC),
    "noiversion": .flag(set: false, MountFlag.MS_I_VERSION),
    "nolazytime": .flag(set: false, MountFlag.MS_LAZYTIME),
    "nomand": .flag(set: false, MountFlag.MS_MANDLOCK),
    "norelatime": .flag(set: false, MountFlag.MS_RELATIME),
    "nostrictatime": .flag(set: false, MountFlag.MS_STRICTATIME),
    "nosuid": .flag(set: true, MountFlag.MS_NOSUID),
    "nosymfollow": .flag(set: true, MountFlag.MS_NOSYMFOLLOW),
    "rbind": .flag(set: true, MountFlag.MS_BIND | MountFlag.MS_REC),
    "relatime": .flag(set: true, MountFlag.MS_RELATIME),
    "remount": .flag(set: true, MountFlag.MS_REMOUNT),
    "ro": .flag(set: true, MountFlag.MS_RDONLY),
    "rw": .flag(set: false, MountFlag.MS_RDONLY),
    "silent": .flag(set: true, MountFlag.MS_SILENT),
    "strictatime": .flag(set: true, MountFlag.MS_STRICTATIME),
    "suid": .flag(set: false, MountFlag.MS_NOSUID),
    "sync": .flag(set: true, MountFlag.MS_SYNCHRONOUS),
    "symfollow": .flag(set: false, MountFlag.MS_NOSYMFOLLOW),

    "private": .propagation(MountFlag.MS_PRIVATE),
    "rprivate": .propagation(MountFlag.MS_PRIVATE | MountFlag.MS_REC),
    "shared": .propagation(MountFlag.MS_SHARED),
    "rshared": .propagation(MountFlag.MS_SHARED | MountFlag.MS_REC),
    "slave": .propagation(MountFlag.MS_SLAVE),
    "rslave": .propagation(MountFlag.MS_SLAVE | MountFlag.MS_REC),
    "unbindable": .propagation(MountFlag.MS_UNBINDABLE),
    "runbindable": .propagation(MountFlag.MS_UNBINDABLE | MountFlag.MS_REC),

    "rro": .recursiveAttr(set: true, MountAttr.MOUNT_ATTR_RDONLY),
    "rrw": .recursiveAttr(set: false, MountAttr.MOUNT_ATTR_RDONLY),
    "rnosuid": .recursiveAttr(set: true, MountAttr.MOUNT_ATTR_NOSUID),
    "rsuid": .recursiveAttr(set: false, MountAttr.MOUNT_ATTR_NOSUID),
    "rnodev": .recursiveAttr(set: true, MountAttr.MOUNT_ATTR_NODEV),
    "rdev": .recursiveAttr(set: false, MountAttr.MOUNT_ATTR_NODEV),
    "rnoexec": .recursiveAttr(set: true, MountAttr.MOUNT_ATTR_NOEXEC),
    "rexec": .recursiveAttr(set: false, MountAttr.MOUNT_ATTR_NOEXEC),
    "rnodiratime": .recursiveAttr(set: true, MountAttr.MOUNT_ATTR_NODIRATIME),
    "rdiratime": .recursiveAttr(set: false, MountAttr.MOUNT_ATTR_NODIRATIME),
    "rrelatime": .recursiveAttr(set: true, MountAttr.MOUNT_ATTR_RELATIME),
    "rnorelatime": .recursiveAttr(set: false, MountAttr.MOUNT_ATTR_RELATIME),
    "rnoatime": .recursiveAttr(set: true, MountAttr.MOUNT_ATTR_NOATIME),
    "ratime": .recursiveAttr(set: false, MountAttr.MOUNT_ATTR_NOATIME),
    "rstrictatime": .recursiveAttr(set: true, MountAttr.MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": .recursiveAttr(set: false, MountAttr.MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": .recursiveAttr(set: true, MountAttr.MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": .recursiveAttr(set: false, MountAttr.MOUNT_ATTR_NOSYMFOLLOW),

    "tmpcopyup": .tmpcopyup,
    "idmap": .idmap(recursive: false),
    "ridmap": .idmap(recursive: true),
]

/// `mounts[].options` translated into syscall arguments.
public struct ParsedMountOptions: Sendable, Equatable {
    /// MS_* flags for mount(2).
    public var flags: UInt = 0
    /// MS_* flags explicitly cleared by an option ("rw", "suid", ...). A bind mount's
    /// read-only remount must keep flags the source already has unless they are listed here.
    public var clearFlags: UInt = 0
    /// Propagation changes, each applied with its own mount(2) call, in the listed order.
    public var propagation: [UInt] = []
    /// Options for the filesystem itself, in order; `dataString` joins them for mount(2).
    public var data: [String] = []
    /// mount_setattr(2) attr_set / attr_clr, applied with AT_RECURSIVE.
    public var recursiveAttrSet: UInt64 = 0
    public var recursiveAttrClear: UInt64 = 0
    public var tmpcopyup = false
    /// "idmap" or "ridmap" was given.
    public var idmap = false
    /// "ridmap": the id mapping applies to the whole bind-mounted subtree.
    public var recursiveIDMap = false

    public init() {}

    public var isBind: Bool { flags & MountFlag.MS_BIND != 0 }
    public var isRecursiveBind: Bool { isBind && flags & MountFlag.MS_REC != 0 }
    public var isReadOnly: Bool { flags & MountFlag.MS_RDONLY != 0 }
    public var hasRecursiveAttrs: Bool { recursiveAttrSet != 0 || recursiveAttrClear != 0 }
    public var dataString: String { data.joined(separator: ",") }
}

/// Parses mount options as runc does: later options override earlier ones for the same flag,
/// unknown options become filesystem data.
public func parseMountOptions(_ options: [String]) -> ParsedMountOptions {
    var p = ParsedMountOptions()
    for option in options {
        switch mountOptionTable[option] {
        case .flag(let set, let flag)?:
            if set {
                p.flags |= flag
                p.clearFlags &= ~flag
            } else {
                p.flags &= ~flag
                p.clearFlags |= flag
            }
        case .propagation(let flag)?:
            p.propagation.append(flag)
        case .recursiveAttr(let set, let attr)?:
            if set {
                p.recursiveAttrSet |= attr
                p.recursiveAttrClear &= ~attr
                if attr & MountAttr.MOUNT_ATTR__ATIME == attr {
                    // mount_setattr(2): an access-time setting in attr_set needs
                    // MOUNT_ATTR__ATIME in attr_clr too. Includes "rrelatime" (value 0).
                    p.recursiveAttrClear |= MountAttr.MOUNT_ATTR__ATIME
                }
            } else {
                p.recursiveAttrClear |= attr
                p.recursiveAttrSet &= ~attr
            }
        case .tmpcopyup?:
            p.tmpcopyup = true
        case .idmap(let recursive)?:
            p.idmap = true
            p.recursiveIDMap = recursive
        case .ignored?:
            break
        case nil:
            p.data.append(option)
        }
    }
    return p
}
