import Foundation
import OCI
import Testing

/// `apus features`, `apus info`, the completion scripts and the man page, through the binary.
@Suite("features and info", .integration)
struct FeaturesTests {
    func features() throws -> [String: Any] {
        let out = try apus("features")
        #expect(out.status == 0, "\(out.all)")
        return try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
    }

    func runcFeatures() throws -> [String: Any]? {
        let runc = try Env.requireRunc()
        let out = try sh(runc, ["features"])
        guard out.status == 0 else { return nil }
        return try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
    }

    /// Object keys in document order (JSONSerialization loses it).
    func keys(_ text: String, depth: Int) -> [String] {
        var found: [String] = []
        var level = 0
        var inString = false
        var escaped = false
        var current = ""
        var afterString = false
        for c in text {
            if inString {
                if escaped {
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    inString = false
                    afterString = true
                    continue
                } else {
                    current.append(c)
                }
                continue
            }
            switch c {
            case "\"":
                inString = true
                current = ""
            case ":" where afterString && level == depth: found.append(current)
            case "{", "[": level += 1
            case "}", "]": level -= 1
            default: break
            }
            if c != " " && c != "\n" { afterString = false }
        }
        return found
    }

    @Test("features is the spec's document, keys in spec order")
    func shape() throws {
        let out = try apus("features")
        #expect(
            keys(out.stdout, depth: 1) == [
                "ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux", "annotations",
                "potentiallyUnsafeConfigAnnotations",
            ])
        // The one annotation of config.json apus acts on: checkpoint/restore's criu config file.
        #expect((try features())["potentiallyUnsafeConfigAnnotations"] as? [String] == ["org.criu.config"])
        let f = try features()
        let linux = try #require(f["linux"] as? [String: Any])
        #expect(
            Set(linux.keys) == [
                "namespaces", "capabilities", "cgroup", "seccomp", "apparmor", "selinux", "intelRdt",
                "memoryPolicy", "mountExtensions", "netDevices",
            ])
        let seccomp = try #require(linux["seccomp"] as? [String: Any])
        #expect(
            Set(seccomp.keys) == ["enabled", "actions", "operators", "archs", "knownFlags", "supportedFlags"])
        let cgroup = try #require(linux["cgroup"] as? [String: Bool])
        #expect(cgroup == ["v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true])
        let annotations = try #require(f["annotations"] as? [String: String])
        #expect(annotations["io.github.apus.version"] != nil)
        #expect(annotations["io.github.seccomp.libseccomp.version"]?.split(separator: ".").count == 3)
        #expect(isSupportedOCIVersion(f["ociVersionMin"] as? String ?? ""))
        #expect(isSupportedOCIVersion(f["ociVersionMax"] as? String ?? ""))
    }

    /// docs/spec-audit.md says where each field takes effect; `features` says what apus
    /// supports. They must tell the same story: a feature enabled has a row that applies it,
    /// a feature disabled has a row that refuses it, and every annotation apus acts on is named
    /// in the annotations row.
    @Test("features and docs/spec-audit.md agree")
    func agreesWithAudit() throws {
        let doc = try String(contentsOf: Env.repo.appendingPathComponent("docs/spec-audit.md"), encoding: .utf8)
        func row(_ field: String) throws -> String {
            try #require(
                doc.split(separator: "\n").first { $0.hasPrefix("| `\(field)") }.map(String.init),
                "no row for \(field) in docs/spec-audit.md")
        }
        let f = try features()
        let linux = try #require(f["linux"] as? [String: Any])
        func enabled(_ path: [String]) -> Bool? {
            var node: Any? = linux
            for key in path { node = (node as? [String: Any])?[key] }
            return node as? Bool
        }
        let pairs: [(feature: [String], field: String)] = [
            (["intelRdt", "enabled"], "linux.intelRdt"),
            (["netDevices", "enabled"], "linux.netDevices"),
            (["mountExtensions", "idmap", "enabled"], "mounts[].uidMappings"),
            (["seccomp", "enabled"], "linux.seccomp.defaultAction"),
            (["apparmor", "enabled"], "process.apparmorProfile"),
            (["selinux", "enabled"], "process.selinuxLabel"),
        ]
        for (feature, field) in pairs {
            let isEnabled = try #require(enabled(feature), "features has no linux.\(feature.joined(separator: "."))")
            let text = try row(field)
            let refused = text.contains("**refused**") || text.contains("refused at create")
            #expect(
                isEnabled != refused, "features linux.\(feature.joined(separator: ".")) is \(isEnabled); audit: \(text)"
            )
        }
        let modes = try #require((linux["memoryPolicy"] as? [String: Any])?["modes"] as? [String])
        let memoryPolicyRow = try row("linux.memoryPolicy")
        #expect(!modes.isEmpty && !memoryPolicyRow.contains("refused at create"))
        let annotationsRow = try row("annotations")
        for name in try #require(f["potentiallyUnsafeConfigAnnotations"] as? [String]) {
            #expect(annotationsRow.contains("`\(name)`"), "\(name) is not in the audit's annotations row")
        }
        let hooks = try #require(f["hooks"] as? [String])
        for kind in hooks { #expect(doc.contains(kind), "hook \(kind) is not in the audit") }
    }

    @Test("every listed name is one the config parser and validator accept")
    func namesAreAccepted() throws {
        let f = try features()
        let linux = try #require(f["linux"] as? [String: Any])
        for option in f["mountOptions"] as? [String] ?? [] {
            let parsed = parseMountOptions([option])
            #expect(parsed.data.isEmpty, "\(option) is not recognised: it would go to the filesystem")
        }
        for ns in linux["namespaces"] as? [String] ?? [] {
            #expect(Spec.Linux.Namespace.Kind(rawValue: ns) != nil, "\(ns)")
        }
        let caps = linux["capabilities"] as? [String] ?? []
        #expect(Set(caps) == Set(knownCapabilities.keys))
        #expect(caps == knownCapabilities.sorted { $0.value < $1.value }.map(\.key), "in capability-number order")
        let seccomp = try #require(linux["seccomp"] as? [String: Any])
        #expect(Set(seccomp["actions"] as? [String] ?? []) == knownSeccompActions)
        #expect(Set(seccomp["operators"] as? [String] ?? []) == knownSeccompOperators)
        #expect(Set(seccomp["archs"] as? [String] ?? []).isSubset(of: knownSeccompArchitectures))
        #expect(Set(seccomp["knownFlags"] as? [String] ?? []) == Set(knownSeccompFlags.keys))
        let supported = Set(seccomp["supportedFlags"] as? [String] ?? [])
        #expect(supported.isSubset(of: Set(knownSeccompFlags.keys)))
        let idmap = (linux["mountExtensions"] as? [String: Any])?["idmap"] as? [String: Bool]
        #expect(idmap?["enabled"] == true, "apus applies mounts[].uidMappings and idmap/ridmap")
        #expect((f["mountOptions"] as? [String] ?? []).contains("ridmap"))
    }

    @Test("a container runs with a profile using every listed action, operator, architecture and flag")
    func seccompProfileRuns() throws {
        let f = try features()
        let seccomp = try #require((f["linux"] as? [String: Any])?["seccomp"] as? [String: Any])
        // NOTIFY needs a listener agent: SecurityTests.notifyListener covers it.
        let actions = (seccomp["actions"] as? [String] ?? []).filter {
            $0 != "SCMP_ACT_ALLOW" && $0 != "SCMP_ACT_NOTIFY"
        }
        let operators = seccomp["operators"] as? [String] ?? []
        // Syscalls `sh -c 'echo ok'` never makes, one per rule, so no rule can fire.
        let unused = [
            "acct", "swapon", "swapoff", "reboot", "kexec_load", "delete_module", "init_module", "quotactl",
            "settimeofday", "vhangup", "adjtimex", "clock_adjtime", "syslog", "pivot_root", "umount2",
        ]
        try #require(actions.count + operators.count <= unused.count)
        var rules: [Seccomp.Syscall] = actions.enumerated().map { i, action in
            Seccomp.Syscall(
                names: [unused[i]], action: action,
                errnoRet: action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE" ? 1 : nil)
        }
        for (j, op) in operators.enumerated() {
            rules.append(
                Seccomp.Syscall(
                    names: [unused[actions.count + j]], action: "SCMP_ACT_ERRNO",
                    args: [.init(index: 0, value: 1, valueTwo: op == "SCMP_CMP_MASKED_EQ" ? 1 : nil, op: op)]))
        }
        // libseccomp refuses to mix byte orders in one filter (EDOM), so a profile holds the
        // little-endian architectures only, as Docker's and podman's per-host lists do.
        let littleEndian: Set<String> = [
            "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC64LE",
            "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_SH",
        ]
        let archs = (seccomp["archs"] as? [String] ?? []).filter { littleEndian.contains($0) }
        #expect(archs.count >= 5)
        let bundle = try TestBundle {
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW", architectures: archs,
                flags: seccomp["supportedFlags"] as? [String], syscalls: rules)
        }
        try bundle.command("sh", "-c", "echo ok; grep Seccomp: /proc/self/status")
        let out = try apus("run", "--bundle", bundle.path, uniqueID("feat"))
        #expect(out.status == 0, "\(out.all)")
        #expect(out.stdout.contains("ok") && out.stdout.contains("Seccomp:\t2"), "\(out.all)")
        #expect(!out.stderr.contains("unknown to libseccomp"), "a listed architecture was skipped: \(out.stderr)")
    }

    /// What runc 1.5.1's features document lists and apus does not apply (yet): listing
    /// them would claim an effect apus does not have (issue 17 tracks each).
    static let notYetApplied: (top: Set<String>, linux: Set<String>) = (
        top: [], linux: []
    )

    @Test("features says at least what runc 1.5.1 says, except what apus does not apply")
    func comparedWithRunc() throws {
        guard let runc = try runcFeatures() else { return }
        let ours = try features()
        #expect(Set(runc.keys).subtracting(Self.notYetApplied.top).isSubset(of: Set(ours.keys)))
        for key in Self.notYetApplied.top { #expect(ours[key] == nil, "\(key) is listed: drop it from notYetApplied") }
        #expect(ours["hooks"] as? [String] == runc["hooks"] as? [String])
        // runc lists "acl"/"noacl" (MS_POSIXACL is not a per-mount flag, runc issue #3738).
        let notApplied: Set<String> = ["acl", "noacl"]
        let runcOptions = Set(runc["mountOptions"] as? [String] ?? [])
        let ourOptions = Set(ours["mountOptions"] as? [String] ?? [])
        #expect(runcOptions.subtracting(ourOptions) == notApplied.intersection(runcOptions))
        let runcLinux = try #require(runc["linux"] as? [String: Any])
        let ourLinux = try #require(ours["linux"] as? [String: Any])
        #expect(Set(runcLinux.keys).subtracting(Self.notYetApplied.linux).isSubset(of: Set(ourLinux.keys)))
        for key in Self.notYetApplied.linux {
            #expect(ourLinux[key] == nil, "linux.\(key) is listed: drop it from notYetApplied")
        }
        for key in ["namespaces", "capabilities"] {
            let theirs = Set(runcLinux[key] as? [String] ?? [])
            #expect(theirs.isSubset(of: Set(ourLinux[key] as? [String] ?? [])), "\(key)")
        }
        let runcSeccomp = try #require(runcLinux["seccomp"] as? [String: Any])
        let ourSeccomp = try #require(ourLinux["seccomp"] as? [String: Any])
        // runc lists the architectures of its Go table; apus those its libseccomp resolves.
        // Debian 12's libseccomp 2.5.4 predates LoongArch (2.6.0), so a filter naming it
        // would be refused: apus does not list it.
        let unknownToLibseccomp: Set<String> = ["SCMP_ARCH_LOONGARCH64"]
        for key in ["actions", "operators", "archs"] {
            let theirs = Set(runcSeccomp[key] as? [String] ?? []).subtracting(unknownToLibseccomp)
            #expect(theirs.isSubset(of: Set(ourSeccomp[key] as? [String] ?? [])), "seccomp \(key)")
        }
        // linux.memoryPolicy: the same modes and flags (Placement.applyMemoryPolicy).
        let runcPolicy = try #require(runcLinux["memoryPolicy"] as? [String: Any])
        let ourPolicy = try #require(ourLinux["memoryPolicy"] as? [String: Any])
        for key in ["modes", "flags"] {
            #expect(ourPolicy[key] as? [String] == runcPolicy[key] as? [String], "memoryPolicy \(key)")
        }
        let runcAnnotations = runc["annotations"] as? [String: String] ?? [:]
        let ourAnnotations = ours["annotations"] as? [String: String] ?? [:]
        if let version = runcAnnotations["io.github.seccomp.libseccomp.version"] {
            // Debian builds both against the same libseccomp.
            #expect(ourAnnotations["io.github.seccomp.libseccomp.version"] == version)
        }
    }

    // MARK: - info

    /// The layout as mountinfo shows it, computed independently of apus.
    func mountinfoCgroups() throws -> (layout: String, v1: [String: Set<String>], v2: [String]) {
        let text = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        var v1: [String: Set<String>] = [:]
        var v2: [String] = []
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3 else { continue }
            let mountpoint = String(left[4])
            if right[0] == "cgroup2" { v2.append(mountpoint) }
            if right[0] == "cgroup" { v1[mountpoint] = Set(right[2].split(separator: ",").map(String.init)) }
        }
        let layout: String
        if v2.contains("/sys/fs/cgroup") || (v1.isEmpty && !v2.isEmpty) {
            layout = "v2"
        } else {
            layout = v2.isEmpty ? "v1" : "hybrid"
        }
        return (layout, v1, v2)
    }

    func info() throws -> [String: Any] {
        let out = try apus("info", "--format", "json")
        #expect(out.status == 0, "\(out.all)")
        return try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
    }

    @Test("info --format json: the cgroup layout is what mountinfo says")
    func infoCgroups() throws {
        let expected = try mountinfoCgroups()
        let cgroup = try #require(try info()["cgroup"] as? [String: Any])
        #expect(cgroup["layout"] as? String == expected.layout)
        let hierarchies = try #require(cgroup["hierarchies"] as? [[String: Any]])
        for h in hierarchies {
            let mountpoint = h["mountpoint"] as? String ?? ""
            let controllers = Set(h["controllers"] as? [String] ?? [])
            if h["version"] as? String == "v1" {
                let options = try #require(expected.v1[mountpoint], "\(mountpoint) is no cgroup v1 mount")
                #expect(controllers.isSubset(of: options), "\(mountpoint): \(controllers) vs \(options)")
            } else {
                #expect(expected.v2.contains(mountpoint), "\(mountpoint) is no cgroup2 mount")
                let file = (try? String(contentsOfFile: mountpoint + "/cgroup.controllers", encoding: .utf8)) ?? ""
                #expect(controllers == Set(file.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)))
            }
        }
        if expected.layout != "v2" {
            // Every v1 controller hierarchy under /sys/fs/cgroup is listed.
            let listed = Set(hierarchies.compactMap { $0["mountpoint"] as? String })
            for (mountpoint, options) in expected.v1 where mountpoint.hasPrefix("/sys/fs/cgroup/") {
                if options.contains("memory") || options.contains("pids") || options.contains("cpu") {
                    #expect(listed.contains(mountpoint), "\(mountpoint) missing")
                }
            }
        }
        let resources = try #require(cgroup["resources"] as? [String: [String: Any]])
        if expected.v1.values.contains(where: { $0.contains("memory") }) && expected.layout != "v2" {
            #expect(resources["memory"]?["version"] as? String == "v1")
        }
    }

    @Test("info --format json: namespaces, seccomp and facilities are filled")
    func infoFacts() throws {
        let i = try info()
        let namespaces = try #require(i["namespaces"] as? [String: Bool])
        for kind in Spec.Linux.Namespace.Kind.allCases {
            let proc = kind == .network ? "net" : kind == .mount ? "mnt" : kind.rawValue
            #expect(namespaces[kind.rawValue] == FileManager.default.fileExists(atPath: "/proc/self/ns/" + proc))
        }
        let seccomp = try #require(i["seccomp"] as? [String: Any])
        #expect(seccomp["filter"] as? Bool == true)
        let f = try features()
        let annotation = (f["annotations"] as? [String: String])?["io.github.seccomp.libseccomp.version"]
        #expect(seccomp["libseccomp"] as? String == annotation)
        let featureFlags = ((f["linux"] as? [String: Any])?["seccomp"] as? [String: Any])?["supportedFlags"]
        #expect(seccomp["flags"] as? [String] == featureFlags as? [String])
        let facilities = try #require(i["facilities"] as? [String: [String: Any]])
        #expect(Set(facilities.keys).isSuperset(of: ["openat2", "pidfd_open", "mount_setattr", "clone3"]))
        // apus is running containers on this host, so what it cannot do without is there.
        #expect(facilities["openat2"]?["available"] as? Bool == true)
        #expect(i["hints"] is [String])
    }

    @Test("info text: headed sections of aligned key: value lines")
    func infoText() throws {
        let out = try apus("info")
        #expect(out.status == 0, "\(out.all)")
        let lines = out.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for heading in ["Kernel", "Cgroups", "Namespaces", "Seccomp", "Security modules", "Kernel facilities"] {
            #expect(lines.contains(heading), "no \(heading) section")
        }
        for line in lines where line.hasPrefix("  ") {
            let body = line.drop { $0 == " " }
            #expect(body.hasPrefix("→ ") || body.contains(": "), "not a key: value line: \(line)")
        }
        #expect(try apus("info", "--format", "yaml").status != 0)
    }

    /// apus inside a container whose seccomp profile answers ENOSYS for openat2 and
    /// close_range: `info` must say they are missing and what that costs.
    @Test("info reports a facility a seccomp filter hides, with its hint")
    func infoUnderFilter() throws {
        guard let binary = Env.apus, try sh("/usr/bin/ldd", [binary]).status != 0 else {
            try Test.cancel("info under seccomp: APUS_BIN is not a static binary (make build)")
        }
        let bundle = try TestBundle {
            $0.mounts =
                ($0.mounts ?? []) + [
                    Spec.Mount(destination: "/apus", type: "bind", source: binary, options: ["bind", "ro"])
                ]
            $0.linux?.seccomp = Seccomp(
                defaultAction: "SCMP_ACT_ALLOW",
                syscalls: [
                    .init(names: ["openat2", "close_range"], action: "SCMP_ACT_ERRNO", errnoRet: UInt32(ENOSYS))
                ])
        }
        try bundle.command("/apus", "info", "--format", "json")
        let out = try apus("run", "--bundle", bundle.path, uniqueID("info"))
        #expect(out.status == 0, "\(out.all)")
        let i = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let facilities = try #require(i["facilities"] as? [String: [String: Any]])
        #expect(facilities["openat2"]?["available"] as? Bool == false)
        #expect(facilities["close_range"]?["available"] as? Bool == false)
        #expect(facilities["pidfd_open"]?["available"] as? Bool == true)
        #expect((i["seccomp"] as? [String: Any])?["currentMode"] as? Int == 2)
        let hints = i["hints"] as? [String] ?? []
        #expect(hints.contains { $0.contains("no container can be created") }, "\(hints)")
        #expect(hints.contains { $0.contains("filter around apus") }, "\(hints)")
    }

    // MARK: - completions and man page

    @Test("completion scripts complete subcommands", arguments: ["bash", "zsh", "fish"])
    func completionScript(shell: String) throws {
        let out = try apus("--generate-completion-script", shell)
        #expect(out.status == 0, "\(out.all)")
        for command in ["create", "start", "features", "info", "exec"] {
            #expect(out.stdout.contains(command), "\(shell) script lacks \(command)")
        }
        guard shell == "bash" else { return }
        let dir = NSTemporaryDirectory() + "apus-comp-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try out.stdout.write(toFile: dir + "/apus.bash", atomically: true, encoding: .utf8)
        // What bash does on TAB: COMP_* set, then the function with (command, word, previous word).
        let driver = """
            source \(dir)/apus.bash
            complete_line() {
                COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$1"
                [[ "$1" == *" " ]] && COMP_WORDS+=("")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
                _apus apus "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                echo "${COMPREPLY[*]}"
            }
            complete_line "apus cr"
            complete_line "apus --root /tmp/x st"
            complete_line "apus info --format "
            """
        let result = try sh("/bin/bash", ["-c", driver])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines == ["create", "start state", "text json"], "\(result.all)")
    }

    @Test("the man page generator covers every command and renders")
    func manPage() throws {
        guard let binary = Env.apus else { return }
        let script = Env.repo.appendingPathComponent("scripts/gen-man.py").path
        let page = try sh("/usr/bin/python3", [script, binary])
        #expect(page.status == 0, "\(page.stderr)")
        for command in [
            "spec", "validate", "create", "start", "run", "state", "kill", "delete", "list", "update", "pause",
            "resume", "events", "ps", "exec", "features", "info",
        ] {
            #expect(page.stdout.contains(".SS \"\(command)\""), "no section for \(command)")
        }
        #expect(page.stdout.contains("\\-\\-console\\-socket"))
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/groff") else {
            try Test.cancel("man page rendering: groff is not installed")
        }
        let file = NSTemporaryDirectory() + "apus-\(UInt32.random(in: 0..<UInt32.max)).8"
        try page.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        // -P-cbou: plain text, no overstrike bold, so the headings can be searched.
        let rendered = try sh("/usr/bin/groff", ["-man", "-Tutf8", "-ww", "-P-cbou", file])
        #expect(rendered.status == 0 && rendered.stderr.isEmpty, "\(rendered.stderr)")
        #expect(rendered.stdout.contains("SYNOPSIS"))
    }
}
