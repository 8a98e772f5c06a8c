import Glibc
import OCI
import Testing

@testable import ApusLinux

/// Records every call `ProcessFinalizer` makes, in order, and answers as a kernel would
/// (configurable failures). A class, so the seccomp closure can record into it too.
final class RecordingKernel: ProcessKernel {
    var calls: [String] = []
    var denySetgroups = false
    /// errno of chdir while root (uid not yet switched); 0 = success.
    var chdirAsRootError: Int32 = 0
    var cwd = "/work"
    var switchedUser = false

    func changeDirectory(_ path: String) -> Int32 {
        calls.append("chdir \(path)")
        return switchedUser ? 0 : chdirAsRootError
    }
    func currentDirectory() -> Result<String, ApusError> {
        calls.append("getcwd")
        return .success(cwd)
    }
    func dropBoundingCapability(_ cap: Int) throws(ApusError) { calls.append("capbset_drop \(cap)") }
    func setKeepCapabilities(_ keep: Bool) throws(ApusError) { calls.append("keepcaps \(keep ? 1 : 0)") }
    func setgroupsDenied() -> Bool {
        calls.append("read setgroups")
        return denySetgroups
    }
    func setGroups(_ gids: [gid_t]) throws(ApusError) { calls.append("setgroups \(gids)") }
    func setGID(_ gid: UInt32) throws(ApusError) { calls.append("setgid \(gid)") }
    func setUID(_ uid: UInt32) throws(ApusError) {
        calls.append("setuid \(uid)")
        switchedUser = true
    }
    func setUmask(_ mask: UInt32) { calls.append("umask \(mask)") }
    func setCapabilities(effective: UInt64, permitted: UInt64, inheritable: UInt64) throws(ApusError) {
        calls.append("capset")
    }
    func raiseAmbientCapability(_ cap: Int) throws(ApusError) { calls.append("ambient \(cap)") }
    func setNoNewPrivileges() throws(ApusError) { calls.append("no_new_privs") }

    func index(_ prefix: String) -> Int? { calls.firstIndex { $0.hasPrefix(prefix) } }
    func lastIndex(_ prefix: String) -> Int? { calls.lastIndex { $0.hasPrefix(prefix) } }
}

@Suite("process finalizer: the order of the last steps, through the kernel seam")
struct ProcessFinalizerTests {
    static let filter = SeccompFilter(program: [], flags: 0, usesNotify: false, warnings: [])

    /// Bounding set of CAP_CHOWN (0) and CAP_KILL (5), of a 0...7 kernel; ambient CAP_KILL.
    static func capabilities() -> CapabilitySets {
        var caps = CapabilitySets()
        caps.bounding = 1 << 0 | 1 << 5
        caps.effective = caps.bounding
        caps.permitted = caps.bounding
        caps.inheritable = 1 << 5
        caps.ambient = 1 << 5
        return caps
    }

    static func run(
        _ kernel: RecordingKernel, noNewPrivileges: Bool, seccomp: Bool = true, additionalGids: [UInt32]? = [10],
        setgroups: SetgroupsRule = .refuseWhenDenied, uid: UInt32 = 1000
    ) throws(ApusError) {
        var seam = kernel
        let process = Spec.Process(
            user: Spec.User(uid: uid, gid: 100, umask: 0o22, additionalGids: additionalGids), args: ["sh"],
            cwd: "/work", noNewPrivileges: noNewPrivileges)
        try ProcessFinalizer.finalize(
            &seam, process: process, capabilities: capabilities(), lastCap: 7, setgroups: setgroups,
            seccomp: seccomp ? filter : nil
        ) { _, afterNoNewPrivileges in
            kernel.calls.append(afterNoNewPrivileges ? "seccomp after no_new_privs" : "seccomp")
        }
    }

    @Test(arguments: [false, true])
    func userSwitchIsSetgroupsThenSetgidThenSetuid(noNewPrivileges: Bool) throws {
        let kernel = RecordingKernel()
        try Self.run(kernel, noNewPrivileges: noNewPrivileges)
        let groups = try #require(kernel.index("setgroups"))
        let gid = try #require(kernel.index("setgid"))
        let uid = try #require(kernel.index("setuid"))
        #expect(groups < gid && gid < uid, "\(kernel.calls)")
        #expect(kernel.calls[groups] == "setgroups [10]")
    }

    @Test(arguments: [false, true])
    func boundingSetIsDroppedBeforeTheUserSwitch(noNewPrivileges: Bool) throws {
        let kernel = RecordingKernel()
        try Self.run(kernel, noNewPrivileges: noNewPrivileges)
        let drops = kernel.calls.filter { $0.hasPrefix("capbset_drop") }
        // Every capability of 0...7 but the two kept.
        #expect(drops == [1, 2, 3, 4, 6, 7].map { "capbset_drop \($0)" })
        let lastDrop = try #require(kernel.lastIndex("capbset_drop"))
        let keep = try #require(kernel.calls.firstIndex(of: "keepcaps 1"))
        let uid = try #require(kernel.index("setuid"))
        #expect(lastDrop < keep && keep < uid)
        // The final sets come after the switch, with keep-capabilities cleared first.
        let clear = try #require(kernel.calls.firstIndex(of: "keepcaps 0"))
        let capset = try #require(kernel.index("capset"))
        #expect(uid < clear && clear < capset)
        #expect(kernel.calls.contains("ambient 5"))
    }

    /// A switch to uid 0 keeps the permitted set by itself; the capabilities a root
    /// container ends with are checked for real in the capability integration tests.
    @Test func rootUserNeedsNoKeepCapabilities() throws {
        let kernel = RecordingKernel()
        try Self.run(kernel, noNewPrivileges: false, uid: 0)
        #expect(!kernel.calls.contains { $0.hasPrefix("keepcaps") }, "\(kernel.calls)")
        let uid = try #require(kernel.index("setuid"))
        let capset = try #require(kernel.index("capset"))
        #expect(uid < capset)
    }

    @Test func withNoNewPrivilegesSeccompIsLast() throws {
        let kernel = RecordingKernel()
        try Self.run(kernel, noNewPrivileges: true)
        #expect(kernel.calls.suffix(2) == ["no_new_privs", "seccomp after no_new_privs"], "\(kernel.calls)")
        #expect(!kernel.calls.contains("seccomp"))
    }

    @Test func withoutNoNewPrivilegesSeccompPrecedesTheCapabilityDrop() throws {
        let kernel = RecordingKernel()
        try Self.run(kernel, noNewPrivileges: false)
        let seccomp = try #require(kernel.calls.firstIndex(of: "seccomp"))
        let firstDrop = try #require(kernel.index("capbset_drop"))
        #expect(seccomp < firstDrop, "\(kernel.calls)")
        #expect(!kernel.calls.contains("no_new_privs"))
    }

    @Test(arguments: [false, true])
    func workingDirectoryIsCheckedBeforeAnyFilter(noNewPrivileges: Bool) throws {
        // A profile may deny getcwd (crun's order): the check must not need it.
        let kernel = RecordingKernel()
        try Self.run(kernel, noNewPrivileges: noNewPrivileges)
        let check = try #require(kernel.index("getcwd"))
        let seccomp = try #require(kernel.index("seccomp"))
        #expect(kernel.calls.prefix(2) == ["chdir /work", "getcwd"])
        #expect(check < seccomp)
    }

    @Test func aDirectoryOnlyTheUserMayEnterIsEnteredAfterTheSwitch() throws {
        let kernel = RecordingKernel()
        kernel.chdirAsRootError = EACCES
        try Self.run(kernel, noNewPrivileges: true)
        let uid = try #require(kernel.index("setuid"))
        let second = try #require(kernel.lastIndex("chdir"))
        #expect(uid < second, "\(kernel.calls)")
        #expect(kernel.calls[second + 1] == "getcwd")
    }

    @Test func aWorkingDirectoryOutsideTheRootIsRefused() {
        // CVE-2024-21626: a leaked fd's directory reads "(unreachable)…".
        let kernel = RecordingKernel()
        kernel.cwd = "(unreachable)/host"
        #expect(throws: ApusError.self) { try Self.run(kernel, noNewPrivileges: true) }
        #expect(kernel.index("setuid") == nil, "nothing after a refused cwd: \(kernel.calls)")
        #expect(kernel.index("seccomp") == nil)
    }

    @Test func deniedSetgroupsWithAdditionalGidsFailsBeforeTheUserSwitchForARuntimeNotRoot() {
        let kernel = RecordingKernel()
        kernel.denySetgroups = true
        #expect(throws: ApusError.self) { try Self.run(kernel, noNewPrivileges: true) }
        #expect(kernel.index("setgid") == nil && kernel.index("setuid") == nil, "\(kernel.calls)")
    }

    @Test func deniedSetgroupsWithoutAdditionalGidsSkipsIt() throws {
        let kernel = RecordingKernel()
        kernel.denySetgroups = true
        try Self.run(kernel, noNewPrivileges: true, additionalGids: nil)
        #expect(kernel.index("setgroups") == nil)
        #expect(kernel.index("setuid") != nil)
    }

    @Test func deniedSetgroupsUnderARuntimeRootInItsUserNamespaceKeepsTheGroups() throws {
        // runc's setupUser: rootless podman without /etc/subuid ranges lists the image's
        // groups of --user itself; they are left out, not an error.
        let kernel = RecordingKernel()
        kernel.denySetgroups = true
        try Self.run(kernel, noNewPrivileges: true, setgroups: .skipWhenDenied)
        #expect(kernel.index("setgroups") == nil, "\(kernel.calls)")
        #expect(kernel.index("setgid") != nil && kernel.index("setuid") != nil, "\(kernel.calls)")
    }

    @Test func setgroupsAlwaysRunsWithoutAUserNamespace() throws {
        let kernel = RecordingKernel()
        kernel.denySetgroups = true
        try Self.run(kernel, noNewPrivileges: true, setgroups: .always)
        #expect(kernel.index("read setgroups") == nil, "\(kernel.calls)")
        #expect(kernel.calls.contains("setgroups [10]"), "\(kernel.calls)")
    }
}
