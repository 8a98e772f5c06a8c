import CApus
import Glibc
import OCI

/// The five capability sets as bit masks, resolved from the names in config.json.
public struct CapabilitySets: Sendable, Equatable {
    public var bounding: UInt64 = 0
    public var effective: UInt64 = 0
    public var permitted: UInt64 = 0
    public var inheritable: UInt64 = 0
    public var ambient: UInt64 = 0

    public init() {}

    /// Resolves names; names unknown to this kernel (newer than it) are skipped
    /// with a warning as runc does, names unknown to apus are errors.
    public init(_ caps: Spec.Process.Capabilities?, lastCap: Int, warn: (String) -> Void) throws(ApusError) {
        guard let caps else { return }
        func mask(_ names: [String]?, _ set: String) throws(ApusError) -> UInt64 {
            var bits: UInt64 = 0
            for (i, name) in (names ?? []).enumerated() {
                guard let number = knownCapabilities[name] else {
                    throw ApusError(
                        "capabilities", detail: "unknown capability \"\(name)\"",
                        field: ".process.capabilities.\(set)[\(i)]")
                }
                if number > lastCap {
                    warn("capability \(name) is not supported by the running kernel; ignored")
                    continue
                }
                bits |= 1 << UInt64(number)
            }
            return bits
        }
        bounding = try mask(caps.bounding, "bounding")
        effective = try mask(caps.effective, "effective")
        permitted = try mask(caps.permitted, "permitted")
        inheritable = try mask(caps.inheritable, "inheritable")
        ambient = try mask(caps.ambient, "ambient")
    }

}

public func capabilityName(_ number: Int) -> String {
    knownCapabilities.first { $0.value == number }?.key ?? "\(number)"
}

/// The highest capability number of the running kernel.
public func lastCapability() -> Int {
    // prctl first: /proc/sys/kernel/cap_last_cap is a sysctl, and opening it waits on the
    // sysctl lock that a new network namespace (NetnsHelper, at the same time) holds while
    // it registers its own tables (`run` 4.36 -> 4.32 ms here, interleaved).
    if let probed = probeLastCapability() { return probed }
    if let text = FileIO.readString("/proc/sys/kernel/cap_last_cap"), let n = Int(text.trimmed) { return n }
    return 40  // CAP_CHECKPOINT_RESTORE, the last one since Linux 5.9
}

/// A search of the bounding set: PR_CAPBSET_READ fails with EINVAL past the last
/// capability the running kernel knows. Kernels since 5.9 end at 40, so two reads answer
/// there; others get a binary search. nil when prctl cannot answer for capability 0 (a
/// seccomp filter, say).
func probeLastCapability() -> Int? {
    searchLastCapability { apus_prctl(APUS_PR_CAPBSET_READ, UInt($0), 0, 0, 0) >= 0 }
}

/// The search of probeLastCapability over `known` (whether a capability number exists).
public func searchLastCapability(_ known: (Int) -> Bool) -> Int? {
    let likely = 40  // CAP_CHECKPOINT_RESTORE
    var low = 0  // known
    var high = 64  // not known
    if known(likely) {
        if !known(likely + 1) { return likely }
        low = likely + 1
    } else {
        guard known(0) else { return nil }
        high = likely
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2
        if known(mid) { low = mid } else { high = mid }
    }
    return low
}
