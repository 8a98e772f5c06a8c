import CApus
import Glibc
import OCI

/// Where a container process may run and allocate: its NUMA memory policy
/// (`linux.memoryPolicy`) and its CPU affinity (`process.execCPUAffinity`, and the reset of
/// the affinity inherited from the runtime). Both are attributes of the calling thread that
/// fork and execve keep, so each is set once, in the process that then execs.
public enum Placement {
    /// The node and CPU masks are 1024 bits: runc's limit for node lists ("values larger
    /// than 1023 are not supported"), and MAX_NUMNODES of every distribution kernel.
    public static let maskBits = 1024
    /// CPU masks for the affinity reset: CONFIG_NR_CPUS is at most 8192 (runc's MaxCPU).
    static let resetBits = 8192

    /// A bit mask of `bits` bits with the listed numbers set; nil when one is out of range.
    public static func mask(_ ranges: [ClosedRange<Int>], bits: Int = maskBits) -> [UInt64]? {
        var words = [UInt64](repeating: 0, count: bits / 64)
        for range in ranges {
            guard range.upperBound < bits, range.lowerBound >= 0 else { return nil }
            for n in range { words[n / 64] |= 1 << UInt64(n % 64) }
        }
        return words
    }

    /// set_mempolicy(2)'s mode argument: the MPOL_* mode or'ed with its MPOL_F_* flags.
    public static func modeArgument(_ policy: Spec.Linux.MemoryPolicy) throws(ApusError) -> Int {
        guard let mode = knownMemoryPolicyModes[policy.mode] else {
            throw ApusError(
                "set memory policy", detail: "unknown mode \(policy.mode)", field: ".linux.memoryPolicy.mode")
        }
        var value = Int(mode)
        for (i, flag) in (policy.flags ?? []).enumerated() {
            guard let bit = knownMemoryPolicyFlags[flag] else {
                throw ApusError(
                    "set memory policy", detail: "unknown flag \(flag)", field: ".linux.memoryPolicy.flags[\(i)]")
            }
            value |= Int(bit)
        }
        return value
    }

    /// `linux.memoryPolicy` on the calling thread, before the seccomp filter (which may deny
    /// set_mempolicy) and before execve, which keeps it. What the kernel refuses (a node that
    /// is not online or not in the cpuset's mems, a flag the mode does not take) is an error
    /// naming the field: the container does not run with a policy other than the one asked.
    public static func applyMemoryPolicy(_ policy: Spec.Linux.MemoryPolicy) throws(ApusError) {
        let mode = try modeArgument(policy)
        let nodes = policy.nodes ?? ""
        var words: [UInt64] = []
        if !nodes.isEmpty {
            guard let ranges = parseCPUList(nodes), let mask = mask(ranges) else {
                throw ApusError(
                    "set memory policy", detail: "invalid node list \(nodes) (nodes above 1023 are not supported)",
                    field: ".linux.memoryPolicy.nodes")
            }
            words = mask
        }
        let what = "set memory policy \(policy.mode)" + (nodes.isEmpty ? "" : " nodes \(nodes)")
        let rc = words.withUnsafeBufferPointer { buffer in
            // maxnode counts one more than the mask's bits (the kernel drops the last one).
            RawSyscall.call(
                Int(APUS_NR_SET_MEMPOLICY), mode, words.isEmpty ? 0 : Int(bitPattern: buffer.baseAddress),
                words.isEmpty ? 0 : maskBits + 1)
        }
        if rc < 0 {
            let code = errno
            let hint = code == EINVAL ? refusalHint(policy, nodes: parseCPUList(nodes) ?? []) : nil
            throw ApusError(what, errno: code, detail: hint, field: ".linux.memoryPolicy")
        }
    }

    /// What set_mempolicy's EINVAL means here: no listed node is one this process may use
    /// (the kernel keeps the listed nodes that are online and in the cgroup's cpuset.mems,
    /// its Mems_allowed, and refuses an empty result; runc 1.5.1 accepts a list with some
    /// nodes outside, as the kernel does), or else flags the mode does not take. nil when
    /// /proc/self/status cannot be read.
    static func refusalHint(_ policy: Spec.Linux.MemoryPolicy, nodes: [ClosedRange<Int>]) -> String? {
        guard let status = FileIO.readString("/proc/self/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Mems_allowed_list:") }),
            let allowedList = line.split(separator: "\t").last.map(String.init),
            let allowed = parseCPUList(allowedList)
        else { return nil }
        let usable = nodes.contains { range in allowed.contains { $0.overlaps(range) } }
        if !nodes.isEmpty && !usable {
            return "no node of \(policy.nodes ?? "") is one this process may use (Mems_allowed_list \(allowedList): "
                + "the host's online nodes within the cgroup's cpuset.mems)"
        }
        guard let flags = policy.flags, !flags.isEmpty else { return nil }
        return "the kernel refuses \(policy.mode) with \(flags.joined(separator: ", "))"
    }

    /// sched_setaffinity(0) to the CPUs of `list` ("0-3,7").
    public static func setAffinity(_ list: String, which: String, field: String) throws(ApusError) {
        guard let ranges = parseCPUList(list), let words = mask(ranges, bits: resetBits) else {
            throw ApusError("set \(which) CPU affinity", detail: "invalid CPU list \(list)", field: field)
        }
        if setAffinity(words) < 0 {
            throw ApusError("set \(which) CPU affinity to \(list)", errno: errno, field: field)
        }
    }

    /// Every CPU: the kernel narrows the mask to the cpuset of the process's cgroup, so a
    /// container runs where its cgroup allows, not where the runtime was pinned (`taskset -c 0
    /// apus run`). runc 1.4+ does the same (tryResetCPUAffinity). Best effort, as runc: a
    /// failure leaves the inherited affinity, which is still a valid one.
    public static func resetAffinity() {
        _ = setAffinity([UInt64](repeating: .max, count: resetBits / 64))
    }

    static func setAffinity(_ words: [UInt64]) -> Int32 {
        words.withUnsafeBufferPointer { buffer in
            RawSyscall.call(
                Int(APUS_NR_SCHED_SETAFFINITY), 0, words.count * 8, Int(bitPattern: buffer.baseAddress))
        }
    }
}
