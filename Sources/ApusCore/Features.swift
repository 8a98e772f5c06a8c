import ApusLinux
import OCI

/// The runtime-spec "features" document (features.md, features-linux.md). Each list comes
/// from the table the runtime itself uses, so it cannot promise what a config then fails on.
public enum Features {
    /// The oldest config version `isSupportedOCIVersion` accepts.
    public static let ociVersionMin = "1.0.0"

    public static var document: JSON { document(criu: nil) }

    /// `criu`: the --criu binary whose checkpoint support the annotations report.
    public static func document(criu: String?) -> JSON {
        let idmap = MountOption.idmap(recursive: false).isImplemented
        var annotations: [(String, JSON)] = [
            ("io.github.apus.version", .string(Version.apus)),
            // checkpoint/restore: whether criu is found and usable here, and why not.
            ("io.github.apus.checkpoint", .string(CheckpointSupport.probe(criu: criu).summary)),
        ]
        if let v = Version.libseccomp {
            // The key runc and crun use, so tools that read it find it.
            annotations.append(
                (
                    "io.github.seccomp.libseccomp.version",
                    .string(v)
                ))
        }
        return .object([
            ("ociVersionMin", .string(ociVersionMin)),
            ("ociVersionMax", .string(Version.spec)),
            ("hooks", .strings(Hooks.kinds)),
            ("mountOptions", .strings(mountOptionTable.filter { $0.value.isImplemented }.map(\.key).sorted())),
            (
                "linux",
                .object([
                    ("namespaces", .strings(Spec.Linux.Namespace.Kind.allCases.map(\.rawValue).sorted())),
                    ("capabilities", .strings(knownCapabilities.sorted { $0.value < $1.value }.map(\.key))),
                    (
                        "cgroup",
                        .object([
                            // Every controller has a v1 and a v2 writer (Sources/ApusLinux/Cgroups).
                            ("v1", .bool(true)),
                            ("v2", .bool(true)),
                            // --systemd-cgroup: a transient unit on the system bus, or
                            // rootless on the user's bus (SystemdDriver; both proven in
                            // Tests/systemd's VM).
                            ("systemd", .bool(true)),
                            ("systemdUser", .bool(true)),
                            ("rdma", .bool(true)),
                        ])
                    ),
                    (
                        "seccomp",
                        .object([
                            ("enabled", .bool(Version.libseccomp != nil)),
                            ("actions", .strings(SeccompFilter.supportedActions)),
                            ("operators", .strings(SeccompFilter.supportedOperators)),
                            ("archs", .strings(SeccompFilter.supportedArchitectures)),
                            ("knownFlags", .strings(knownSeccompFlags.keys.sorted())),
                            ("supportedFlags", .strings(HostFacts.supportedSeccompFlags())),
                        ])
                    ),
                    // ProcessAttributes writes process.apparmorProfile and
                    // process.selinuxLabel to /proc/self/attr.
                    ("apparmor", .object([("enabled", .bool(true))])),
                    ("selinux", .object([("enabled", .bool(true))])),
                    // linux.intelRdt is refused ("not supported by apus yet").
                    ("intelRdt", .object([("enabled", .bool(false))])),
                    // Placement.applyMemoryPolicy: set_mempolicy with these tables' values.
                    (
                        "memoryPolicy",
                        .object([
                            ("modes", .strings(knownMemoryPolicyModes.keys.sorted())),
                            ("flags", .strings(knownMemoryPolicyFlags.keys.sorted())),
                        ])
                    ),
                    ("mountExtensions", .object([("idmap", .object([("enabled", .bool(idmap))]))])),
                    // NetDevices moves them over rtnetlink at create.
                    ("netDevices", .object([("enabled", .bool(true))])),
                ])
            ),
            ("annotations", .object(annotations.sorted { $0.0 < $1.0 })),
            // Annotations that change what the runtime does (runc: bundle, org.systemd.property.,
            // org.criu.config). apus acts on org.criu.config only: checkpoint and restore give
            // the criu config file it names to criu.
            ("potentiallyUnsafeConfigAnnotations", .strings(["org.criu.config"])),
        ])
    }
}

/// Documents whose layout is part of the interface (`features`, `info --format json`) are
/// OCI's ordered JSON tree, printed as Go's `json.MarshalIndent(v, "", "    ")` prints,
/// which is what `runc features` shows.
public typealias JSON = JSONNode

extension JSONNode {
    public static func int(_ value: Int) -> JSON { .number(String(value)) }
    public static func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }
    public static func optional(_ value: String?) -> JSON { value.map { .string($0) } ?? .null }
    public func text() -> String { prettyPrinted(unit: "    ") }
}
