import Glibc
import OCI
import Testing

@testable import ApusCore
@testable import ApusLinux

/// The three rootless questions (runc's `shouldHonorXDGRuntimeDir`,
/// `shouldUseRootlessCgroupManager`, and euid ≠ 0), decided without a kernel.
@Suite("privilege: not root, rootless cgroups, state root")
struct PrivilegeTests {
    struct Row: Sendable, CustomStringConvertible {
        var who: String
        var euid: UInt32
        var userns: Bool
        var flag: Privilege.Rootless
        var user: String?
        var notRoot: Bool
        var rootlessCgroups: Bool
        var usesRuntimeDir: Bool
        var description: String { who }
    }

    static let table: [Row] = [
        Row(
            who: "real root", euid: 0, userns: false, flag: .auto, user: "root", notRoot: false,
            rootlessCgroups: false, usesRuntimeDir: false),
        // runc accepts --rootless true as real root: rootless cgroup manager, /run state.
        Row(
            who: "real root, --rootless true", euid: 0, userns: false, flag: .true, user: "root",
            notRoot: false, rootlessCgroups: true, usesRuntimeDir: false),
        Row(
            who: "real root with USER unset", euid: 0, userns: false, flag: .auto, user: nil, notRoot: false,
            rootlessCgroups: false, usesRuntimeDir: false),
        // Rootless podman: uid 0 of the user's namespace, USER unset.
        Row(
            who: "uid 0 in a user namespace (rootless podman)", euid: 0, userns: true, flag: .auto, user: nil,
            notRoot: false, rootlessCgroups: true, usesRuntimeDir: true),
        Row(
            who: "uid 0 in a user namespace, USER=alice", euid: 0, userns: true, flag: .auto, user: "alice",
            notRoot: false, rootlessCgroups: true, usesRuntimeDir: true),
        Row(
            who: "uid 0 in a user namespace, USER=root", euid: 0, userns: true, flag: .auto, user: "root",
            notRoot: false, rootlessCgroups: true, usesRuntimeDir: false),
        Row(
            who: "uid 0 in a user namespace, --rootless false", euid: 0, userns: true, flag: .false, user: nil,
            notRoot: false, rootlessCgroups: false, usesRuntimeDir: true),
        Row(
            who: "a user", euid: 1000, userns: false, flag: .auto, user: "alice", notRoot: true,
            rootlessCgroups: true, usesRuntimeDir: true),
        Row(
            who: "a user, --rootless false", euid: 1000, userns: false, flag: .false, user: "alice",
            notRoot: true, rootlessCgroups: false, usesRuntimeDir: true),
        Row(
            who: "a user id in a user namespace", euid: 1000, userns: true, flag: .auto, user: "root",
            notRoot: true, rootlessCgroups: true, usesRuntimeDir: true),
    ]

    @Test("decision table", arguments: table)
    func decides(_ row: Row) throws {
        let privilege = Privilege(
            euid: row.euid, inUserNamespace: row.userns, rootless: row.flag, runtimeDir: "/run/user/1000",
            user: row.user)
        #expect(privilege.notRoot == row.notRoot)
        #expect(privilege.rootlessCgroups == row.rootlessCgroups)
        #expect(privilege.usesRuntimeDir == row.usesRuntimeDir)
        let store = try privilege.stateRoot(explicit: nil)
        #expect(store.root == (row.usesRuntimeDir ? "/run/user/1000/apus" : "/run/apus"))
        #expect(store.fromRuntimeDir == row.usesRuntimeDir)
        // --root always wins.
        let explicit = try privilege.stateRoot(explicit: "/tmp/r")
        #expect(explicit.root == "/tmp/r" && !explicit.fromRuntimeDir)
    }

    @Test("XDG_RUNTIME_DIR needed but unset or empty: an error naming it and what to do")
    func missingRuntimeDir() {
        for dir in [nil, ""] as [String?] {
            let privilege = Privilege(euid: 0, inUserNamespace: true, runtimeDir: dir, user: nil)
            #expect(privilege.runtimeDir == nil)
            #expect {
                _ = try privilege.stateRoot(explicit: nil)
            } throws: { error in
                let text = "\(error)"
                return text.contains("XDG_RUNTIME_DIR is not set") && text.contains("--root")
            }
            #expect((try? privilege.stateRoot(explicit: "/x"))?.root == "/x")
        }
        // Real root needs no runtime dir.
        let root = Privilege(euid: 0, inUserNamespace: false, runtimeDir: nil, user: "root")
        #expect((try? root.stateRoot(explicit: nil))?.root == "/run/apus")
    }

    @Test("the user namespace is told by uid_map: only the identity map is the initial one")
    func userNamespaceFromUIDMap() {
        #expect(!UserNamespace.isNested(uidMap: "         0          0 4294967295\n"))
        #expect(UserNamespace.isNested(uidMap: "         0       1000          1\n         1     100000      65536\n"))
        #expect(UserNamespace.isNested(uidMap: "         0          0 4294967294\n"))
        #expect(UserNamespace.isNested(uidMap: ""))
        #expect(UserNamespace.isNested(uidMap: "         0          0 42949672950\n"))
        #expect(UserNamespace.isNested(uidMap: "         0          0 4294967295 1\n"))
        #expect(UserNamespace.isNested(uidMap: "         0          0 4294967295\n         0          0          1\n"))
        #expect(UserNamespace.isNested(uidMap: "        00          0 4294967295\n"))
        #expect(UserNamespace.isNested(uidMap: "         0 04294967295\n"))
        #expect(UserNamespace.isNested(uidMap: "         0          0 429496729\n"))
    }

    @Test(
        "additional gids where setgroups is denied: refused when not root, kept as they are when root in a user namespace"
    )
    func setgroupsRule() {
        let root = Privilege(euid: 0, inUserNamespace: false)
        let podman = Privilege(euid: 0, inUserNamespace: true)
        let user = Privilege(euid: 1000, inUserNamespace: false)
        #expect(root.setgroupsRule(containerUserNamespace: false) == .always)
        #expect(root.setgroupsRule(containerUserNamespace: true) == .skipWhenDenied)
        #expect(podman.setgroupsRule(containerUserNamespace: false) == .skipWhenDenied)
        #expect(podman.setgroupsRule(containerUserNamespace: true) == .skipWhenDenied)
        #expect(user.setgroupsRule(containerUserNamespace: true) == .refuseWhenDenied)
        #expect(user.setgroupsRule(containerUserNamespace: false) == .always)
    }

    @Test("cgroups: required as root; rootless skipped unless cgroupsPath or a limit asks")
    func cgroupChoice() {
        let root = Privilege(euid: 0, inUserNamespace: false)
        let podman = Privilege(euid: 0, inUserNamespace: true)
        let empty = Spec.Linux.Resources()
        var devicesOnly = Spec.Linux.Resources()
        devicesOnly.devices = [.init(allow: false, access: "rwm")]
        var memory = Spec.Linux.Resources()
        memory.memory = .init(limit: 1 << 26)
        #expect(root.cgroupChoice(cgroupsPath: nil, resources: nil) == .required)
        #expect(root.cgroupChoice(cgroupsPath: nil, resources: memory) == .required)
        #expect(podman.cgroupChoice(cgroupsPath: nil, resources: nil) == .skipped)
        #expect(podman.cgroupChoice(cgroupsPath: nil, resources: empty) == .skipped)
        #expect(podman.cgroupChoice(cgroupsPath: nil, resources: devicesOnly) == .skipped)
        #expect(podman.cgroupChoice(cgroupsPath: "/user/c1", resources: empty) == .bestEffort(limit: nil))
        #expect(
            podman.cgroupChoice(cgroupsPath: nil, resources: memory) == .bestEffort(limit: ".linux.resources.memory"))
        #expect(Privilege.isPermissionError(EACCES) && Privilege.isPermissionError(EPERM))
        #expect(!Privilege.isPermissionError(ENOENT) && !Privilege.isPermissionError(nil))
    }
}

/// Which id maps a user who is not root hands to newuidmap/newgidmap, and what the error
/// says when they are refused.
@Suite("rootless id maps: newuidmap or the kernel, and the error's advice")
struct RootlessIDMapTests {
    typealias Map = Spec.Linux.IDMapping

    @Test(
        "only a map of the writer's own id, once, is written without a helper",
        arguments: [
            ([Map](), false),
            ([Map(containerID: 0, hostID: 1000, size: 1)], false),
            ([Map(containerID: 0, hostID: 1001, size: 1)], true),
            ([Map(containerID: 0, hostID: 1000, size: 2)], true),
            ([Map(containerID: 0, hostID: 1000, size: 1), Map(containerID: 1, hostID: 100_000, size: 65536)], true),
        ])
    func helperNeeded(_ maps: [Map], _ needed: Bool) {
        #expect(Runtime.needsHelper(maps, own: 1000) == needed)
    }

    @Test("a refusal names the file to change and the id to map instead; root's errors stay as they are")
    func advice() {
        let refused = ApusError(
            "write uid mappings with", object: "/usr/bin/newuidmap",
            detail: "exit status 1: newuidmap: uid range [1-1001) -> [300000-301000) not allowed",
            field: ".linux.uidMappings")
        let helper = Runtime.explainUnprivilegedMapping(refused, kind: "uid", own: 1000, notRoot: true, helper: true)
        #expect(
            helper.description
                == "write uid mappings with /usr/bin/newuidmap: exit status 1: newuidmap: uid range [1-1001) -> "
                + "[300000-301000) not allowed: the ids mapped must lie in this user's ranges in /etc/subuid (add one, "
                + "e.g. usermod --add-subuids 100000-165535 USER) or map only uid 1000 (config.json .linux.uidMappings)"
        )
        let kernel = ApusError("write gid mappings (config.json .linux.gidMappings)", errno: EPERM)
        let direct = Runtime.explainUnprivilegedMapping(kernel, kind: "gid", own: 1000, notRoot: true, helper: false)
        #expect(direct.detail?.contains("unless newgidmap is installed (apt-get install uidmap)") == true)
        #expect(direct.detail?.contains("/etc/subgid") == true)
        let root = Runtime.explainUnprivilegedMapping(kernel, kind: "gid", own: 0, notRoot: false, helper: false)
        #expect(root.detail == nil)
    }
}
