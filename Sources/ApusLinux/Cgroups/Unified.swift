/// `linux.resources.unified`: raw cgroup v2 files, written last so they override the
/// typed settings (runc's order).
public enum CgroupUnified {
    /// - `v2Controllers`: the controllers the cgroup v2 hierarchy has. On a hybrid host a
    ///   key is refused unless its controller is there (most are bound to v1 hierarchies).
    ///   nil skips the check: on a pure v2 host a missing file is reported when written.
    public static func writes(
        _ unified: [String: String], layout: CgroupLayoutKind, v2Controllers: Set<String>?
    ) throws(ApusError) -> CgroupWrites {
        let field = ".linux.resources.unified"
        var out = CgroupWrites()
        guard !unified.isEmpty else { return out }
        if layout == .v1 {
            throw ApusError.invalidCgroup(
                "cannot use unified on cgroup v1 (this host has no cgroup v2 hierarchy)", field: field)
        }
        for key in unified.keys.sorted() {
            let keyField = field + "[\"\(key)\"]"
            guard !key.contains("/"), key != ".", key != "..", let dot = key.firstIndex(of: "."), dot != key.startIndex
            else {
                throw ApusError.invalidCgroup(
                    "unified key \"\(key)\" must be a file name of the form CONTROLLER.PARAMETER", field: keyField)
            }
            let controller = String(key[..<dot])
            if layout == .hybrid, controller != "cgroup", let v2Controllers, !v2Controllers.contains(controller) {
                let have = v2Controllers.isEmpty ? "none" : v2Controllers.sorted().joined(separator: " ")
                throw ApusError.invalidCgroup(
                    "unified key \"\(key)\": the \(controller) controller is not on this hybrid host's cgroup v2 hierarchy (it has: \(have))",
                    field: keyField)
            }
            // Files like io.max take one entry per write (runc's WriteFileByLine).
            for line in (unified[key] ?? "").split(separator: "\n", omittingEmptySubsequences: true) {
                out.writes.append(CgroupWrite(controller, .v2, key, String(line), field: keyField))
            }
        }
        return out
    }
}
