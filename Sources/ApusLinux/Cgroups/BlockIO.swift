import OCI

/// `linux.resources.blockIO`: the v1 blkio controller, the v2 io controller.
public enum CgroupBlockIO {
    static let field = ".linux.resources.blockIO"
    /// The spec's (and CFQ's) weight range.
    public static let weightRange: ClosedRange<UInt16> = 10...1000

    /// runc's and crun's blkio weight → io.weight mapping ([10, 1000] → [1, 10000]),
    /// used when BFQ (which takes the v1 weight unchanged) is not the scheduler.
    public static func ioWeight(fromBlkioWeight weight: UInt16) -> UInt64 {
        let weight = UInt64(min(max(weight, weightRange.lowerBound), weightRange.upperBound))
        return 1 + (weight - 10) * 9999 / 990
    }

    public static func writes(_ blockIO: Spec.Linux.Resources.BlockIO, version: CgroupVersion) throws(ApusError)
        -> CgroupWrites
    {
        let request = try Request(blockIO)
        var out = CgroupWrites()
        let add = { (file: String, value: String, name: String, ifMissing: CgroupWrite.IfMissing) in
            out.writes.append(
                CgroupWrite("blkio", version, file, value, field: field + "." + name, ifMissing: ifMissing))
        }
        switch version {
        case .v1: request.v1Writes(add)
        case .v2: try request.v2Writes(add)
        }
        return out
    }

    /// One throttle list of the spec and its files: v1's blkio.throttle.* and v2's io.max key.
    struct Throttle {
        var list: [Spec.Linux.Resources.BlockIO.ThrottleDevice]
        var name: String
        var v1: String
        var v2: String
    }

    /// The validated request: weights with 0 read as unset, devices checked.
    struct Request {
        typealias Add = (_ file: String, _ value: String, _ name: String, _ ifMissing: CgroupWrite.IfMissing) -> Void

        var weight: UInt16?
        var leafWeight: UInt16?
        var devices: [Spec.Linux.Resources.BlockIO.WeightDevice]
        var throttles: [Throttle]

        init(_ blockIO: Spec.Linux.Resources.BlockIO) throws(ApusError) {
            // 0 is unset (runc); other values outside the range are refused by the kernel
            // anyway, and the v2 conversion is undefined for them.
            weight = blockIO.weight.flatMap { $0 == 0 ? nil : $0 }
            leafWeight = blockIO.leafWeight.flatMap { $0 == 0 ? nil : $0 }
            for (value, name) in [(weight, "weight"), (leafWeight, "leafWeight")] {
                if let value, !weightRange.contains(value) {
                    throw ApusError.invalidCgroup(
                        "blkio \(name) \(value) is out of range 10-1000", field: field + "." + name)
                }
            }
            devices = blockIO.weightDevice ?? []
            for (index, device) in devices.enumerated() {
                let at = field + ".weightDevice[\(index)]"
                try checkDevice(major: device.major, minor: device.minor, field: at)
                for (value, name) in [(device.weight, "weight"), (device.leafWeight, "leafWeight")] {
                    if let value, value != 0, !weightRange.contains(value) {
                        throw ApusError.invalidCgroup(
                            "blkio \(name) \(value) is out of range 10-1000", field: at + ".\(name)")
                    }
                }
            }
            throttles = [
                Throttle(
                    list: blockIO.throttleReadBpsDevice ?? [], name: "throttleReadBpsDevice",
                    v1: "blkio.throttle.read_bps_device", v2: "rbps"),
                Throttle(
                    list: blockIO.throttleWriteBpsDevice ?? [], name: "throttleWriteBpsDevice",
                    v1: "blkio.throttle.write_bps_device", v2: "wbps"),
                Throttle(
                    list: blockIO.throttleReadIOPSDevice ?? [], name: "throttleReadIOPSDevice",
                    v1: "blkio.throttle.read_iops_device", v2: "riops"),
                Throttle(
                    list: blockIO.throttleWriteIOPSDevice ?? [], name: "throttleWriteIOPSDevice",
                    v1: "blkio.throttle.write_iops_device", v2: "wiops"),
            ]
            for throttle in throttles {
                for (index, device) in throttle.list.enumerated() {
                    try checkDevice(
                        major: device.major, minor: device.minor, field: field + ".\(throttle.name)[\(index)]")
                }
            }
        }

        func v1Writes(_ add: Add) {
            // blkio.weight is CFQ's (gone with the legacy block layer in 5.0); BFQ's
            // blkio.bfq.weight takes the same values.
            if let weight {
                add(
                    "blkio.weight", String(weight), "weight", .fallback(file: "blkio.bfq.weight", value: String(weight))
                )
            }
            if let leafWeight { add("blkio.leaf_weight", String(leafWeight), "leafWeight", .fail) }
            for (index, device) in devices.enumerated() {
                let id = "\(device.major):\(device.minor)"
                if let w = device.weight, w != 0 {
                    let value = "\(id) \(w)"
                    add(
                        "blkio.weight_device", value, "weightDevice[\(index)].weight",
                        .fallback(file: "blkio.bfq.weight_device", value: value))
                }
                if let w = device.leafWeight, w != 0 {
                    add("blkio.leaf_weight_device", "\(id) \(w)", "weightDevice[\(index)].leafWeight", .fail)
                }
            }
            for throttle in throttles {
                for (index, device) in throttle.list.enumerated() {
                    add(
                        throttle.v1, "\(device.major):\(device.minor) \(device.rate)", "\(throttle.name)[\(index)]",
                        .fail)
                }
            }
        }

        func v2Writes(_ add: Add) throws(ApusError) {
            if leafWeight != nil {
                throw ApusError.invalidCgroup("cgroup v2 has no leaf weights", field: field + ".leafWeight")
            }
            // BFQ takes the v1 weight as is; without BFQ the io controller's own weight
            // uses the 1-10000 scale.
            if let weight {
                add(
                    "io.bfq.weight", String(weight), "weight",
                    .fallback(file: "io.weight", value: String(ioWeight(fromBlkioWeight: weight))))
            }
            for (index, device) in devices.enumerated() {
                if let w = device.leafWeight, w != 0 {
                    throw ApusError.invalidCgroup(
                        "cgroup v2 has no leaf weights", field: field + ".weightDevice[\(index)].leafWeight")
                }
                // Only BFQ has per-device weights on v2 (io.weight's per-device form is
                // for the iocost controller, with another scale).
                if let w = device.weight, w != 0 {
                    add("io.bfq.weight", "\(device.major):\(device.minor) \(w)", "weightDevice[\(index)].weight", .fail)
                }
            }
            for throttle in throttles {
                for (index, device) in throttle.list.enumerated() {
                    // v1 removes a throttle with rate 0; v2 refuses 0 (ERANGE) and spells it "max".
                    let rate = device.rate == 0 ? "max" : String(device.rate)
                    add(
                        "io.max", "\(device.major):\(device.minor) \(throttle.v2)=\(rate)",
                        "\(throttle.name)[\(index)]", .fail)
                }
            }
        }
    }

    static func checkDevice(major: Int64, minor: Int64, field: String) throws(ApusError) {
        guard major >= 0, minor >= 0, major <= Int64(UInt32.max), minor <= Int64(UInt32.max) else {
            throw ApusError.invalidCgroup("device \(major):\(minor) is not a valid major:minor", field: field)
        }
    }
}
