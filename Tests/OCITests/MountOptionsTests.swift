import OCI
import Testing

@Suite("mount options")
struct MountOptionsTests {
    typealias F = MountFlag

    @Test(
        "each flag option sets or clears its MS_* flag",
        arguments: [
            ("ro", F.MS_RDONLY, true), ("rw", F.MS_RDONLY, false), ("nosuid", F.MS_NOSUID, true),
            ("suid", F.MS_NOSUID, false), ("nodev", F.MS_NODEV, true), ("dev", F.MS_NODEV, false),
            ("noexec", F.MS_NOEXEC, true), ("exec", F.MS_NOEXEC, false), ("sync", F.MS_SYNCHRONOUS, true),
            ("async", F.MS_SYNCHRONOUS, false), ("dirsync", F.MS_DIRSYNC, true), ("remount", F.MS_REMOUNT, true),
            ("mand", F.MS_MANDLOCK, true), ("nomand", F.MS_MANDLOCK, false), ("noatime", F.MS_NOATIME, true),
            ("atime", F.MS_NOATIME, false), ("nodiratime", F.MS_NODIRATIME, true),
            ("diratime", F.MS_NODIRATIME, false), ("relatime", F.MS_RELATIME, true),
            ("norelatime", F.MS_RELATIME, false), ("strictatime", F.MS_STRICTATIME, true),
            ("nostrictatime", F.MS_STRICTATIME, false), ("bind", F.MS_BIND, true),
            ("rbind", F.MS_BIND | F.MS_REC, true), ("nosymfollow", F.MS_NOSYMFOLLOW, true),
            ("symfollow", F.MS_NOSYMFOLLOW, false), ("lazytime", F.MS_LAZYTIME, true),
            ("nolazytime", F.MS_LAZYTIME, false), ("iversion", F.MS_I_VERSION, true),
            ("noiversion", F.MS_I_VERSION, false), ("silent", F.MS_SILENT, true), ("loud", F.MS_SILENT, false),
        ])
    func flags(option: String, flag: UInt, set: Bool) {
        let p = parseMountOptions([option])
        #expect(mountOptionTable[option] == .flag(set: set, flag))
        if set {
            #expect(p.flags == flag)
            #expect(p.clearFlags == 0)
        } else {
            #expect(p.flags == 0)
            #expect(p.clearFlags == flag)
        }
        #expect(p.data.isEmpty)
    }

    @Test("the last of two contradicting options wins")
    func override() {
        let p = parseMountOptions(["ro", "nosuid", "rw", "suid", "nosuid"])
        #expect(p.flags == F.MS_NOSUID)
        #expect(p.clearFlags == F.MS_RDONLY)
    }

    @Test(
        "propagation options are kept in order",
        arguments: [
            ("private", F.MS_PRIVATE), ("rprivate", F.MS_PRIVATE | F.MS_REC), ("shared", F.MS_SHARED),
            ("rshared", F.MS_SHARED | F.MS_REC), ("slave", F.MS_SLAVE), ("rslave", F.MS_SLAVE | F.MS_REC),
            ("unbindable", F.MS_UNBINDABLE), ("runbindable", F.MS_UNBINDABLE | F.MS_REC),
        ])
    func propagation(option: String, flag: UInt) {
        #expect(parseMountOptions([option]).propagation == [flag])
        #expect(parseMountOptions(["rbind", option, "rslave"]).propagation == [flag, F.MS_SLAVE | F.MS_REC])
    }

    @Test("recursive mount_setattr attributes")
    func recursiveAttrs() {
        typealias A = MountAttr
        var p = parseMountOptions(["rro", "rnosuid", "rnodev", "rnoexec", "rnodiratime", "rnosymfollow"])
        #expect(
            p.recursiveAttrSet
                == A.MOUNT_ATTR_RDONLY | A.MOUNT_ATTR_NOSUID | A.MOUNT_ATTR_NODEV | A.MOUNT_ATTR_NOEXEC
                | A.MOUNT_ATTR_NODIRATIME | A.MOUNT_ATTR_NOSYMFOLLOW)
        #expect(p.recursiveAttrClear == 0)
        #expect(p.hasRecursiveAttrs)
        #expect(p.flags == 0)

        p = parseMountOptions(["rro", "rrw", "rsuid", "rdev", "rexec", "rdiratime", "rsymfollow"])
        #expect(p.recursiveAttrSet == 0)
        #expect(
            p.recursiveAttrClear
                == A.MOUNT_ATTR_RDONLY | A.MOUNT_ATTR_NOSUID | A.MOUNT_ATTR_NODEV | A.MOUNT_ATTR_NOEXEC
                | A.MOUNT_ATTR_NODIRATIME | A.MOUNT_ATTR_NOSYMFOLLOW)

        // Access-time settings must also clear MOUNT_ATTR__ATIME (mount_setattr(2)).
        p = parseMountOptions(["rnoatime"])
        #expect(p.recursiveAttrSet == A.MOUNT_ATTR_NOATIME)
        #expect(p.recursiveAttrClear == A.MOUNT_ATTR__ATIME)
        p = parseMountOptions(["rstrictatime"])
        #expect(p.recursiveAttrSet == A.MOUNT_ATTR_STRICTATIME)
        #expect(p.recursiveAttrClear == A.MOUNT_ATTR__ATIME)
        p = parseMountOptions(["rrelatime"])
        #expect(p.recursiveAttrSet == 0)
        #expect(p.recursiveAttrClear == A.MOUNT_ATTR__ATIME)
        #expect(p.hasRecursiveAttrs)
        p = parseMountOptions(["ratime"])
        #expect(p.recursiveAttrClear == A.MOUNT_ATTR_NOATIME)
    }

    @Test("runc extensions: tmpcopyup, idmap, ridmap")
    func extensions() {
        #expect(parseMountOptions(["tmpcopyup"]).tmpcopyup)
        let idmap = parseMountOptions(["bind", "idmap"])
        #expect(idmap.idmap && !idmap.recursiveIDMap && idmap.isBind && !idmap.isRecursiveBind)
        let ridmap = parseMountOptions(["rbind", "ridmap"])
        #expect(ridmap.idmap && ridmap.recursiveIDMap && ridmap.isRecursiveBind)
    }

    @Test("unknown options are filesystem data, in order; defaults is a no-op")
    func data() {
        let p = parseMountOptions([
            "nosuid", "lowerdir=/a:/b", "upperdir=/u", "defaults", "workdir=/w", "ro", "mode=755", "acl",
        ])
        #expect(p.data == ["lowerdir=/a:/b", "upperdir=/u", "workdir=/w", "mode=755", "acl"])
        #expect(p.dataString == "lowerdir=/a:/b,upperdir=/u,workdir=/w,mode=755,acl")
        #expect(p.flags == F.MS_NOSUID | F.MS_RDONLY)
        #expect(p.isReadOnly)
        #expect(!p.isBind)
    }

    @Test("runc's default /dev/pts and /sys/fs/cgroup options")
    func runcDefaults() {
        let pts = parseMountOptions(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
        #expect(pts.flags == F.MS_NOSUID | F.MS_NOEXEC)
        #expect(pts.dataString == "newinstance,ptmxmode=0666,mode=0620,gid=5")
        let cg = parseMountOptions(["nosuid", "noexec", "nodev", "relatime", "ro"])
        #expect(cg.flags == F.MS_NOSUID | F.MS_NOEXEC | F.MS_NODEV | F.MS_RELATIME | F.MS_RDONLY)
        #expect(cg.data.isEmpty)
    }

    @Test("MS_* values match the kernel's")
    func constants() {
        #expect(F.MS_RDONLY == 1)
        #expect(F.MS_BIND == 4096)
        #expect(F.MS_REC == 16384)
        #expect(F.MS_PRIVATE == 1 << 18)
        #expect(F.MS_SLAVE == 1 << 19)
        #expect(F.MS_SHARED == 1 << 20)
        #expect(F.MS_STRICTATIME == 1 << 24)
        #expect(rootfsPropagationFlags["rslave"] == F.MS_SLAVE | F.MS_REC)
    }
}

@Suite("mount option table")
struct MountOptionTableTests {
    /// runc's `KnownMountOptions()` (libcontainer/specconv), the names `runc features` lists.
    static let runcOptions: Set<String> = [
        "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime", "loud",
        "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime",
        "nostrictatime", "nosuid", "nosymfollow", "rbind", "relatime", "remount", "ro", "rw", "silent",
        "strictatime", "suid", "sync", "symfollow",
        "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable",
        "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime", "rdiratime",
        "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime", "rnostrictatime", "rnosymfollow",
        "rsymfollow",
        "tmpcopyup", "idmap", "ridmap",
    ]

    @Test("the table knows exactly runc's option names")
    func sameNames() {
        #expect(Set(mountOptionTable.keys) == Self.runcOptions)
    }

    @Test("every option in the table is consumed, never passed on as filesystem data")
    func noneIsData() {
        for option in mountOptionTable.keys {
            #expect(parseMountOptions([option]).data.isEmpty, "\(option)")
        }
    }
}
