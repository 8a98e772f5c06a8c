import OCI

/// One devices-cgroup rule, in the kernel's terms.
public struct CgroupDeviceRule: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Character, Sendable, Hashable, Comparable {
        case all = "a"
        case block = "b"
        case char = "c"

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public struct Access: OptionSet, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let read = Access(rawValue: 1)
        public static let write = Access(rawValue: 2)
        public static let mknod = Access(rawValue: 4)
        public static let all: Access = [.read, .write, .mknod]

        /// "rwm" letters in any order and without repeats mattering; nil for anything else.
        public init?(_ text: String) {
            var access: Access = []
            for c in text.utf8 {
                switch c {
                case UInt8(ascii: "r"): access.insert(.read)
                case UInt8(ascii: "w"): access.insert(.write)
                case UInt8(ascii: "m"): access.insert(.mknod)
                default: return nil
                }
            }
            self = access
        }

        public var description: String {
            (contains(.read) ? "r" : "") + (contains(.write) ? "w" : "") + (contains(.mknod) ? "m" : "")
        }
    }

    public var allow: Bool
    public var type: Kind
    /// nil matches every major (`*`).
    public var major: Int64?
    /// nil matches every minor (`*`).
    public var minor: Int64?
    public var access: Access

    public init(allow: Bool, type: Kind, major: Int64? = nil, minor: Int64? = nil, access: Access = .all) {
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
    }

    /// The devices.allow / devices.deny line: `c 1:3 rwm`, `a *:* rwm`.
    public var description: String {
        if type == .all { return "a *:* rwm" }
        return "\(type.rawValue) \(major.map(String.init) ?? "*"):\(minor.map(String.init) ?? "*") \(access)"
    }
}

/// `linux.resources.devices`: v1 devices.allow/deny lines, v2 an eBPF program
/// (DeviceFilter.swift). Both go through runc's emulation of the v1 kernel semantics,
/// so a rule list means the same thing on every host.
public enum CgroupDevices {
    static let field = ".linux.resources.devices"

    /// runc's `AllowedDevices`, appended to every container's rules (so they cannot be
    /// taken away by the config; runc keeps this for compatibility, and so does apus):
    /// mknod of any node, /dev/null, random, full, tty, zero, urandom, pts, ptmx, net/tun.
    public static let defaultRules: [CgroupDeviceRule] = [
        CgroupDeviceRule(allow: true, type: .char, access: .mknod),
        CgroupDeviceRule(allow: true, type: .block, access: .mknod),
        CgroupDeviceRule(allow: true, type: .char, major: 1, minor: 3),
        CgroupDeviceRule(allow: true, type: .char, major: 1, minor: 8),
        CgroupDeviceRule(allow: true, type: .char, major: 1, minor: 7),
        CgroupDeviceRule(allow: true, type: .char, major: 5, minor: 0),
        CgroupDeviceRule(allow: true, type: .char, major: 1, minor: 5),
        CgroupDeviceRule(allow: true, type: .char, major: 1, minor: 9),
        CgroupDeviceRule(allow: true, type: .char, major: 136),
        CgroupDeviceRule(allow: true, type: .char, major: 5, minor: 2),
        CgroupDeviceRule(allow: true, type: .char, major: 10, minor: 200),
    ]

    /// The config's rules followed by the defaults.
    public static func rules(_ devices: [Spec.Linux.Resources.DeviceCgroup]?) throws(ApusError) -> [CgroupDeviceRule] {
        var rules: [CgroupDeviceRule] = []
        for (index, device) in (devices ?? []).enumerated() {
            let field = field + "[\(index)]"
            let kind: CgroupDeviceRule.Kind
            switch device.type ?? "a" {
            case "a": kind = .all
            case "b": kind = .block
            case "c": kind = .char
            default:
                throw ApusError.invalidCgroup(
                    "invalid cgroup device type \"\(device.type ?? "")\"", field: field + ".type")
            }
            guard let access = CgroupDeviceRule.Access(device.access ?? "rwm"), !access.isEmpty else {
                throw ApusError.invalidCgroup(
                    "invalid device access \"\(device.access ?? "")\" (letters of rwm)", field: field + ".access")
            }
            // The kernel's dev_t has 12-bit majors and 20-bit minors; anything that does
            // not fit 32 bits cannot be matched by the v2 program. Negative means any, as
            // in runc (-1 is its wildcard).
            for (value, name) in [(device.major, "major"), (device.minor, "minor")] {
                if let value, value > Int64(Int32.max) {
                    throw ApusError.invalidCgroup("device \(name) \(value) is out of range", field: field + "." + name)
                }
            }
            rules.append(
                CgroupDeviceRule(
                    allow: device.allow, type: kind, major: device.major.flatMap { $0 < 0 ? nil : $0 },
                    minor: device.minor.flatMap { $0 < 0 ? nil : $0 }, access: access))
        }
        return rules + defaultRules
    }

    /// The emulated end state of applying `rules` to a deny-all cgroup.
    public static func emulate(_ rules: [CgroupDeviceRule]) throws(ApusError) -> DeviceEmulator {
        var emulator = DeviceEmulator()
        for rule in rules { try emulator.apply(rule) }
        return emulator
    }

    /// v1 writes taking a cgroup from `current` to `target`. With no current state (a
    /// cgroup just created, whose rules are inherited and unknown) the first write resets
    /// the default, exactly what runc computes after reading a fresh cgroup's devices.list.
    public static func v1Writes(target: DeviceEmulator, current: DeviceEmulator? = nil) -> CgroupWrites {
        let source = current ?? DeviceEmulator(defaultAllow: true)
        let writes = source.transition(to: target).map { rule in
            CgroupWrite("devices", .v1, rule.allow ? "devices.allow" : "devices.deny", rule.description, field: field)
        }
        return CgroupWrites(writes: writes)
    }
}

/// runc's devices emulator: the v1 devices controller's semantics (a default policy
/// plus exceptions, each rule either adding or removing exceptions), in memory.
public struct DeviceEmulator: Sendable, Equatable {
    struct Meta: Hashable, Comparable {
        var type: CgroupDeviceRule.Kind
        /// -1 is the wildcard.
        var major: Int64
        var minor: Int64

        static func < (a: Meta, b: Meta) -> Bool {
            (a.major, a.minor, a.type.rawValue) < (b.major, b.minor, b.type.rawValue)
        }
    }

    /// Allow-all with deny exceptions (a "blacklist") or deny-all with allow exceptions.
    public private(set) var defaultAllow: Bool
    var exceptions: [Meta: CgroupDeviceRule.Access]
    /// When each exception was first added, so `transition` can write the config's rules in
    /// the order config.json lists them: the v1 controller lists exceptions in the order they
    /// were written. Not part of the state (`==` ignores it).
    var firstAdded: [Meta: Int] = [:]

    public init(defaultAllow: Bool = false) {
        self.defaultAllow = defaultAllow
        self.exceptions = [:]
    }

    public static func == (a: DeviceEmulator, b: DeviceEmulator) -> Bool {
        a.defaultAllow == b.defaultAllow && a.exceptions == b.exceptions
    }

    /// runc's default rules (`CgroupDevices.defaultRules`) as exceptions.
    static let defaultMetas: Set<Meta> = Set(
        CgroupDevices.defaultRules.map { Meta(type: $0.type, major: $0.major ?? -1, minor: $0.minor ?? -1) })

    /// The exceptions as rules (their action is the opposite of the default), sorted.
    public var rules: [CgroupDeviceRule] {
        exceptions.keys.sorted().compactMap { meta in
            guard let access = exceptions[meta] else { return nil }
            return CgroupDeviceRule(
                allow: !defaultAllow, type: meta.type, major: meta.major < 0 ? nil : meta.major,
                minor: meta.minor < 0 ? nil : meta.minor, access: access)
        }
    }

    public mutating func apply(_ rule: CgroupDeviceRule) throws(ApusError) {
        if rule.type == .all {
            // "a" resets the cgroup: the default becomes the rule's action, exceptions go.
            self = DeviceEmulator(defaultAllow: rule.allow)
            return
        }
        let meta = Meta(type: rule.type, major: rule.major ?? -1, minor: rule.minor ?? -1)
        if rule.allow != defaultAllow {
            if exceptions[meta] == nil, firstAdded[meta] == nil { firstAdded[meta] = firstAdded.count }
            exceptions[meta, default: []].formUnion(rule.access)
        } else {
            try removeException(meta, rule.access)
        }
    }

    private mutating func removeException(_ meta: Meta, _ access: CgroupDeviceRule.Access) throws(ApusError) {
        // v1 silently ignores removing part of a wildcard exception (it only removes
        // exact matches), which would leave a hole the user thinks is closed; runc
        // refuses such rules, and so does apus.
        for partial in [
            Meta(type: meta.type, major: -1, minor: meta.minor), Meta(type: meta.type, major: meta.major, minor: -1),
            Meta(type: meta.type, major: -1, minor: -1),
        ] where partial != meta {
            if let existing = exceptions[partial], !existing.intersection(access).isEmpty {
                let rule = CgroupDeviceRule(
                    allow: !defaultAllow, type: meta.type, major: meta.major, minor: meta.minor, access: access)
                throw ApusError.invalidCgroup(
                    "device rule \"\(rule)\" cannot be expressed: it would punch a hole in the wildcard rule \"\(CgroupDeviceRule(allow: defaultAllow, type: partial.type, major: partial.major < 0 ? nil : partial.major, minor: partial.minor < 0 ? nil : partial.minor, access: existing))\"",
                    field: CgroupDevices.field)
            }
        }
        guard let existing = exceptions[meta] else { return }
        let remaining = existing.subtracting(access)
        exceptions[meta] = remaining.isEmpty ? nil : remaining
    }

    /// The state of a v1 cgroup from its devices.list. A blacklist cannot be read back
    /// (devices.list shows "a *:* rwm" whatever the deny exceptions), so it is taken as
    /// allow-all; `transition` then resets it.
    public static func fromDevicesList(_ text: String) throws(ApusError) -> DeviceEmulator {
        var emulator = DeviceEmulator(defaultAllow: false)
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            let numbers = parts.count == 3 ? parts[1].split(separator: ":", omittingEmptySubsequences: false) : []
            guard parts.count == 3, numbers.count == 2, let access = CgroupDeviceRule.Access(String(parts[2])) else {
                throw ApusError.cgroup("parse devices.list", detail: "unexpected line \"\(line)\"")
            }
            func number(_ text: Substring) -> Int64? { text == "*" ? -1 : Int64(text) }
            guard let major = number(numbers[0]), let minor = number(numbers[1]) else {
                throw ApusError.cgroup("parse devices.list", detail: "unexpected line \"\(line)\"")
            }
            let kind: CgroupDeviceRule.Kind
            switch parts[0] {
            case "a":
                emulator = DeviceEmulator(defaultAllow: true)
                continue
            case "b": kind = .block
            case "c": kind = .char
            default: throw ApusError.cgroup("parse devices.list", detail: "unexpected line \"\(line)\"")
            }
            try emulator.apply(
                CgroupDeviceRule(
                    allow: true, type: kind, major: major < 0 ? nil : major, minor: minor < 0 ? nil : minor,
                    access: access))
        }
        return emulator
    }

    /// The least disruptive rule sequence that takes a cgroup in this state to `target`
    /// (runc's Transition): a reset only when the default changes or this state is a
    /// blacklist (whose exceptions cannot be known), then removals, then additions.
    public func transition(to target: DeviceEmulator) -> [CgroupDeviceRule] {
        var out: [CgroupDeviceRule] = []
        var old = exceptions
        if defaultAllow || defaultAllow != target.defaultAllow {
            out.append(CgroupDeviceRule(allow: target.defaultAllow, type: .all))
            old = [:]
        }
        for meta in old.keys.sorted() {
            guard let oldAccess = old[meta] else { continue }
            let dropped = oldAccess.subtracting(target.exceptions[meta] ?? [])
            if !dropped.isEmpty {
                out.append(rule(meta, dropped, allow: target.defaultAllow))
            }
        }
        // Additions: runc's defaults first, sorted as runc writes them, then the config's own
        // rules in the order config.json lists them (devices.list shows that order).
        func rank(_ meta: Meta) -> (Int, Int) {
            Self.defaultMetas.contains(meta) ? (0, 0) : (1, target.firstAdded[meta] ?? .max)
        }
        let additions = target.exceptions.keys.sorted { a, b in
            let (ra, rb) = (rank(a), rank(b))
            return ra != rb ? ra < rb : a < b
        }
        for meta in additions {
            guard let newAccess = target.exceptions[meta] else { continue }
            let gained = newAccess.subtracting(old[meta] ?? [])
            if !gained.isEmpty {
                out.append(rule(meta, gained, allow: !target.defaultAllow))
            }
        }
        return out
    }

    private func rule(_ meta: Meta, _ access: CgroupDeviceRule.Access, allow: Bool) -> CgroupDeviceRule {
        CgroupDeviceRule(
            allow: allow, type: meta.type, major: meta.major < 0 ? nil : meta.major,
            minor: meta.minor < 0 ? nil : meta.minor,
            access: access)
    }
}
