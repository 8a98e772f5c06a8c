import CApus
import Glibc
import OCI

/// Id-mapped bind mounts (`mounts[].uidMappings`/`gidMappings`, options "idmap"/"ridmap").
/// The runtime prepares them on the host: mount_setattr(MOUNT_ATTR_IDMAP) needs privilege
/// over the source filesystem, which init loses once it is in a new user namespace. Each
/// becomes a detached mount tree (open_tree) that init moves onto its target.
public enum IDMappedMounts {
    /// uid_map/gid_map text: "containerID hostID size" per line.
    public static func mapText(_ mappings: [Spec.Linux.IDMapping]) -> String {
        mappings.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joinedText()
    }

    /// Mount index → detached, id-mapped tree fd, for every mount that asks for one. `held`
    /// owns the trees: the caller closes them once init has them (clone copies the fd table).
    public static func prepare(_ spec: Spec, bundle: String, into held: inout OwnedFDs) throws(ApusError) -> [Int:
        Int32]
    {
        var trees: [Int: Int32] = [:]
        var namespaces: [String: Int32] = [:]
        var namespaceFDs = OwnedFDs()
        for (index, entry) in (spec.mounts ?? []).enumerated() {
            let options = parseMountOptions(entry.options ?? [])
            guard options.idmap || entry.uidMappings != nil || entry.gidMappings != nil else { continue }
            let field = ".mounts[\(index)]"
            // "idmap" alone takes the container's own mappings (runc, crun).
            let explicit = entry.uidMappings != nil || entry.gidMappings != nil
            let uids = explicit ? entry.uidMappings ?? [] : spec.linux?.uidMappings ?? []
            let gids = explicit ? entry.gidMappings ?? [] : spec.linux?.gidMappings ?? []
            guard !uids.isEmpty, !gids.isEmpty else {
                throw ApusError(
                    "id-mapped mount to \(entry.destination)",
                    detail: "needs uidMappings and gidMappings on the mount or in linux", field: field)
            }
            var source = entry.source ?? ""
            if !source.hasPrefix("/") { source = bundle + "/" + source }
            let key = mapText(uids) + "|" + mapText(gids)
            let userns: Int32
            if let known = namespaces[key] {
                userns = known
            } else {
                do {
                    userns = namespaceFDs.hold(try userNamespace(uidMap: mapText(uids), gidMap: mapText(gids)))
                } catch {
                    throw ApusError(
                        "create a user namespace for the id-mapped mount of \(source): \(error.step)",
                        errno: error.errno,
                        detail: error.detail, field: field)
                }
                namespaces[key] = userns
            }
            let recursiveBind = options.isRecursiveBind
            trees[index] = held.hold(
                try OwnedFD.open("id-mapped mount \(source) to \(entry.destination)", field: field) {
                    apus_open_idmapped_tree(
                        source, recursiveBind ? 1 : 0, options.recursiveIDMap ? 1 : 0, userns)
                })
        }
        return trees
    }

    /// A user namespace with these maps, as an fd; its short-lived owner is reaped.
    static func userNamespace(uidMap: String, gidMap: String) throws(ApusError) -> OwnedFD {
        var gate: [Int32] = [-1, -1]
        try sys("create a pipe") { pipe(&gate) }
        let gateReader = OwnedFD(adopting: gate[0])
        var gateWriter: OwnedFD? = OwnedFD(adopting: gate[1])
        let pid = apus_clone_userns_waiter(gateReader.raw, gateWriter.raw)
        let code = errno
        gateReader.close()
        defer {
            // Closing the gate lets the child exit; reap it.
            gateWriter = nil
            if pid > 0 { _ = retryingEINTR { waitpid(pid, nil, 0) } }
        }
        if pid < 0 { throw ApusError("clone into a new user namespace", errno: code) }
        try FileIO.write("/proc/\(pid)/uid_map", uidMap, step: "write uid_map")
        try FileIO.write("/proc/\(pid)/gid_map", gidMap, step: "write gid_map")
        return try OwnedFD.open("open its user namespace") { open("/proc/\(pid)/ns/user", O_RDONLY | O_CLOEXEC) }
    }
}
