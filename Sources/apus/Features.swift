import ApusCore
import ApusLinux
import ArgumentParser
import CApus
import OCI

struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Show what this build of apus supports, as the runtime-spec features JSON.",
        discussion: "The same document as runc features; see the runtime-spec's features.md.")

    func run() throws {
        printOut(Features.document.text() + "\n")
    }
}

/// The runtime-spec "features" document (features.md, features-linux.md). Each list comes
/// from the table the runtime itself uses, so it cannot promise what a config then fails on.
enum Features {
    /// The oldest config version `isSupportedOCIVersion` accepts.
    static let ociVersionMin = "1.0.0"

    static var document: JSON {
        let idmap = MountOption.idmap(recursive: false).isImplemented
        var annotations: [(String, JSON)] = [("io.github.apus.version", .string(Version.apus))]
        if let v = seccomp_version() {
            // The key runc and crun use, so tools that read it find it.
            annotations.append(
                (
                    "io.github.seccomp.libseccomp.version",
                    .string("\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)")
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
                            // --systemd-cgroup is accepted for runc compatibility and ignored:
                            // apus always manages cgroupfs itself.
                            ("systemd", .bool(false)),
                            ("systemdUser", .bool(false)),
                            ("rdma", .bool(true)),
                        ])
                    ),
                    (
                        "seccomp",
                        .object([
                            ("enabled", .bool(seccomp_version() != nil)),
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
                    ("mountExtensions", .object([("idmap", .object([("enabled", .bool(idmap))]))])),
                ])
            ),
            ("annotations", .object(annotations.sorted { $0.0 < $1.0 })),
        ])
    }
}

/// Documents whose layout is part of the interface (`features`, `info --format json`) are
/// OCI's ordered JSON tree, printed as Go's `json.MarshalIndent(v, "", "    ")` prints,
/// which is what `runc features` shows.
typealias JSON = JSONNode

extension JSONNode {
    static func int(_ value: Int) -> JSON { .number(String(value)) }
    static func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }
    static func optional(_ value: String?) -> JSON { value.map { .string($0) } ?? .null }
    func text() -> String { prettyPrinted(unit: "    ") }
}
