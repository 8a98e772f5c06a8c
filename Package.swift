// swift-tools-version: 6.0
import PackageDescription

// libseccomp is linked statically so the release binary runs on hosts without it
// (`ldd` shows only libc). The archive comes from Debian's libseccomp-dev.
let staticSeccomp: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "-l:libseccomp.a"])
]

// No implicit `import _StringProcessing`: its String.contains(String) alone linked the regex
// engine into the static binary (1.2 MiB). `contains(substring:)` (OCI/Text.swift) is the
// byte search apus uses.
let noRegex: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import"])
]

// Off the path of a start (D-Bus only with --systemd-cgroup, CRIU only for checkpoint and
// restore): optimized for size, which keeps the binary under 8 MiB.
let forSize: [SwiftSetting] = noRegex + [.unsafeFlags(["-Osize"], .when(configuration: .release))]

let package = Package(
    name: "apus",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "apus", targets: ["apus"])
    ],
    targets: [
        .target(
            name: "CApus",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: staticSeccomp
        ),
        .target(name: "OCI", swiftSettings: noRegex),
        // The D-Bus wire protocol (systemd cgroup driver): no libsystemd, no Foundation.
        .target(name: "ApusDBus", swiftSettings: forSize),
        .target(name: "ApusLinux", dependencies: ["CApus", "OCI", "ApusDBus"], swiftSettings: noRegex),
        // CRIU's RPC (criu swrk over a socket pair, hand-encoded protobuf): usable on its own.
        .target(name: "CRIU", dependencies: ["ApusLinux"], swiftSettings: forSize),
        .target(name: "ApusCore", dependencies: ["ApusLinux", "OCI", "CRIU"], swiftSettings: noRegex),
        .executableTarget(
            name: "apus",
            dependencies: ["ApusCore", "OCI"],
            swiftSettings: noRegex
        ),
        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        // Marshalling against known bytes; a private dbus-daemon when one is installed.
        .testTarget(name: "ApusDBusTests", dependencies: ["ApusDBus"], exclude: ["reference.py"]),
        .testTarget(name: "ApusCoreTests", dependencies: ["ApusCore", "ApusLinux", "OCI"]),
        // The order rules of the setup, through the ProcessKernel seam with a recording fake; no root.
        .testTarget(name: "ApusLinuxTests", dependencies: ["ApusLinux", "OCI"]),
        .testTarget(name: "IntegrationTests", dependencies: ["OCI"]),
        // CRIU's messages against bytes protoc's encoder produced; no root, no criu.
        .testTarget(name: "CRIUTests", dependencies: ["CRIU"]),
        // The command line's declarations against its one table (Flags.swift); no root.
        .testTarget(name: "CLITests", dependencies: ["apus"]),
    ]
)
