import Glibc
import OCI

/// `linux.resources.cpu` except cpus/mems (those are the cpuset controller, CPUSet.swift).
public enum CgroupCPU {
    static let field = ".linux.resources.cpu"
    /// The kernel clamps cpu.shares to [MIN_SHARES, MAX_SHARES] silently; runc reads the
    /// value back to report the clamp. Checking the range here costs no syscall.
    public static let sharesRange: ClosedRange<UInt64> = 2...262_144

    /// cpu.shares → cpu.weight as runc 1.5 (opencontainers/cgroups) and crun 1.27 map it:
    /// 10^((l² + 125·l)/612 − 7/34) rounded up, l = log2(shares), a quadratic in l that
    /// keeps the ends (2 → 1, 262144 → 10000) and puts the default 1024 on the default
    /// weight 100. The older linear mapping gave 1024 → 39, so a container asking for the
    /// default share got less than 2/5 of the default weight (kubernetes #131216).
    public static func weight(fromShares shares: UInt64) -> UInt64 {
        if shares <= sharesRange.lowerBound { return 1 }
        if shares >= sharesRange.upperBound { return 10_000 }
        let l = log2(Double(shares))
        return UInt64((pow(10, (l * l + 125 * l) / 612 - 7.0 / 34)).rounded(.up))
    }

    public static func writes(_ cpu: Spec.Linux.Resources.CPU, version: CgroupVersion) throws(ApusError)
        -> CgroupWrites
    {
        // 0 is "unset" for shares, quota, period and the realtime values, as in runc.
        let shares = cpu.shares.flatMap { $0 == 0 ? nil : $0 }
        let quota = cpu.quota.flatMap { $0 == 0 ? nil : $0 }
        let period = cpu.period.flatMap { $0 == 0 ? nil : $0 }
        let rtRuntime = cpu.realtimeRuntime.flatMap { $0 == 0 ? nil : $0 }
        let rtPeriod = cpu.realtimePeriod.flatMap { $0 == 0 ? nil : $0 }
        if let shares, !sharesRange.contains(shares) {
            throw ApusError.invalidCgroup(
                "cpu shares \(shares) is out of the kernel's range \(sharesRange.lowerBound)-\(sharesRange.upperBound)",
                field: field + ".shares")
        }
        if let quota, quota < -1 {
            throw ApusError.invalidCgroup(
                "cpu quota \(quota) must be a number of microseconds or -1", field: field + ".quota")
        }
        var out = CgroupWrites()
        func add(
            _ file: String, _ value: String, _ name: String, ifMissing: CgroupWrite.IfMissing = .fail,
            retryAfter: String? = nil
        ) {
            out.writes.append(
                CgroupWrite(
                    "cpu", version, file, value, field: field + "." + name, ifMissing: ifMissing, retryAfter: retryAfter
                ))
        }
        // Kernels before 5.14 have no burst knob; burst 0 is then what they do anyway.
        let burstIfMissing: CgroupWrite.IfMissing = cpu.burst == 0 ? .skip : .fail
        switch version {
        case .v1:
            if let shares { add("cpu.shares", String(shares), "shares") }
            // A smaller period can be rejected (EINVAL) while the old quota/new period
            // ratio exceeds the parent's; a larger burst while it exceeds the old quota.
            // Both are retried once the new quota is in (runc's order).
            let afterQuota = quota == nil ? nil : "cpu.cfs_quota_us"
            if let period { add("cpu.cfs_period_us", String(period), "period", retryAfter: afterQuota) }
            if let burst = cpu.burst {
                add("cpu.cfs_burst_us", String(burst), "burst", ifMissing: burstIfMissing, retryAfter: afterQuota)
            }
            if let quota { add("cpu.cfs_quota_us", String(quota), "quota") }
            if let idle = cpu.idle { add("cpu.idle", String(idle), "idle") }
            // rt_period and rt_runtime are validated against each other the same way.
            if let rtPeriod {
                add(
                    "cpu.rt_period_us", String(rtPeriod), "realtimePeriod",
                    retryAfter: rtRuntime == nil ? nil : "cpu.rt_runtime_us")
            }
            if let rtRuntime { add("cpu.rt_runtime_us", String(rtRuntime), "realtimeRuntime") }
        case .v2:
            if rtRuntime != nil || rtPeriod != nil {
                throw ApusError.invalidCgroup(
                    "realtime CPU bandwidth (cpu.rt_runtime_us, cpu.rt_period_us) exists only on cgroup v1",
                    field: field + (rtRuntime != nil ? ".realtimeRuntime" : ".realtimePeriod"))
            }
            if let shares { add("cpu.weight", String(weight(fromShares: shares)), "shares") }
            if let idle = cpu.idle { add("cpu.idle", String(idle), "idle") }
            let setsMax = quota != nil || period != nil
            if let burst = cpu.burst {
                add(
                    "cpu.max.burst", String(burst), "burst", ifMissing: burstIfMissing,
                    retryAfter: setsMax ? "cpu.max" : nil)
            }
            if setsMax {
                // "max" keeps the quota unlimited; no period keeps the current one (runc).
                var value = quota.map { $0 > 0 ? String($0) : "max" } ?? "max"
                if let period { value += " " + String(period) }
                add("cpu.max", value, quota != nil ? "quota" : "period")
            }
        }
        return out
    }
}
