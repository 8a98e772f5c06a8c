/// The messages of CRIU's RPC (criu/images/rpc.proto) that apus sends and reads, with
/// their field numbers. Only the fields apus uses are modelled; a reply's other fields are
/// skipped.

/// `criu_req_type`.
public enum RequestType: UInt64, Sendable {
    case empty = 0
    case dump = 1
    case restore = 2
    case check = 3
    case preDump = 4
    case pageServer = 5
    case notify = 6
    case featureCheck = 9
    case version = 10
}

/// `criu_cg_mode`, by the names runc's --manage-cgroups-mode takes.
public enum CgroupMode: UInt64, Sendable {
    case ignore = 0
    case none = 1
    case props = 2
    case soft = 3
    case full = 4
    case strict = 5
    case `default` = 6

    /// runc's spellings: soft, full, strict, ignore.
    public init?(flag: String) {
        switch flag {
        case "soft": self = .soft
        case "full": self = .full
        case "strict": self = .strict
        case "ignore": self = .ignore
        default: return nil
        }
    }
}

/// `criu_opts`: what a dump or restore is asked to do. Every field optional (proto2).
public struct Options: Sendable {
    public var imagesDirFD: Int32 = -1
    public var pid: Int32?
    public var leaveRunning: Bool?
    public var extUnixSk: Bool?
    public var tcpEstablished: Bool?
    public var shellJob: Bool?
    public var fileLocks: Bool?
    public var logLevel: Int32?
    public var logFile: String?
    public var pageServer: (address: String, port: Int32)?
    public var notifyScripts: Bool?
    public var root: String?
    public var parentImage: String?
    public var trackMemory: Bool?
    public var autoDedup: Bool?
    public var workDirFD: Int32?
    public var linkRemap: Bool?
    /// `ext_mnt`: mount point in the container → what it is on the host (restore) or the
    /// same key (dump).
    public var externalMounts: [(key: String, value: String)] = []
    public var manageCgroups: Bool?
    /// `cg_root`: controller ("" for every one) → the cgroup to restore into.
    public var cgroupRoots: [(controller: String?, path: String)] = []
    public var restoreSibling: Bool?
    /// `inherit_fd`: a resource of the image (`pipe:[123]`, `extRootNetNS`) → a descriptor of criu.
    public var inheritFDs: [(key: String, fd: Int32)] = []
    public var manageCgroupsMode: CgroupMode?
    public var external: [String] = []
    public var emptyNamespaces: UInt32?
    public var freezeCgroup: String?
    public var tcpSkipInFlight: Bool?
    public var lazyPages: Bool?
    public var statusFD: Int32?
    public var orphanPtsMaster: Bool?
    public var configFile: String?
    public var lsmProfile: String?
    public var lsmMountContext: String?

    public init() {}

    func encode(into out: inout ProtoWriter) {
        out.int32(1, imagesDirFD)
        out.int32(2, pid)
        out.bool(3, leaveRunning)
        out.bool(4, extUnixSk)
        out.bool(5, tcpEstablished)
        out.bool(7, shellJob)
        out.bool(8, fileLocks)
        out.int32(9, logLevel)
        out.string(10, logFile)
        if let pageServer {
            out.message(11) {
                $0.string(1, pageServer.address)
                $0.int32(2, pageServer.port)
            }
        }
        out.bool(12, notifyScripts)
        out.string(13, root)
        out.string(14, parentImage)
        out.bool(15, trackMemory)
        out.bool(16, autoDedup)
        out.int32(17, workDirFD)
        out.bool(18, linkRemap)
        encodeRepeated(into: &out)
        out.uint(34, manageCgroupsMode?.rawValue)
        out.strings(37, external)
        out.uint(38, emptyNamespaces.map(UInt64.init))
        out.string(44, freezeCgroup)
        out.bool(46, tcpSkipInFlight)
        out.bool(48, lazyPages)
        out.int32(49, statusFD)
        out.bool(50, orphanPtsMaster)
        out.string(51, configFile)
        out.string(53, lsmProfile)
        out.string(63, lsmMountContext)
    }

    /// Fields 23 to 27, in number order.
    private func encodeRepeated(into out: inout ProtoWriter) {
        for mount in externalMounts {
            out.message(23) {
                $0.string(1, mount.key)
                $0.string(2, mount.value)
            }
        }
        out.bool(24, manageCgroups)
        for root in cgroupRoots {
            out.message(25) {
                $0.string(1, root.controller)
                $0.string(2, root.path)
            }
        }
        out.bool(26, restoreSibling)
        for inherit in inheritFDs {
            out.message(27) {
                $0.string(1, inherit.key)
                $0.int32(2, inherit.fd)
            }
        }
    }
}

/// `criu_req`.
public struct Request: Sendable {
    public var type: RequestType
    public var options: Options?
    public var notifySuccess: Bool?
    /// `features`: mem_track, lazy_pages, asked of FEATURE_CHECK.
    public var features: (memTrack: Bool?, lazyPages: Bool?)?

    public init(type: RequestType, options: Options? = nil) {
        self.type = type
        self.options = options
    }

    public var encoded: [UInt8] {
        var out = ProtoWriter()
        out.uint(1, type.rawValue)
        if let options { out.message(2) { options.encode(into: &$0) } }
        out.bool(3, notifySuccess)
        if let features {
            out.message(5) {
                $0.bool(1, features.memTrack)
                $0.bool(2, features.lazyPages)
            }
        }
        return out.bytes
    }
}

/// `criu_resp`, the fields apus reads.
public struct Response: Sendable, Equatable {
    public var type: UInt64 = 0
    public var success = false
    /// `dump.restored`: the dumped tree was restored (a dump with leave_running after restore).
    public var restored: Bool?
    /// `restore.pid`: the restored tree's root.
    public var restoredPid: Int32?
    /// `notify.script` and `notify.pid`: a notification (type NOTIFY) criu waits on.
    public var notifyScript: String?
    public var notifyPid: Int32?
    public var errno: Int32?
    public var errorMessage: String?
    /// `features`: what FEATURE_CHECK found.
    public var memTrack: Bool?
    public var lazyPages: Bool?
    /// `version`: major, minor, sublevel, gitid.
    public var version: Version?

    public init() {}

    public init(decoding bytes: [UInt8]) throws(ProtoReader.Malformed) {
        var reader = ProtoReader(bytes)
        while let (field, value) = try reader.next() {
            switch field {
            case 1: if case .varint(let raw) = value { type = raw }
            case 2: success = value.bool ?? false
            case 3: restored = try Self.field(1, of: value).first?.bool
            case 4: restoredPid = try Self.field(1, of: value).first?.int32
            case 5:
                notifyScript = try Self.field(1, of: value).first?.string
                notifyPid = try Self.field(2, of: value).first?.int32
            case 7: errno = value.int32
            case 8:
                memTrack = try Self.field(1, of: value).first?.bool
                lazyPages = try Self.field(2, of: value).first?.bool
            case 9: errorMessage = value.string
            case 10: version = try Version(decoding: value.message ?? [])
            default: break
            }
        }
    }

    /// Every value of `number` in the nested message `value`.
    static func field(_ number: Int, of value: ProtoReader.Value) throws(ProtoReader.Malformed)
        -> [ProtoReader.Value]
    {
        var reader = ProtoReader(value.message ?? [])
        var found: [ProtoReader.Value] = []
        while let (field, inner) = try reader.next() {
            if field == number { found.append(inner) }
        }
        return found
    }
}

/// `criu_version`.
public struct Version: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var major: Int32
    public var minor: Int32
    public var sublevel: Int32 = 0
    public var gitID: String?

    public init(major: Int32, minor: Int32, sublevel: Int32 = 0) {
        self.major = major
        self.minor = minor
        self.sublevel = sublevel
    }

    init(decoding bytes: [UInt8]) throws(ProtoReader.Malformed) {
        self.init(major: 0, minor: 0)
        var reader = ProtoReader(bytes)
        while let (field, value) = try reader.next() {
            switch field {
            case 1: major = value.int32 ?? 0
            case 2: minor = value.int32 ?? 0
            case 3: gitID = value.string
            case 4: sublevel = value.int32 ?? 0
            default: break
            }
        }
    }

    public var description: String { sublevel == 0 ? "\(major).\(minor)" : "\(major).\(minor).\(sublevel)" }

    public static func < (a: Version, b: Version) -> Bool {
        (a.major, a.minor, a.sublevel) < (b.major, b.minor, b.sublevel)
    }
}
