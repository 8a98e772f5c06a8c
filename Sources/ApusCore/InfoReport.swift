import ApusLinux
import Glibc
import OCI

/// `HostFacts` laid out for people (sections of aligned `key: value` lines with hints) and
/// for programs (JSON with the same facts and hints).
public struct InfoReport {
    /// The facts of this host, for the calling user.
    public static func probe(criu: String? = nil) -> InfoReport {
        InfoReport(
            HostFacts.probe(), euid: geteuid(), systemd: SystemdReach.probe(rootless: geteuid() != 0),
            checkpoint: CheckpointSupport.probe(criu: criu, thorough: true))
    }

    /// Whether `--systemd-cgroup` can work: the bus tried and, when systemd is not there, why.
    struct SystemdReach {
        var bus: String
        var failure: String?

        /// Connects (and says Hello) once, as `create --systemd-cgroup` would.
        static func probe(rootless: Bool) -> SystemdReach {
            let bus = SystemdBus.choose(rootless: rootless)
            do {
                try bus.connect().close()
                return SystemdReach(bus: bus.name, failure: nil)
            } catch {
                return SystemdReach(bus: bus.name, failure: error.detail ?? String(describing: error))
            }
        }
    }

    struct Row {
        var key: String
        var value: String
        var hints: [String] = []
    }

    struct Section {
        var title: String
        var rows: [Row] = []
    }

    let facts: HostFacts
    let sections: [Section]

    let systemd: SystemdReach?
    let checkpoint: CheckpointSupport?

    init(_ facts: HostFacts, euid: uid_t, systemd: SystemdReach? = nil, checkpoint: CheckpointSupport? = nil) {
        self.facts = facts
        self.systemd = systemd
        self.checkpoint = checkpoint
        var cgroups = Self.cgroups(facts)
        if let systemd {
            cgroups.rows.append(
                Row(
                    key: "systemd driver",
                    value: systemd.failure == nil
                        ? "systemd reachable on \(systemd.bus)" : "systemd not reachable on \(systemd.bus)",
                    hints: systemd.failure.map { ["--systemd-cgroup fails: \($0)"] } ?? []))
        }
        sections =
            [
                Self.kernel(facts), cgroups, Self.resources(facts), Self.namespaces(facts, euid: euid),
                Self.seccomp(facts), Self.securityModules(facts), Self.facilities(facts),
            ] + (checkpoint.map { [Self.checkpointSection($0)] } ?? [])
    }

    static func checkpointSection(_ support: CheckpointSupport) -> Section {
        var row = Row(key: "checkpoint/restore", value: support.summary)
        if !support.available {
            row.hints.append(
                "apus checkpoint/restore need a criu (3.11 or later) that passes its check of this kernel: on $PATH or given with --criu PATH"
            )
        }
        return Section(title: "Checkpoint and restore (criu)", rows: [row])
    }

    var hints: [String] { sections.flatMap { $0.rows.flatMap(\.hints) } }

    public var text: String {
        var out = ""
        for section in sections {
            if !out.isEmpty { out += "\n" }
            out += section.title + "\n"
            let width = (section.rows.map { $0.key.count }.max() ?? 0) + 2
            for row in section.rows {
                let key = row.key + ":"
                out += "  " + key + String(repeating: " ", count: max(1, width - key.count + 1)) + row.value + "\n"
                for hint in row.hints {
                    out += "  " + String(repeating: " ", count: width + 1) + "→ " + hint + "\n"
                }
            }
        }
        return out
    }

    // MARK: - Sections

    static func kernel(_ facts: HostFacts) -> Section {
        Section(
            title: "Kernel",
            rows: [
                Row(key: "release", value: facts.kernel.release),
                Row(key: "version", value: facts.kernel.version),
                Row(key: "machine", value: facts.kernel.machine),
            ])
    }

    static func layoutName(_ kind: CgroupLayoutKind) -> String {
        switch kind {
        case .v1: return "v1"
        case .unified: return "v2"
        case .hybrid: return "hybrid"
        }
    }

    static func cgroups(_ facts: HostFacts) -> Section {
        var section = Section(title: "Cgroups")
        let cgroups = facts.cgroups
        guard let layout = cgroups.layout else {
            section.rows.append(
                Row(
                    key: "layout", value: "none",
                    hints: ["no container can get a cgroup: \(cgroups.error ?? "no cgroup filesystem is mounted")"]))
            return section
        }
        let unified = cgroups.hierarchies.first { $0.version == .v2 }
        switch layout {
        case .v1:
            section.rows.append(Row(key: "layout", value: "v1 (no cgroup v2 hierarchy)"))
        case .unified:
            section.rows.append(Row(key: "layout", value: "v2 (unified)"))
        case .hybrid:
            let offered = unified.map { $0.controllers.isEmpty ? "none" : $0.controllers.joined(separator: " ") } ?? ""
            section.rows.append(
                Row(
                    key: "layout", value: "hybrid (v1 controllers, cgroup v2 at \(unified?.mountpoint ?? "?"))",
                    hints: [
                        "each controller is used on its v1 hierarchy; cgroup v2 gives only what no v1 hierarchy has (here: \(offered))"
                    ]))
        }
        for hierarchy in cgroups.hierarchies {
            let controllers =
                hierarchy.controllers.isEmpty ? "(no controllers)" : hierarchy.controllers.joined(separator: " ")
            section.rows.append(Row(key: hierarchy.mountpoint, value: "\(hierarchy.version.rawValue): \(controllers)"))
        }
        return section
    }

    static func resources(_ facts: HostFacts) -> Section {
        var section = Section(title: "Resource controllers (where linux.resources goes)")
        guard let layout = facts.cgroups.layout else { return section }
        let v2 = facts.cgroups.hierarchies.first { $0.version == .v2 }
        for placement in facts.cgroups.placements {
            if let version = placement.version {
                section.rows.append(
                    Row(key: placement.controller, value: "\(version.rawValue) \(placement.mountpoint ?? "")"))
                continue
            }
            let why: String
            switch layout {
            case .v1:
                why = "no v1 \(placement.controller) hierarchy is mounted and there is no cgroup v2"
            case .hybrid, .unified:
                let prefix = layout == .hybrid ? "no v1 \(placement.controller) hierarchy is mounted, and " : ""
                if placement.controller == "net_cls" || placement.controller == "net_prio" {
                    why = prefix + "cgroup v2 has no \(placement.controller) (eBPF does that job there)"
                } else {
                    let offered = v2.map { $0.controllers.isEmpty ? "none" : $0.controllers.joined(separator: " ") }
                    why = prefix + "cgroup v2 here offers only: \(offered ?? "none")"
                }
            }
            section.rows.append(
                Row(key: placement.controller, value: "none", hints: ["\(placement.usedBy) fails: \(why)"]))
        }
        return section
    }

    static func namespaces(_ facts: HostFacts, euid: uid_t) -> Section {
        var section = Section(title: "Namespaces")
        for ns in facts.namespaces {
            var row = Row(key: ns.kind.rawValue, value: ns.available ? "yes" : "no")
            if !ns.available {
                let extra = ns.kind == .time ? " (and so does linux.timeOffsets)" : ""
                row.hints.append("a config with a \(ns.kind.rawValue) namespace in linux.namespaces fails\(extra)")
            }
            section.rows.append(row)
        }
        let user = facts.userNamespaces
        var create = Row(
            key: "create user ns",
            value: user.canCreate
                ? "yes, as uid \(euid)" : "no, as uid \(euid): unshare(CLONE_NEWUSER): \(errorString(user.createErrno))"
        )
        if !user.canCreate {
            var why = ""
            if user.max == 0 { why = " (user.max_user_namespaces is 0)" }
            if user.unprivilegedClone == false && euid != 0 { why = " (kernel.unprivileged_userns_clone is 0)" }
            if user.apparmorRestricted == true && euid != 0 {
                why = " (kernel.apparmor_restrict_unprivileged_userns is 1)"
            }
            create.hints.append("containers with a user namespace (rootless, linux.uidMappings) fail\(why)")
        }
        section.rows.append(create)
        section.rows.append(Row(key: "max_user_namespaces", value: user.max.map(String.init) ?? "unknown"))
        if let clone = user.unprivilegedClone {
            var row = Row(key: "unprivileged_userns_clone", value: clone ? "1" : "0")
            if !clone && euid == 0 { row.hints.append("users other than root cannot run rootless containers") }
            section.rows.append(row)
        }
        if let restricted = user.apparmorRestricted {
            var row = Row(key: "apparmor_restrict_unprivileged_userns", value: restricted ? "1" : "0")
            if restricted && euid == 0 {
                row.hints.append("users other than root need an AppArmor profile allowing userns for rootless apus")
            }
            section.rows.append(row)
        }
        return section
    }

    static func seccomp(_ facts: HostFacts) -> Section {
        let s = facts.seccomp
        var section = Section(title: "Seccomp")
        var kernel = Row(key: "kernel", value: s.filter ? "yes (filter mode)" : s.kernel ? "strict mode only" : "no")
        if !s.filter { kernel.hints.append("a config with linux.seccomp fails; one without it still runs") }
        section.rows.append(kernel)
        if let mode = s.currentMode {
            var row = Row(key: "apus itself", value: mode == 0 ? "not filtered" : "runs under seccomp mode \(mode)")
            if mode != 0 {
                row.hints.append(
                    "a filter around apus (inside a container?) applies to every container too, and may deny what the config allows"
                )
            }
            section.rows.append(row)
        }
        let version = s.libseccomp.map { "\($0) (API level \(s.libseccompAPI))" } ?? "not linked"
        section.rows.append(Row(key: "libseccomp", value: version))
        if s.filter {
            var actions = Row(key: "actions", value: s.actions.joined(separator: " "))
            for missing in SeccompFilter.supportedActions where !s.actions.contains(missing) {
                actions.hints.append("\(missing) is not in this kernel: profiles using it fail")
            }
            section.rows.append(actions)
            var flags = Row(key: "flags", value: s.flags.isEmpty ? "none" : s.flags.joined(separator: " "))
            for missing in knownSeccompFlags.keys.sorted() where !s.flags.contains(missing) {
                flags.hints.append("\(missing) is not in this kernel: profiles using it fail")
            }
            section.rows.append(flags)
        }
        return section
    }

    static func securityModules(_ facts: HostFacts) -> Section {
        let lsm = facts.securityModules
        var section = Section(title: "Security modules")
        section.rows.append(
            Row(
                key: "active",
                value: lsm.active.map { $0.joined(separator: ",") }
                    ?? "unknown (/sys/kernel/security/lsm is not readable: securityfs not mounted?)"))
        var apparmor = Row(key: "AppArmor", value: lsm.apparmor ? "enabled" : "not enabled")
        if !lsm.apparmor { apparmor.hints.append("a config with process.apparmorProfile fails here") }
        var selinux = Row(key: "SELinux", value: lsm.selinux ? "enabled" : "not enabled")
        if !lsm.selinux { selinux.hints.append("a config with process.selinuxLabel fails here") }
        section.rows += [apparmor, selinux]
        return section
    }

    static func facilities(_ facts: HostFacts) -> Section {
        var section = Section(title: "Kernel facilities")
        for f in facts.facilities {
            var row = Row(key: f.name, value: "")
            switch (f.available, f.usedByApus) {
            case (true, true):
                row.value = "yes"
            case (true, false):
                row.value = "yes; unused by apus (\(f.use))"
            case (false, true):
                row.value = "no (Linux \(f.since)+; probe: \(errorString(f.probeErrno)))"
                row.hints.append(f.without)
            case (false, false):
                row.value = "no (Linux \(f.since)+); unused by apus (\(f.use))"
            }
            section.rows.append(row)
        }
        return section
    }

    // MARK: - JSON

    public var json: JSON {
        .object([
            ("kernel", kernelJSON), ("cgroup", cgroupJSON), ("systemd", systemdJSON),
            ("namespaces", .object(facts.namespaces.map { ($0.kind.rawValue, JSON.bool($0.available)) })),
            ("userNamespaces", userNamespacesJSON), ("seccomp", seccompJSON), ("lsm", lsmJSON),
            ("facilities", facilitiesJSON), ("checkpoint", checkpointJSON), ("hints", .strings(hints)),
        ])
    }

    var checkpointJSON: JSON {
        guard let checkpoint else { return .null }
        return .object([
            ("available", .bool(checkpoint.available)), ("criu", .optional(checkpoint.criu)),
            ("version", .optional(checkpoint.version)), ("preDump", checkpoint.preDump.map { .bool($0) } ?? .null),
            ("summary", .string(checkpoint.summary)),
        ])
    }

    var systemdJSON: JSON {
        guard let systemd else { return .null }
        return .object([
            ("reachable", .bool(systemd.failure == nil)), ("bus", .string(systemd.bus)),
            ("error", .optional(systemd.failure)),
        ])
    }

    var kernelJSON: JSON {
        .object([
            ("release", .string(facts.kernel.release)), ("version", .string(facts.kernel.version)),
            ("machine", .string(facts.kernel.machine)),
        ])
    }

    var cgroupJSON: JSON {
        let c = facts.cgroups
        let layout: JSON = c.layout.map { .string(Self.layoutName($0)) } ?? .null
        let hierarchies: [JSON] = c.hierarchies.map {
            .object([
                ("version", .string($0.version.rawValue)), ("mountpoint", .string($0.mountpoint)),
                ("controllers", .strings($0.controllers)),
            ])
        }
        let resources: [(String, JSON)] = c.placements.map {
            let where_: JSON = .object([
                ("version", .optional($0.version?.rawValue)), ("mountpoint", .optional($0.mountpoint)),
            ])
            return ($0.controller, where_)
        }
        return .object([
            ("layout", layout), ("error", .optional(c.error)), ("hierarchies", .array(hierarchies)),
            ("resources", .object(resources)),
        ])
    }

    var userNamespacesJSON: JSON {
        let u = facts.userNamespaces
        let max: JSON = u.max.map { .int($0) } ?? .null
        let clone: JSON = u.unprivilegedClone.map { .bool($0) } ?? .null
        let restricted: JSON = u.apparmorRestricted.map { .bool($0) } ?? .null
        let error: JSON = u.canCreate ? .null : .string(errorString(u.createErrno))
        return .object([
            ("create", .bool(u.canCreate)), ("createError", error), ("maxUserNamespaces", max),
            ("unprivilegedUsernsClone", clone), ("apparmorRestrictUnprivilegedUserns", restricted),
        ])
    }

    var seccompJSON: JSON {
        let s = facts.seccomp
        let mode: JSON = s.currentMode.map { .int(Int($0)) } ?? .null
        return .object([
            ("kernel", .bool(s.kernel)), ("filter", .bool(s.filter)), ("currentMode", mode),
            ("actions", .strings(s.actions)), ("flags", .strings(s.flags)), ("libseccomp", .optional(s.libseccomp)),
            ("libseccompAPI", .int(Int(s.libseccompAPI))),
        ])
    }

    var lsmJSON: JSON {
        let l = facts.securityModules
        let active: JSON = l.active.map { .strings($0) } ?? .null
        return .object([("active", active), ("apparmor", .bool(l.apparmor)), ("selinux", .bool(l.selinux))])
    }

    var facilitiesJSON: JSON {
        let members: [(String, JSON)] = facts.facilities.map {
            let probe = $0.probeErrno == 0 ? "ok" : errorString($0.probeErrno)
            let value: JSON = .object([
                ("available", .bool($0.available)), ("usedByApus", .bool($0.usedByApus)), ("since", .string($0.since)),
                ("probe", .string(probe)),
            ])
            return ($0.name, value)
        }
        return .object(members)
    }
}
