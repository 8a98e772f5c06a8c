import Foundation
import OCI
import Testing

@Suite("validation")
struct ValidateTests {
    @Test(
        "ociVersion acceptance",
        arguments: [
            ("1.0.0", true), ("1.0.1", true), ("1.0.2", true), ("1.0.2-dev", true), ("1.0.0-rc5", true),
            ("1.0.0-rc5-dev", true), ("1.1.0", true), ("1.1.0-rc.1", true), ("1.2.0", true), ("1.2.1", true),
            ("1.3.0", true), ("1.3.7", true), ("1.3.0+build.5", true), ("1.2.0-rc.1+dev", true),
            ("1.4.0", false), ("2.0.0", false), ("0.5.0", false), ("0.5.0-dev", false), ("1.2", false),
            ("1", false), ("", false), ("v1.2.0", false), ("1.2.0-beta", false), ("01.2.0", false),
            ("1.02.0", false), ("1.2.0-", false), ("1.2.0+", false), ("1.2.x", false), (" 1.2.0", false),
            ("1.2.0.0", false),
        ])
    func versions(version: String, supported: Bool) {
        #expect(isSupportedOCIVersion(version) == supported)
    }

    @Test("validation reports every problem, not just the first")
    func everyProblem() throws {
        var spec = try Spec.decode(Data(minimalJSON.utf8))
        spec.ociVersion = "9.9.9"
        spec.process?.cwd = "relative"
        spec.process?.capabilities = .init(bounding: ["CAP_NOPE"], ambient: ["CAP_ALSO_NOPE"])
        spec.mounts = [Spec.Mount(destination: "", type: "tmpfs", source: "tmpfs")]
        spec.linux?.rootfsPropagation = "sideways"
        spec.linux?.namespaces?.append(.init(type: .mount))
        let paths = spec.validate().map(\.path)
        #expect(
            paths == [
                ".ociVersion", ".process.cwd", ".process.capabilities.bounding[0]",
                ".process.capabilities.ambient[0]", ".mounts[0].destination", ".linux.namespaces[2].type",
                ".linux.rootfsPropagation",
            ])
    }

    @Test("every known capability is accepted; numbers are unique and dense up to 40")
    func capabilities() throws {
        #expect(knownCapabilities.count == 41)
        #expect(Set(knownCapabilities.values) == Set(0...lastKnownCapability))
        #expect(knownCapabilities["CAP_CHECKPOINT_RESTORE"] == 40)
        var spec = try Spec.decode(Data(minimalJSON.utf8))
        let all = knownCapabilities.keys.sorted()
        spec.process?.capabilities = .init(
            bounding: all, effective: all, inheritable: all, permitted: all, ambient: all)
        #expect(spec.validate().isEmpty)
    }

    @Test("rlimit table matches asm-generic/resource.h")
    func rlimits() {
        #expect(knownRlimits.count == 16)
        #expect(knownRlimits["RLIMIT_NOFILE"] == 7)
        #expect(knownRlimits["RLIMIT_RTTIME"] == 15)
        #expect(Set(knownRlimits.values) == Set(0...15))
    }

    @Test(
        "rootfsPropagation values",
        arguments: ["private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable", ""])
    func propagation(value: String) throws {
        var spec = try Spec.decode(Data(minimalJSON.utf8))
        spec.linux?.rootfsPropagation = value
        #expect(spec.validate().isEmpty)
    }

    @Test("relative mount destinations are accepted (deprecated, relative to /)")
    func relativeDestination() throws {
        var spec = try Spec.decode(Data(minimalJSON.utf8))
        spec.mounts = [Spec.Mount(destination: "tmp", type: "tmpfs", source: "tmpfs")]
        #expect(spec.validate().isEmpty)
    }

    @Test("the default specs validate")
    func defaults() {
        #expect(Spec.defaultSpec().validate().isEmpty)
        #expect(Spec.defaultSpec(rootless: true, hostUID: 1000, hostGID: 1000).validate().isEmpty)
    }

    @Test(
        "CPU lists",
        arguments: [
            ("0", [0...0]), ("0-3", [0...3]), ("0-3,5,7-8", [0...3, 5...5, 7...8]), ("1,1", [1...1, 1...1]),
            ("2-3\n", [2...3]),
        ])
    func cpuLists(list: String, ranges: [ClosedRange<Int>]) {
        #expect(parseCPUList(list) == ranges)
    }

    @Test("malformed CPU lists", arguments: ["", "-", "0-", "-1", "3-1", "a", "1,,2", "1-2-3", "0x1"])
    func badCPULists(list: String) {
        #expect(parseCPUList(list) == nil)
    }

    @Test("validation is pure: a rootfs path that does not exist is not its concern")
    func pure() throws {
        var spec = try Spec.decode(Data(minimalJSON.utf8))
        spec.root = Spec.Root(path: "/nonexistent/\(UUID().uuidString)")
        #expect(spec.validate().isEmpty)
    }
}

@Suite("refused fields")
struct RefusedFieldTests {
    @Test("every refused field is refused by validation, naming its path")
    func refusedByValidation() throws {
        var spec = try Spec.decode(try Fixtures.data("configs/valid/no-process.json"))
        spec.process = Spec.Process(args: ["true"], commandLine: "cmd.exe", cwd: "/")
        spec.process?.user.username = "ContainerUser"
        let paths = Set(spec.validate().map(\.path))
        for field in refusedFields { #expect(paths.contains(field.path), "\(field.path) not refused") }
    }

    @Test("docs/spec-audit.md lists every refused field")
    func auditListsThem() throws {
        let doc = try String(
            contentsOf: Fixtures.root.deletingLastPathComponent().appendingPathComponent("docs/spec-audit.md"),
            encoding: .utf8)
        // The audit writes paths without the leading dot: `process.commandLine`.
        for field in refusedFields {
            #expect(doc.contains("`\(field.path.dropFirst())` | **refused**"), "\(field.path) missing in the audit")
        }
    }
}
