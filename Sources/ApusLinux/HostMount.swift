import CApus
import Glibc

/// Mounts the runtime makes on the host itself (not in a container's namespace).
public enum HostMount {
    /// A recursive bind of `source` onto `target`, made private so nothing mounted under
    /// it propagates back to `source`'s peers: CRIU restores a container under a root that
    /// must be a mount point (runc binds the rootfs the same way).
    public static func bindPrivately(_ source: String, onto target: String) throws(ApusError) {
        try sys("bind \(source) onto \(target)") { apus_mount(source, target, nil, UInt(MS_BIND | MS_REC), nil) }
        try sys("make \(target) private") { apus_mount(nil, target, nil, UInt(MS_PRIVATE | MS_REC), nil) }
    }

    /// Lazy unmount (MNT_DETACH): gone from the tree now, released when nothing uses it.
    public static func detach(_ target: String) {
        _ = apus_umount2(target, 2 /* MNT_DETACH */)
    }
}
