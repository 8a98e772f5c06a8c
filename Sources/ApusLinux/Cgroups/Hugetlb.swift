import OCI

/// `linux.resources.hugepageLimits`.
public enum CgroupHugetlb {
    public static func writes(_ limits: [Spec.Linux.Resources.HugepageLimit], version: CgroupVersion)
        throws(ApusError) -> CgroupWrites
    {
        var out = CgroupWrites()
        for (index, limit) in limits.enumerated() {
            let field = ".linux.resources.hugepageLimits[\(index)]"
            guard isPageSize(limit.pageSize) else {
                throw ApusError.invalidCgroup(
                    "\"\(limit.pageSize)\" is not a page size like 2MB or 1GB", field: field + ".pageSize")
            }
            let prefix = "hugetlb." + limit.pageSize
            let value = String(limit.limit)
            // The reservation limit (kernel 5.7+) is set to the same value, as runc does, so
            // a MAP_NORESERVE-less mmap fails up front instead of faulting later. Older
            // kernels have no rsvd files.
            switch version {
            case .v1:
                out.writes.append(
                    CgroupWrite("hugetlb", .v1, prefix + ".limit_in_bytes", value, field: field + ".limit"))
                out.writes.append(
                    CgroupWrite(
                        "hugetlb", .v1, prefix + ".rsvd.limit_in_bytes", value, field: field + ".limit",
                        ifMissing: .skip))
            case .v2:
                out.writes.append(CgroupWrite("hugetlb", .v2, prefix + ".max", value, field: field + ".limit"))
                out.writes.append(
                    CgroupWrite("hugetlb", .v2, prefix + ".rsvd.max", value, field: field + ".limit", ifMissing: .skip))
            }
        }
        return out
    }

    /// The kernel's names: a number and KB, MB or GB ("64KB", "2MB", "1GB").
    static func isPageSize(_ size: String) -> Bool {
        let utf8 = Array(size.utf8)
        guard utf8.count >= 3, utf8.last == UInt8(ascii: "B") else { return false }
        let unit = utf8[utf8.count - 2]
        guard unit == UInt8(ascii: "K") || unit == UInt8(ascii: "M") || unit == UInt8(ascii: "G") else { return false }
        return utf8[..<(utf8.count - 2)].allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// Page sizes of the host in the kernel's naming, from /sys/kernel/mm/hugepages
    /// (`hugepages-2048kB` → `2MB`).
    static func hostPageSizes() -> [String] {
        CgroupFS.subdirectories("/sys/kernel/mm/hugepages").compactMap(pageSize(directory:)).sorted()
    }

    static func pageSize(directory: String) -> String? {
        guard directory.hasPrefix("hugepages-"), directory.hasSuffix("kB"),
            let kilobytes = UInt64(directory.dropFirst("hugepages-".count).dropLast(2))
        else { return nil }
        var value = kilobytes
        for unit in ["KB", "MB", "GB", "TB"] {
            if value < 1024 || value % 1024 != 0 { return String(value) + unit }
            value /= 1024
        }
        return String(value) + "PB"
    }
}
