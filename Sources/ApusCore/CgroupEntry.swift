import ApusLinux
import Glibc

/// Who places a new container process (init, or an exec process) in the container's
/// cgroups: decided here, once, for both.
///
/// As root, the process is born in its v2 cgroup (clone3 CLONE_INTO_CGROUP) and joins
/// the v1 ones itself by writing 0 to their `tasks` files before it runs anything of the
/// container. Neither takes the kernel's global threadgroup lock, whose first writer
/// after ~20 ms without one waits an RCU grace period (7-12 ms measured here; sporadic
/// starts always paid it).
///
/// The runtime writes the pid to `cgroup.procs` itself (the old way) when:
/// - apus is rootless for cgroups (uid 0 of a user namespace included): a refused join
///   is classified there, as a warning or an error naming the limit
///   (`Runtime.joinCgroup`), and host-root-owned cgroupfs files are no one's from a
///   user namespace;
/// - for the v1 hierarchies, when the child cannot write there: init in a new user
///   namespace (whose root is no one on the host's cgroupfs), or init forking again into
///   a joined pid namespace (the real init is another process, joined by the runtime);
/// - exec into sub-cgroups (`--cgroup`), which the runtime resolves and writes.
struct CgroupEntry: ~Copyable {
    /// The container's v2 directory, open for CLONE_INTO_CGROUP; nil when the runtime
    /// writes the pid there. Closed after the clone (`closeDirectory`), or when the entry ends.
    var unifiedDirectory: OwnedFD? = nil
    /// The v1 directories the child joins itself; nil when the runtime writes them.
    var selfJoined: [String]? = nil

    /// The decision. `runtimeWrites`: the runtime places the process in every hierarchy
    /// (rootless, or sub-cgroups); `childJoinsV1`: the child may write the v1 `tasks` files.
    static func decide(_ cgroup: CgroupManager?, runtimeWrites: Bool, childJoinsV1: Bool) -> CgroupEntry {
        guard let cgroup, !runtimeWrites else { return CgroupEntry() }
        return CgroupEntry(
            unifiedDirectory: cgroup.openUnifiedDirectory(), selfJoined: childJoinsV1 ? cgroup.v1Directories : nil)
    }

    /// After the clone: the hierarchies the runtime still writes the pid to, given whether
    /// the kernel placed the child in its v2 cgroup at birth (older kernels cannot).
    func runtimeJoins(bornInUnified: Bool) -> (v1: Bool, unified: Bool) {
        (v1: selfJoined == nil, unified: !bornInUnified)
    }

    /// Closes the v2 directory once the child exists.
    mutating func closeDirectory() {
        unifiedDirectory = nil
    }
}
