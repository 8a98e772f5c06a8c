import OCI

/// `linux.resources.cpu.cpus` and `.mems`: the cpuset controller.
public enum CgroupCPUSet {
    static let field = ".linux.resources.cpu"

    public static func writes(_ cpu: Spec.Linux.Resources.CPU, version: CgroupVersion) throws(ApusError)
        -> CgroupWrites
    {
        var out = CgroupWrites()
        for (value, file, name) in [(cpu.cpus, "cpuset.cpus", "cpus"), (cpu.mems, "cpuset.mems", "mems")] {
            // "" is unset, as in runc.
            guard let value, !value.isEmpty else { continue }
            guard isList(value) else {
                throw ApusError.invalidCgroup("\"\(value)\" is not a list like 0-3,5", field: field + "." + name)
            }
            out.writes.append(CgroupWrite("cpuset", version, file, value, field: field + "." + name))
        }
        return out
    }

    /// The kernel's list format: numbers, ranges and commas (bitmap_parselist); refusing
    /// anything else keeps a newline from smuggling a second command into the write.
    static func isList(_ value: String) -> Bool {
        value.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "-")
                || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: " ")
        }
    }
}
