import CApus
import Glibc

/// Loading and attaching the cgroup v2 device program (kernel 4.15+).
enum CgroupBPF {
    static let progTypeCgroupDevice: UInt32 = 15  // BPF_PROG_TYPE_CGROUP_DEVICE
    static let attachCgroupDevice: UInt32 = 6  // BPF_CGROUP_DEVICE
    static let allowMulti: UInt32 = 1 << 1  // BPF_F_ALLOW_MULTI

    /// Loads `program` and attaches it to the cgroup directory `dir`. With BPF_F_ALLOW_MULTI
    /// programs of parent cgroups keep applying too (all must allow). When `replacing`,
    /// the device programs attached to `dir` before (by an earlier create or update, or by
    /// another runtime) are detached after the new one is in, so there is no window
    /// without a filter.
    static func attachDeviceFilter(_ program: [BPFInstruction], to dir: String, replacing: Bool) throws(ApusError) {
        let field = CgroupDevices.field
        guard let cgroupFD = OwnedFD.opening({ open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }) else {
            throw ApusError.cgroup("open \(dir) for the device filter", errno: errno, field: field)
        }
        let old = replacing ? try attachedPrograms(cgroupFD.raw, dir: dir) : []
        let programFD = try load(program)
        if apus_bpf_prog_attach(cgroupFD.raw, programFD.raw, attachCgroupDevice, allowMulti) < 0 {
            throw ApusError.cgroup("attach the device filter to \(dir)", errno: errno, field: field)
        }
        for id in old {
            // Gone already (another update raced us): nothing to detach.
            guard let oldFD = OwnedFD.opening({ apus_bpf_prog_get_fd_by_id(id) }) else { continue }
            if apus_bpf_prog_detach(cgroupFD.raw, oldFD.raw, attachCgroupDevice) < 0 && errno != ENOENT {
                throw ApusError.cgroup(
                    "detach the old device filter (program \(id)) from \(dir)", errno: errno, field: field)
            }
        }
    }

    static func load(_ program: [BPFInstruction]) throws(ApusError) -> OwnedFD {
        let bytes = program.flatMap(\.bytes)
        let license = "Apache"
        var fd = bytes.withUnsafeBytes { insns in
            apus_bpf_prog_load(progTypeCgroupDevice, insns.baseAddress, UInt32(program.count), license, nil, 0)
        }
        if fd < 0 && errno == EPERM {
            // Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK (64 KiB by default).
            _ = apus_setrlimit(8 /* RLIMIT_MEMLOCK */, UInt64.max, UInt64.max)
            fd = bytes.withUnsafeBytes { insns in
                apus_bpf_prog_load(progTypeCgroupDevice, insns.baseAddress, UInt32(program.count), license, nil, 0)
            }
        }
        if fd >= 0 { return OwnedFD(adopting: fd) }
        let code = errno
        // Only on failure: ask again with the verifier log, for the error message.
        var log = [CChar](repeating: 0, count: 64 * 1024)
        _ = bytes.withUnsafeBytes { insns in
            log.withUnsafeMutableBufferPointer { buffer in
                apus_bpf_prog_load(
                    progTypeCgroupDevice, insns.baseAddress, UInt32(program.count), license, buffer.baseAddress,
                    UInt32(buffer.count))
            }
        }
        let verifier = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmedLines
        throw ApusError.cgroup(
            "load the device filter (BPF_PROG_TYPE_CGROUP_DEVICE, \(program.count) instructions)", errno: code,
            detail: verifier.isEmpty ? nil : "verifier: " + verifier, field: CgroupDevices.field)
    }

    /// Ids of the device programs attached to the cgroup itself (not inherited ones).
    static func attachedPrograms(_ cgroupFD: Int32, dir: String) throws(ApusError) -> [UInt32] {
        var ids = [UInt32](repeating: 0, count: 64)
        var count = UInt32(ids.count)
        let rc = ids.withUnsafeMutableBufferPointer {
            apus_bpf_prog_query(cgroupFD, attachCgroupDevice, $0.baseAddress, &count)
        }
        if rc < 0 {
            throw ApusError.cgroup("query the device filters of \(dir)", errno: errno, field: CgroupDevices.field)
        }
        return Array(ids.prefix(Int(count)))
    }

    /// Ids of the device programs attached to a cgroup directory (tests, diagnostics).
    static func attachedPrograms(dir: String) throws(ApusError) -> [UInt32] {
        guard let fd = OwnedFD.opening({ open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }) else {
            throw ApusError.cgroup("open \(dir)", errno: errno)
        }
        return try attachedPrograms(fd.raw, dir: dir)
    }
}

extension String {
    /// The last few non-empty lines, joined: enough of a verifier log for an error.
    fileprivate var trimmedLines: String {
        split(separator: "\n", omittingEmptySubsequences: true).suffix(3).joined(separator: "; ")
    }
}
