/// One eBPF instruction (struct bpf_insn).
public struct BPFInstruction: Sendable, Equatable, CustomStringConvertible {
    public var code: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var offset: Int16
    public var immediate: Int32

    public init(code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, immediate: Int32 = 0) {
        self.code = code
        self.dst = dst
        self.src = src
        self.offset = offset
        self.immediate = immediate
    }

    // Opcodes (linux/bpf_common.h, linux/bpf.h): class | operation | source.
    static let ldxMemW: UInt8 = 0x61  // BPF_LDX | BPF_MEM | BPF_W
    static let andImm32: UInt8 = 0x54  // BPF_ALU | BPF_AND | BPF_K
    static let rshImm32: UInt8 = 0x74  // BPF_ALU | BPF_RSH | BPF_K
    static let movImm32: UInt8 = 0xb4  // BPF_ALU | BPF_MOV | BPF_K
    static let movReg32: UInt8 = 0xbc  // BPF_ALU | BPF_MOV | BPF_X
    static let jneImm: UInt8 = 0x55  // BPF_JMP | BPF_JNE | BPF_K
    static let jneReg: UInt8 = 0x5d  // BPF_JMP | BPF_JNE | BPF_X
    static let exit: UInt8 = 0x95  // BPF_JMP | BPF_EXIT

    static func load32(_ dst: UInt8, from src: UInt8, offset: Int16) -> BPFInstruction {
        BPFInstruction(code: ldxMemW, dst: dst, src: src, offset: offset)
    }
    static func and32(_ dst: UInt8, _ value: Int32) -> BPFInstruction {
        BPFInstruction(code: andImm32, dst: dst, immediate: value)
    }
    static func rsh32(_ dst: UInt8, _ value: Int32) -> BPFInstruction {
        BPFInstruction(code: rshImm32, dst: dst, immediate: value)
    }
    static func mov32(_ dst: UInt8, _ value: Int32) -> BPFInstruction {
        BPFInstruction(code: movImm32, dst: dst, immediate: value)
    }
    static func mov32(_ dst: UInt8, register src: UInt8) -> BPFInstruction {
        BPFInstruction(code: movReg32, dst: dst, src: src)
    }
    static func jumpIfNotEqual(_ dst: UInt8, _ value: Int32, skip: Int16) -> BPFInstruction {
        BPFInstruction(code: jneImm, dst: dst, offset: skip, immediate: value)
    }
    static func jumpIfNotEqual(_ dst: UInt8, register src: UInt8, skip: Int16) -> BPFInstruction {
        BPFInstruction(code: jneReg, dst: dst, src: src, offset: skip)
    }
    static let ret = BPFInstruction(code: exit)

    /// The 8 bytes of struct bpf_insn in host order (dst_reg is the low nibble of the
    /// register byte on little-endian hosts, the high one on big-endian hosts).
    public var bytes: [UInt8] {
        #if _endian(little)
            let registers = (dst & 0x0f) | (src << 4)
        #else
            let registers = (dst << 4) | (src & 0x0f)
        #endif
        var out: [UInt8] = [code, registers]
        withUnsafeBytes(of: offset) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: immediate) { out.append(contentsOf: $0) }
        return out
    }

    public var description: String {
        switch code {
        case Self.ldxMemW: return "r\(dst) = *(u32 *)(r\(src) + \(offset))"
        case Self.andImm32: return "w\(dst) &= \(immediate)"
        case Self.rshImm32: return "w\(dst) >>= \(immediate)"
        case Self.movImm32: return "w\(dst) = \(immediate)"
        case Self.movReg32: return "w\(dst) = w\(src)"
        case Self.jneImm: return "if r\(dst) != \(immediate) goto +\(offset)"
        case Self.jneReg: return "if r\(dst) != r\(src) goto +\(offset)"
        case Self.exit: return "exit"
        default: return "code \(code)"
        }
    }
}

/// The BPF_PROG_TYPE_CGROUP_DEVICE program for a device rule set (cgroup v2 has no
/// devices files). Same shape as runc's and crun's: load the request into registers,
/// one block per exception that returns the exception's verdict when everything in it
/// matches, and the default verdict at the end. All exceptions of the emulated state
/// have the same verdict, so the order of the blocks does not matter.
public enum CgroupDeviceFilter {
    // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, access_type
    // being (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*.
    static let devBlock: Int32 = 1  // BPF_DEVCG_DEV_BLOCK
    static let devChar: Int32 = 2  // BPF_DEVCG_DEV_CHAR
    static let accMknod: Int32 = 1  // BPF_DEVCG_ACC_MKNOD
    static let accRead: Int32 = 2  // BPF_DEVCG_ACC_READ
    static let accWrite: Int32 = 4  // BPF_DEVCG_ACC_WRITE

    public static func program(for emulator: DeviceEmulator) -> [BPFInstruction] {
        var program: [BPFInstruction] = [
            .load32(2, from: 1, offset: 0),  // r2 = device type (low 16 bits of access_type)
            .and32(2, 0xffff),
            .load32(3, from: 1, offset: 0),  // r3 = requested access (high 16 bits)
            .rsh32(3, 16),
            .load32(4, from: 1, offset: 4),  // r4 = major
            .load32(5, from: 1, offset: 8),  // r5 = minor
        ]
        for rule in emulator.rules {
            var block: [BPFInstruction] = []
            // Offsets are filled in once the block's length is known: every test jumps
            // to the first instruction after the block.
            block.append(.jumpIfNotEqual(2, rule.type == .block ? devBlock : devChar, skip: 0))
            if rule.access != .all {
                var mask: Int32 = 0
                if rule.access.contains(.read) { mask |= accRead }
                if rule.access.contains(.write) { mask |= accWrite }
                if rule.access.contains(.mknod) { mask |= accMknod }
                // The request must be a subset of the rule's access.
                block.append(.mov32(1, register: 3))
                block.append(.and32(1, mask))
                block.append(.jumpIfNotEqual(1, register: 3, skip: 0))
            }
            if let major = rule.major { block.append(.jumpIfNotEqual(4, Int32(truncatingIfNeeded: major), skip: 0)) }
            if let minor = rule.minor { block.append(.jumpIfNotEqual(5, Int32(truncatingIfNeeded: minor), skip: 0)) }
            block.append(.mov32(0, rule.allow ? 1 : 0))
            block.append(.ret)
            for index in block.indices
            where block[index].code == BPFInstruction.jneImm || block[index].code == BPFInstruction.jneReg {
                block[index].offset = Int16(block.count - index - 1)
            }
            program.append(contentsOf: block)
        }
        program.append(.mov32(0, emulator.defaultAllow ? 1 : 0))
        program.append(.ret)
        return program
    }
}
