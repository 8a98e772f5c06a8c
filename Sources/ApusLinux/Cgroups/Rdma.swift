import OCI

/// `linux.resources.rdma`: rdma.max, the same file on v1 and v2 (kernel 4.11+).
public enum CgroupRdma {
    public static func writes(_ rdma: [String: Spec.Linux.Resources.Rdma], version: CgroupVersion) throws(ApusError)
        -> CgroupWrites
    {
        var out = CgroupWrites()
        for device in rdma.keys.sorted() {
            guard let limits = rdma[device] else { continue }
            let field = ".linux.resources.rdma[\"\(device)\"]"
            guard !device.isEmpty, !device.utf8.contains(where: { $0 <= 0x20 }) else {
                throw ApusError.invalidCgroup("\"\(device)\" is not an RDMA device name", field: field)
            }
            var value = device
            if let handles = limits.hcaHandles { value += " hca_handle=\(handles)" }
            if let objects = limits.hcaObjects { value += " hca_object=\(objects)" }
            // A device with neither limit sets nothing.
            if limits.hcaHandles == nil && limits.hcaObjects == nil { continue }
            out.writes.append(CgroupWrite("rdma", version, "rdma.max", value, field: field))
        }
        return out
    }
}
