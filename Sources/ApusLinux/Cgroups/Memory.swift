import OCI

/// `linux.resources.memory`.
public enum CgroupMemory {
    static let field = ".linux.resources.memory"

    public static func writes(
        _ memory: Spec.Linux.Resources.Memory, version: CgroupVersion
    ) throws(ApusError) -> CgroupWrites {
        // 0 is "unset" for the byte values, as in runc (Go zero values).
        let limit = memory.limit.flatMap { $0 == 0 ? nil : $0 }
        let swap = memory.swap.flatMap { $0 == 0 ? nil : $0 }
        let reservation = memory.reservation.flatMap { $0 == 0 ? nil : $0 }
        for (value, name) in [(limit, "limit"), (swap, "swap"), (reservation, "reservation")] {
            if let value, value < -1 {
                throw ApusError.invalidCgroup(
                    "memory \(name) \(value) must be a byte count or -1", field: field + "." + name)
            }
        }
        switch version {
        case .v1: return try v1(memory, limit: limit, swap: swap, reservation: reservation)
        case .v2: return try v2(memory, limit: limit, swap: swap, reservation: reservation)
        }
    }

    static func v1(
        _ memory: Spec.Linux.Resources.Memory, limit: Int64?, swap: Int64?, reservation: Int64?
    ) throws(ApusError) -> CgroupWrites {
        var out = CgroupWrites()
        func add(
            _ file: String, _ value: String, _ name: String, ifMissing: CgroupWrite.IfMissing = .fail,
            retryAfter: String? = nil
        ) {
            out.writes.append(
                CgroupWrite(
                    "memory", .v1, file, value, field: field + "." + name, ifMissing: ifMissing, retryAfter: retryAfter)
            )
        }
        let memsw = "memory.memsw.limit_in_bytes"
        var swap = swap
        var swapIfMissing: CgroupWrite.IfMissing = .fail
        if limit == -1 && swap == nil {
            // runc: lifting the memory limit also lifts memory+swap, or the kernel keeps
            // the old memsw limit as the effective one (and rejects limit > memsw).
            swap = -1
        }
        if swap == -1 {
            // Unlimited swap on a kernel without swap accounting is what it already has.
            swapIfMissing = .skip
        }
        if let limit, let swap, limit != -1, swap != -1, swap < limit {
            throw ApusError.invalidCgroup(
                "memory+swap limit \(swap) is lower than the memory limit \(limit)", field: field + ".swap")
        }
        if let limit {
            // The kernel requires limit <= memsw at every moment. Limit first works when
            // lowering; when raising past the current memsw the kernel says EINVAL and the
            // limit is retried after memsw (crun's order, no read of the current values).
            add("memory.limit_in_bytes", String(limit), "limit", retryAfter: swap == nil ? nil : memsw)
        }
        if let swap {
            add(memsw, String(swap), "swap", ifMissing: swapIfMissing)
        }
        if let reservation {
            add("memory.soft_limit_in_bytes", String(reservation), "reservation")
        }
        // Kernel 5.4+ no longer enforces these (writes are accepted and ignored, 6.x
        // drops the files); runc ignores them altogether.
        if let kernel = memory.kernel {
            add(
                "memory.kmem.limit_in_bytes", String(kernel), "kernel",
                ifMissing: .warn("kernel memory limit ignored: this kernel has no memory.kmem.limit_in_bytes"))
        }
        if let kernelTCP = memory.kernelTCP {
            add(
                "memory.kmem.tcp.limit_in_bytes", String(kernelTCP), "kernelTCP",
                ifMissing: .warn("kernel TCP memory limit ignored: this kernel has no memory.kmem.tcp.limit_in_bytes"))
        }
        if let useHierarchy = memory.useHierarchy {
            add("memory.use_hierarchy", useHierarchy ? "1" : "0", "useHierarchy")
        }
        if memory.disableOOMKiller == true {
            add("memory.oom_control", "1", "disableOOMKiller")
        }
        if let swappiness = memory.swappiness {
            guard swappiness <= 100 else {
                throw ApusError.invalidCgroup(
                    "memory swappiness \(swappiness) is out of range 0-100", field: field + ".swappiness")
            }
            add("memory.swappiness", String(swappiness), "swappiness")
        }
        return out
    }

    static func v2(
        _ memory: Spec.Linux.Resources.Memory, limit: Int64?, swap: Int64?, reservation: Int64?
    ) throws(ApusError) -> CgroupWrites {
        var out = CgroupWrites()
        if limit != nil || swap != nil || reservation != nil {
            let swapMax = try v2SwapMax(swap: swap ?? 0, limit: limit ?? 0)
            let swapValue: String?
            switch swapMax {
            case -1: swapValue = "max"
            // memory and memory+swap set to the same value: no swap at all.
            case 0: swapValue = (swap ?? 0) > 0 ? "0" : nil
            default: swapValue = String(swapMax)
            }
            if let swapValue {
                // Without swap accounting there is no swap to limit: "max" and "0" are no-ops.
                let ifMissing: CgroupWrite.IfMissing = swapValue == "max" || swapValue == "0" ? .skip : .fail
                out.writes.append(
                    CgroupWrite(
                        "memory", .v2, "memory.swap.max", swapValue, field: field + ".swap", ifMissing: ifMissing))
            }
            if let limit {
                out.writes.append(
                    CgroupWrite("memory", .v2, "memory.max", CgroupValue.v2Limit(limit), field: field + ".limit"))
            }
            if let reservation {
                out.writes.append(
                    CgroupWrite(
                        "memory", .v2, "memory.low", CgroupValue.v2Limit(reservation), field: field + ".reservation"))
            }
        }
        if memory.kernel != nil || memory.kernelTCP != nil {
            out.warnings.append(
                "kernel memory limits (linux.resources.memory.kernel, kernelTCP) do not exist on cgroup v2; ignored, as runc does"
            )
        }
        if memory.swappiness != nil {
            throw ApusError.invalidCgroup(
                "memory swappiness cannot be set on cgroup v2 (no memory.swappiness)", field: field + ".swappiness")
        }
        if memory.disableOOMKiller == true {
            throw ApusError.invalidCgroup(
                "the OOM killer cannot be disabled on cgroup v2 (no memory.oom_control)",
                field: field + ".disableOOMKiller")
        }
        if memory.useHierarchy == false {
            throw ApusError.invalidCgroup(
                "cgroup v2 memory accounting is always hierarchical", field: field + ".useHierarchy")
        }
        return out
    }

    /// OCI swap is memory+swap; cgroup v2 memory.swap.max is swap alone (runc's
    /// ConvertMemorySwapToCgroupV2Value). 0 means unset, -1 unlimited.
    public static func v2SwapMax(swap: Int64, limit: Int64) throws(ApusError) -> Int64 {
        // Lifting the memory limit without a word about swap lifts both, as on v1.
        if limit == -1 && swap == 0 { return -1 }
        if swap == -1 || swap == 0 { return swap }
        if limit == 0 || limit == -1 {
            throw ApusError.invalidCgroup(
                "a memory+swap limit needs a memory limit on cgroup v2", field: field + ".swap")
        }
        if swap < limit {
            throw ApusError.invalidCgroup(
                "memory+swap limit \(swap) is lower than the memory limit \(limit)", field: field + ".swap")
        }
        return swap - limit
    }
}
