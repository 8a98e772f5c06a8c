import ApusCore
import ApusLinux
import ArgumentParser
import FoundationEssentials
import Glibc
import OCI

struct SpecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spec", abstract: "Write a default config.json (like runc spec) into the bundle.")
    @Option(name: [.customShort("b"), .long], help: "Bundle directory to write config.json into.")
    var bundle: String = "."
    @Flag(help: "Write a config for a rootless container.") var rootless = false

    func run() throws {
        let path = absolutePath(bundle) + "/config.json"
        if FileIO.exists(path) {
            throw RuntimeError("File \(path) exists. Remove it first")
        }
        let data: [UInt8]
        do {
            data = [UInt8](
                try Spec.defaultSpec(rootless: rootless, hostUID: geteuid(), hostGID: getegid()).encodedSpec())
        } catch {
            throw RuntimeError("encode default spec: \(error)")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        if fd < 0 { throw RuntimeError("write \(path): \(errorString(errno))") }
        defer { close(fd) }
        do {
            try FileIO.writeAll(fd: fd, bytes: data, step: "write \(path)")
        } catch {
            throw RuntimeError("\(error)")
        }
    }
}
