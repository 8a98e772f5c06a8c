import OCI

/// `linux.resources.pids`.
public enum CgroupPids {
    public static func writes(_ pids: Spec.Linux.Resources.Pids, version: CgroupVersion) -> CgroupWrites {
        // 0 and negative values mean no limit (runtime-spec 1.2.1, runc's "max" fallback).
        let value = pids.limit > 0 ? String(pids.limit) : "max"
        return CgroupWrites(writes: [
            CgroupWrite("pids", version, "pids.max", value, field: ".linux.resources.pids.limit")
        ])
    }
}
