import ApusLinux
import Glibc
import OCI

/// linux.seccomp.listenerPath: the runtime sends the seccomp notify fd with
/// the container process state (runtime-spec config-linux.md, "seccomp notify":
/// one message, JSON payload, the fd as SCM_RIGHTS) to the agent listening
/// there. Done from the runtime process, not from init: after pivot_root the
/// socket path is out of init's reach.
enum SeccompListener {
    static func send(
        listener: consuming OwnedFD, spec: Spec, id: String, initPid: Int32, bundle: String
    ) throws(ApusError) {
        guard let seccomp = spec.linux?.seccomp, let path = seccomp.listenerPath, !path.isEmpty else {
            throw ApusError("seccomp notify: no listenerPath (config.json .linux.seccomp.listenerPath)")
        }
        // The container process state of the runtime spec (runtime.md), annotations sorted
        // as Go sorts a map.
        var state: [(key: String, value: JSONNode)] = [
            ("ociVersion", .string(spec.ociVersion)), ("id", .string(id)), ("status", .string("creating")),
            ("pid", .integer(initPid)), ("bundle", .string(bundle)),
        ]
        if let annotations = spec.annotations, !annotations.isEmpty {
            state.append(
                ("annotations", .object(annotations.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        let message = JSONNode.object([
            ("ociVersion", .string(spec.ociVersion)), ("fds", .array([.string("seccompFd")])),
            ("pid", .integer(initPid)),
            ("metadata", .string(seccomp.listenerMetadata ?? "")), ("state", .object(state)),
        ]).compactText
        let socket = try connectListenerSocket(path)
        if !DescriptorPassing.send(listener.raw, over: socket.raw, message: message) {
            throw ApusError(
                "seccomp notify: send listener fd to \(path): \(errorString(errno)) (config.json .linux.seccomp.listenerPath)"
            )
        }
    }

    private static func connectListenerSocket(_ path: String) throws(ApusError) -> OwnedFD {
        do {
            return try connectUnixSocket(path)
        } catch {
            throw ApusError("seccomp notify: \(error) (config.json .linux.seccomp.listenerPath)")
        }
    }
}
