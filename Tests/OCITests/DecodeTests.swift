import Foundation
import OCI
import Testing

@Suite("decoding and error mapping")
struct DecodeTests {
    @Test("ConfigError description names config.json and the path")
    func description() {
        #expect(
            ConfigError(path: ".mounts[3].destination", reason: "must not be empty").description
                == "config.json .mounts[3].destination: must not be empty")
        #expect(ConfigError(path: "", reason: "malformed JSON: x").description == "config.json: malformed JSON: x")
    }

    @Test(
        "decoding errors map to a JSON path and a human reason",
        arguments: [
            (#"{"ociVersion": 1}"#, ".ociVersion", "expected a string, got a number"),
            (#"{"ociVersion": null}"#, ".ociVersion", "expected a string, got null"),
            (#"{}"#, ".ociVersion", #"missing required field "ociVersion""#),
            (#"{"ociVersion": "1.2.0", "process": []}"#, ".process", "expected an object, got an array"),
            (
                #"{"ociVersion": "1.2.0", "process": {"user": {"uid": 0}, "cwd": "/"}}"#, ".process.user.gid",
                #"missing required field "gid""#
            ),
            (
                #"{"ociVersion": "1.2.0", "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "consoleSize": {"height": -1, "width": 1}}}"#,
                ".process.consoleSize.height", "expected a non-negative integer, got -1"
            ),
            (
                #"{"ociVersion": "1.2.0", "linux": {"resources": {"memory": {"limit": 9223372036854775808}}}}"#,
                ".linux.resources.memory.limit", "number 9223372036854775808 is out of range"
            ),
            (
                #"{"ociVersion": "1.2.0", "linux": {"resources": {"blockIO": {"weight": 70000}}}}"#,
                ".linux.resources.blockIO.weight", "number 70000 is out of range (0 to 65535)"
            ),
            (
                #"{"ociVersion": "1.2.0", "linux": {"namespaces": [{"type": "pid"}, {"type": 7}]}}"#,
                ".linux.namespaces[1].type", "expected a string, got a number"
            ),
            (
                #"{"ociVersion": "1.2.0", "linux": {"namespaces": [{"type": "PID"}]}}"#, ".linux.namespaces[0].type",
                #"unknown namespace type "PID" (expected one of pid, network, mount, ipc, uts, user, cgroup, time)"#
            ),
            (
                #"{"ociVersion": "1.2.0", "linux": {"timeOffsets": {"monotonic": {"secs": "1"}}}}"#,
                ".linux.timeOffsets.monotonic.secs", "expected an integer, got a string"
            ),
            (
                #"{"ociVersion": "1.2.0", "annotations": {"a.b/c": 1}}"#, #".annotations["a.b/c"]"#,
                "expected a string, got a number"
            ),
            (
                #"{"ociVersion": "1.2.0", "linux": {"resources": {"rdma": {"0": {"hcaHandles": true}}}}}"#,
                #".linux.resources.rdma["0"].hcaHandles"#, "expected a non-negative integer, got a boolean"
            ),
            (
                #"{"ociVersion": "1.2.0", "mounts": [{"destination": "/a"}, 5]}"#, ".mounts[1]",
                "expected an object, got a number"
            ),
        ])
    func mapping(json: String, path: String, reason: String) {
        #expect(throws: ConfigError.self) { try Spec.decode(Data(json.utf8)) }
        do {
            _ = try Spec.decode(Data(json.utf8))
        } catch {
            #expect(error.path == path)
            #expect(error.reason.contains(reason), "got \(error.reason)")
        }
    }

    @Test(
        "malformed JSON is reported with line and column",
        arguments: [
            ("{\n\t\"ociVersion\": \"1.2.0\",\n}", "trailing comma in object at line 2, column 23"),
            ("{\n  \"a\": tru\n}", "invalid literal, expected \"true\" at line 2, column 8"),
            ("{\"a\": 01}", "leading zero at line 1, column 7"),
            ("{\"a\": \"x\ty\"}", "control character in string"),
            ("{\"a\" 1}", "expected ':' at line 1, column 6"),
            ("\u{FEFF}{}", "byte order mark"),
            ("{\"a\": [1, 2}", "expected ',' or ']'"),
            ("   ", "empty document"),
            ("{\"é\": \"\u{1F600}\", x}", "in object, expected a quoted key at line 1, column 12"),
        ])
    func malformed(json: String, reason: String) {
        do {
            _ = try Spec.decode(Data(json.utf8))
            Issue.record("accepted malformed JSON")
        } catch {
            #expect(error.path == "")
            #expect(error.reason.hasPrefix("malformed JSON: "))
            #expect(error.reason.contains(reason), "got \(error.reason)")
        }
    }

    @Test("deep nesting is refused without crashing")
    func deepNesting() {
        let json = "{\"ociVersion\": \"1.2.0\", \"annotations\": " + String(repeating: "[", count: 100_000)
        do {
            _ = try Spec.decode(Data(json.utf8))
            Issue.record("accepted")
        } catch {
            #expect(error.reason.contains("nesting deeper than"))
        }
    }

    @Test("configs over the size cap are refused with the cap in the message")
    func sizeCap() {
        let big = Data(count: Spec.maxConfigSize + 1)
        do {
            _ = try Spec.decode(big)
            Issue.record("accepted")
        } catch {
            #expect(error.path == "")
            #expect(error.reason.contains("16 MiB"))
        }
    }

    @Test("optional fields may be absent: a namespace without path, a process without capabilities")
    func optionals() throws {
        let spec = try Spec.decode(Data(minimalJSON.utf8))
        #expect(spec.linux?.namespaces?[0] == Spec.Linux.Namespace(type: .pid, path: nil))
        #expect(spec.process?.capabilities == nil)
        #expect(spec.process?.user == Spec.User(uid: 0, gid: 0))
        #expect(spec.validate().isEmpty)
    }

    @Test("intelRdt.schemata decodes from a v1.2 string and a v1.3 array")
    func schemata() throws {
        func decode(_ schemata: String) throws -> [String]? {
            let json = #"{"ociVersion": "1.2.0", "linux": {"intelRdt": {"schemata": \#(schemata)}}}"#
            return try Spec.decode(Data(json.utf8)).linux?.intelRdt?.schemata
        }
        #expect(try decode(#""L3:0=7f0\nMB:0=20""#) == ["L3:0=7f0", "MB:0=20"])
        #expect(try decode(#"["L3:0=7f0", "MB:0=20"]"#) == ["L3:0=7f0", "MB:0=20"])
        #expect(try decode("null") == nil)
    }

    @Test("escapes and unicode decode exactly")
    func strings() throws {
        let json = #"{"ociVersion": "1.2.0", "hostname": "a\"b\\c\/d\u00e9\ud83d\ude00\n"}"#
        #expect(try Spec.decode(Data(json.utf8)).hostname == "a\"b\\c/dé😀\n")
    }

    @Test("compact encoding escapes quotes, backslashes and control bytes, and copies the rest")
    func compactStrings() throws {
        let text = "plain\"q\\b\u{1}\ttab é😀\n"
        let bytes = TreeJSON.encode(tree: .array([.string(text), .string(""), .string("\"")]))
        #expect(String(decoding: bytes, as: UTF8.self) == #"["plain\"q\\b\u0001\u0009tab é😀\u000a","","\""]"#)
        #expect(try TreeJSON.parse(bytes) == .array([.string(text), .string(""), .string("\"")]))
    }

    @Test("load(bundle:) reads config.json and names a missing file")
    func load() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-oci-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        do {
            _ = try Spec.load(bundle: dir.path)
            Issue.record("loaded a missing config")
        } catch {
            #expect(error.path == "")
            #expect(error.reason == "cannot read \(dir.path)/config.json: no such file")
        }

        try Data(minimalJSON.utf8).write(to: dir.appendingPathComponent("config.json"))
        let spec = try Spec.load(bundle: dir.path + "/")
        #expect(spec.root?.path == "rootfs")
    }

    @Test("decoding runc's own spec output")
    func runcSpec() throws {
        let spec = try Spec.decode(try Fixtures.data("runc-spec.json"))
        #expect(spec.ociVersion == "1.3.0")  // runc 1.5.1
        #expect(spec.mounts?.count == 7)
        #expect(spec.linux?.namespaces?.map(\.type) == [.pid, .network, .ipc, .uts, .mount])
        #expect(spec.validate().isEmpty)
    }
}
