import Foundation
import OCI
import Testing

@Suite("default spec (apus spec)")
struct DefaultSpecTests {
    /// runc's output with apus's documented differences applied.
    func runcSpec(_ file: String) throws -> Spec {
        var spec = try Spec.decode(try Fixtures.data(file))
        #expect(spec.ociVersion == Spec.defaultOCIVersion)
        #expect(spec.hostname == "runc")
        spec.hostname = "apus"
        return spec
    }

    @Test("defaultSpec() equals runc 1.5.1 spec except hostname")
    func matchesRunc() throws {
        #expect(Spec.defaultSpec() == (try runcSpec("runc-spec.json")))
        #expect(Spec.defaultSpec().ociVersion == "1.3.0")
        #expect(Spec.defaultSpec().process?.capabilities?.ambient == nil)
    }

    @Test("defaultSpec(rootless: true) equals runc 1.5.1 spec --rootless except hostname")
    func matchesRuncRootless() throws {
        // The fixture was generated as root, so runc mapped container root to host uid/gid 0.
        #expect(Spec.defaultSpec(rootless: true) == (try runcSpec("runc-spec-rootless.json")))
    }

    @Test("rootless maps container root to the given host ids")
    func rootlessIDs() {
        let spec = Spec.defaultSpec(rootless: true, hostUID: 1000, hostGID: 100)
        #expect(spec.linux?.uidMappings == [.init(containerID: 0, hostID: 1000, size: 1)])
        #expect(spec.linux?.gidMappings == [.init(containerID: 0, hostID: 100, size: 1)])
        #expect(spec.linux?.namespaces?.contains { $0.type == .network } == false)
        #expect(spec.linux?.resources == nil)
    }

    @Test("encodedSpec() is byte-for-byte runc's layout", arguments: [false, true])
    func encodedLikeRunc(rootless: Bool) throws {
        let file = rootless ? "runc-spec-rootless.json" : "runc-spec.json"
        let runc = String(decoding: try Fixtures.data(file), as: UTF8.self)
            .replacingOccurrences(of: "\"hostname\": \"runc\"", with: "\"hostname\": \"apus\"")
        let ours = String(decoding: try Spec.defaultSpec(rootless: rootless).encodedSpec(), as: UTF8.self)
        #expect(ours == runc)
    }

    @Test("encodedSpec() sorts map keys like Go and escapes like Go")
    func encodingDetails() throws {
        var spec = Spec(ociVersion: "1.2.0")
        spec.annotations = ["z": "1", "a": "<&>", "m": "tab\there"]
        spec.linux = Spec.Linux(sysctl: ["net.b": "1", "net.a": "2"])
        let text = String(decoding: try spec.encodedSpec(), as: UTF8.self)
        #expect(
            text == """
                {
                \t"ociVersion": "1.2.0",
                \t"annotations": {
                \t\t"a": "\\u003c\\u0026\\u003e",
                \t\t"m": "tab\\there",
                \t\t"z": "1"
                \t},
                \t"linux": {
                \t\t"sysctl": {
                \t\t\t"net.a": "2",
                \t\t\t"net.b": "1"
                \t\t}
                \t}
                }
                """)
    }
}

@Suite("encoding")
struct EncodingTests {
    @Test("default specs round-trip through encodedSpec()", arguments: [false, true])
    func roundTrip(rootless: Bool) throws {
        let spec = Spec.defaultSpec(rootless: rootless)
        #expect(try Spec.decode(try spec.encodedSpec()) == spec)
    }

    @Test("nil fields are omitted and field order follows runtime-spec")
    func order() throws {
        let spec = Spec(
            ociVersion: "1.2.0", process: .init(user: .init(uid: 1, gid: 2), args: ["x"], cwd: "/"),
            root: .init(path: "r"))
        let text = String(decoding: try spec.encodedSpec(), as: UTF8.self)
        #expect(
            text == """
                {
                \t"ociVersion": "1.2.0",
                \t"process": {
                \t\t"user": {
                \t\t\t"uid": 1,
                \t\t\t"gid": 2
                \t\t},
                \t\t"args": [
                \t\t\t"x"
                \t\t],
                \t\t"cwd": "/"
                \t},
                \t"root": {
                \t\t"path": "r"
                \t}
                }
                """)
    }
}
