import Foundation
import Testing

@testable import OCI

/// `FastDecode` must give what `Codable` gives, or give up: every fixture, valid and invalid,
/// decoded both ways from the same tree.
@Suite("config.json fast path")
struct FastDecodeTests {
    static let everyFixture =
        Fixtures.validConfigs.map { "configs/valid/\($0).json" }
        + Fixtures.invalidConfigs.map { "configs/invalid/\($0).json" }
        + ["runc-spec.json", "runc-spec-rootless.json"]

    @Test("the fast path decodes what Codable decodes, or gives up", arguments: everyFixture)
    func sameAsCodable(path: String) throws {
        // Malformed JSON never reaches a decoder.
        guard let tree = try? Spec.parse(try Fixtures.data(path)), let fast = FastDecode.spec(tree) else { return }
        let slow = try Spec.decode(Spec.self, tree: tree)
        #expect(fast == slow, "\(path)")
    }

    /// So the fast path is really taken: runc's and apus's default configs, and the
    /// fixtures shaped like what podman, Docker and containerd write (seccomp, hooks, devices,
    /// id mappings).
    @Test(
        "runc's, apus's and the common configs take the fast path",
        arguments: [
            "runc-spec.json", "runc-spec-rootless.json", "configs/valid/minimal.json",
            "configs/valid/seccomp-full.json", "configs/valid/hooks-all-kinds.json",
            "configs/valid/devices-all-types.json", "configs/valid/user-namespace-joined.json",
            "configs/valid/annotations-and-nulls.json",
        ])
    func commonConfigsAreFast(path: String) throws {
        let tree = try Spec.parse(try Fixtures.data(path))
        let fast = try #require(FastDecode.spec(tree), "\(path) gave up")
        #expect(fast == (try Spec.decode(Spec.self, tree: tree)))
    }

    @Test("apus spec's configs take the fast path")
    func defaultSpecIsFast() throws {
        for spec in [Spec.defaultSpec(), Spec.defaultSpec(rootless: true, hostUID: 1000, hostGID: 1000)] {
            let tree = try Spec.parse(try spec.encodedSpec())
            #expect(FastDecode.spec(tree) == spec)
        }
    }

    /// Fields the fast path does not know, and values it does not take, leave the whole
    /// document to Codable, which decodes or reports them.
    @Test("an unknown field, a fraction or an exponent, a wrong type: the fast path gives up")
    func givesUp() throws {
        let cases = [
            #"{"ociVersion": "1.2.0", "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "color": "red"}}"#,
            #"{"ociVersion": "1.2.0", "linux": {"intelRdt": {"closID": "a"}}}"#,
            #"{"ociVersion": "1.2.0", "process": {"user": {"uid": 1e3, "gid": 0}, "cwd": "/"}}"#,
            #"{"ociVersion": "1.2.0", "process": {"user": {"uid": "0", "gid": 0}, "cwd": "/"}}"#,
            #"{"ociVersion": "1.2.0", "linux": {"namespaces": [{"type": "nope"}]}}"#,
            #"{"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/"}}"#,
        ]
        for json in cases {
            let tree = try Spec.parse(Data(json.utf8))
            #expect(FastDecode.spec(tree) == nil, "\(json)")
        }
        // The first is still accepted: Codable ignores the unknown field.
        #expect((try? Spec.decode(Data(cases[0].utf8)))?.process?.cwd == "/")
        // The last still fails with Codable's message.
        #expect(problems(cases[5]).first?.description.contains("ociVersion") == true)
    }
}
