import ApusLinux
import Glibc
import OCI

/// `spec`: runc's default config.json (rootless: for a user namespace of the caller)
/// written into `bundle`, which must not have one yet.
public func writeDefaultSpec(bundle: String, rootless: Bool) throws {
    let path = absolutePath(bundle) + "/config.json"
    if FileIO.exists(path) {
        throw ApusError("File \(path) exists. Remove it first")
    }
    let data: [UInt8]
    do {
        data = [UInt8](
            try Spec.defaultSpec(rootless: rootless, hostUID: geteuid(), hostGID: getegid()).encodedSpec())
    } catch {
        throw ApusError("encode default spec", cause: error)
    }
    let fd = try OwnedFD.open("write \(path)") { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666) }
    do {
        try FileIO.writeAll(fd: fd.raw, bytes: data, step: "write \(path)")
    } catch {
        throw ApusError.wrapping(error)
    }
}
