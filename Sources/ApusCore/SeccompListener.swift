import ApusLinux
import CApus
import Glibc
import OCI

/// linux.seccomp.listenerPath: the runtime sends the seccomp notify fd with
/// the container process state (runtime-spec config-linux.md, "seccomp notify":
/// one message, JSON payload, the fd as SCM_RIGHTS) to the agent listening
/// there. Done from the runtime process, not from init: after pivot_root the
/// socket path is out of init's reach.
enum SeccompListener {
    static func send(
        listener: Int32, spec: Spec, id: String, initPid: Int32, bundle: String
    ) throws(ApusError) {
        defer { close(listener) }
        guard let seccomp = spec.linux?.seccomp, let path = seccomp.listenerPath, !path.isEmpty else {
            throw ApusError("seccomp notify: no listenerPath (config.json .linux.seccomp.listenerPath)")
        }
        var annotations = ""
        for (key, value) in (spec.annotations ?? [:]).sorted(by: { $0.key < $1.key }) {
            if !annotations.isEmpty { annotations += "," }
            annotations += jsonString(key) + ":" + jsonString(value)
        }
        let state =
            "{\"ociVersion\":" + jsonString(spec.ociVersion) + ",\"id\":" + jsonString(id)
            + ",\"status\":\"creating\",\"pid\":\(initPid),\"bundle\":" + jsonString(bundle)
            + (annotations.isEmpty ? "" : ",\"annotations\":{" + annotations + "}") + "}"
        let message =
            "{\"ociVersion\":" + jsonString(spec.ociVersion) + ",\"fds\":[\"seccompFd\"],\"pid\":\(initPid)"
            + ",\"metadata\":" + jsonString(seccomp.listenerMetadata ?? "") + ",\"state\":" + state + "}"
        let socket: Int32
        do {
            socket = try connectUnixSocket(path)
        } catch {
            throw ApusError("seccomp notify: \(error) (config.json .linux.seccomp.listenerPath)")
        }
        defer { close(socket) }
        if apus_send_fd(socket, listener, message) < 0 {
            throw ApusError(
                "seccomp notify: send listener fd to \(path): \(errorString(errno)) (config.json .linux.seccomp.listenerPath)"
            )
        }
    }
}
