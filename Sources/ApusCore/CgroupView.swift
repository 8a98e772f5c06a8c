import ApusLinux

extension CgroupManager {
    /// What a `"type": "cgroup"` mount shows inside the container: one
    /// directory per v1 hierarchy (named as on the host, e.g. `cpu,cpuacct`),
    /// or the cgroup2 directory on a pure v2 host. On hybrid hosts runc mounts
    /// the v1 hierarchies only, and so does apus.
    public var mountView: CgroupMountView {
        var v1: [(name: String, hostDirectory: String)] = []
        var seen = Set<String>()
        for (controller, directory) in paths.sorted(by: { $0.key < $1.key }) where controller != "unified" {
            let prefix = "/sys/fs/cgroup/"
            guard directory.hasPrefix(prefix) else { continue }
            let name = String(directory.dropFirst(prefix.count).prefix { $0 != "/" })
            if name.isEmpty || !seen.insert(name).inserted { continue }
            v1.append((name, directory))
        }
        if v1.isEmpty, let unified = paths["unified"] {
            return CgroupMountView(v1: [], unified: unified)
        }
        return CgroupMountView(v1: v1, unified: nil)
    }
}
