import OCI
import Testing

@testable import ApusLinux

@Suite("Cgroup device rules and eBPF program")
struct CgroupDeviceTests {
    typealias Rule = CgroupDeviceRule
    typealias Device = Spec.Linux.Resources.DeviceCgroup

    /// runc's and docker's usual config: deny everything, then runc's defaults.
    @Test func defaultConfigV1() throws {
        let rules = try CgroupDevices.rules([Device(allow: false, access: "rwm")])
        let out = CgroupDevices.v1Writes(target: try CgroupDevices.emulate(rules))
        #expect(
            out.pairs == [
                "devices.deny=a *:* rwm", "devices.allow=b *:* m", "devices.allow=c *:* m", "devices.allow=c 1:3 rwm",
                "devices.allow=c 1:5 rwm", "devices.allow=c 1:7 rwm", "devices.allow=c 1:8 rwm",
                "devices.allow=c 1:9 rwm",
                "devices.allow=c 5:0 rwm", "devices.allow=c 5:2 rwm", "devices.allow=c 10:200 rwm",
                "devices.allow=c 136:* rwm",
            ])
        #expect(out.writes.allSatisfy { $0.controller == "devices" && $0.field == ".linux.resources.devices" })
        // No rules at all is the same as deny-all first: the emulator starts from deny-all.
        #expect(
            CgroupDevices.v1Writes(target: try CgroupDevices.emulate(try CgroupDevices.rules(nil))).pairs == out.pairs)
    }

    /// The config's rules after runc's defaults, in the order config.json lists them: the v1
    /// controller's devices.list shows exceptions in the order they were written.
    @Test func configRulesInConfigOrder() throws {
        let rules = try CgroupDevices.rules([
            Device(allow: false, access: "rwm"),
            Device(allow: true, type: "c", major: 10, minor: 229, access: "rwm"),
            Device(allow: true, type: "c", major: 1, minor: 1, access: "r"),
            Device(allow: true, type: "b", major: 7, access: "rw"),
            Device(allow: true, type: "c", major: 10, minor: 229, access: "r"),
        ])
        let pairs = CgroupDevices.v1Writes(target: try CgroupDevices.emulate(rules)).pairs
        #expect(pairs.first == "devices.deny=a *:* rwm")
        #expect(pairs.suffix(3) == ["devices.allow=c 10:229 rwm", "devices.allow=c 1:1 r", "devices.allow=b 7:* rw"])
        #expect(pairs.count == 12 + 3)
    }

    @Test func parsesSpecRules() throws {
        let rules = try CgroupDevices.rules([
            Device(allow: true, type: "c", major: 1, minor: 3, access: "rw"),
            Device(allow: false, type: "b", major: 8, minor: -1),
            Device(allow: true),
        ])
        #expect(
            rules.prefix(3) == [
                Rule(allow: true, type: .char, major: 1, minor: 3, access: [.read, .write]),
                Rule(allow: false, type: .block, major: 8, minor: nil, access: .all),
                Rule(allow: true, type: .all),
            ])
        #expect(rules.count == 3 + CgroupDevices.defaultRules.count)
        #expect(rules[0].description == "c 1:3 rw")
        #expect(rules[1].description == "b 8:* rwm")
        for bad in [
            Device(allow: true, type: "x"), Device(allow: true, access: ""), Device(allow: true, access: "rwx"),
            Device(allow: true, type: "c", major: 1 << 40),
        ] {
            let error = #expect(throws: ApusError.self) { try CgroupDevices.rules([bad]) }
            #expect(error?.field?.hasPrefix(".linux.resources.devices[0]") == true)
        }
    }

    @Test func privilegedIsABlacklist() throws {
        let emulator = try CgroupDevices.emulate(try CgroupDevices.rules([Device(allow: true, access: "rwm")]))
        #expect(emulator.defaultAllow)
        #expect(emulator.rules.isEmpty)
        #expect(CgroupDevices.v1Writes(target: emulator).pairs == ["devices.allow=a *:* rwm"])
        #expect(CgroupDeviceFilter.program(for: emulator).suffix(2).map(\.description) == ["w0 = 1", "exit"])
    }

    @Test func emulatorSemantics() throws {
        // Later rules win: allow then deny the same node removes it; access bits merge.
        var emulator = try CgroupDevices.emulate([
            Rule(allow: false, type: .all), Rule(allow: true, type: .char, major: 1, minor: 3, access: .read),
            Rule(allow: true, type: .char, major: 1, minor: 3, access: .write),
            Rule(allow: true, type: .char, major: 1, minor: 5),
            Rule(allow: false, type: .char, major: 1, minor: 5, access: .all),
        ])
        #expect(emulator.rules == [Rule(allow: true, type: .char, major: 1, minor: 3, access: [.read, .write])])
        // A deny that would need a hole in a wildcard allow is refused (v1 would silently
        // keep allowing it).
        let error = #expect(throws: ApusError.self) {
            try emulator.apply(Rule(allow: true, type: .char, major: nil, minor: nil, access: .read))
            try emulator.apply(Rule(allow: false, type: .char, major: 1, minor: 9, access: .read))
        }
        #expect(error?.description.contains("punch a hole") == true)
        // Blacklist mode: deny rules are the exceptions.
        let blacklist = try CgroupDevices.emulate([
            Rule(allow: true, type: .all), Rule(allow: false, type: .block, major: 8, minor: 0),
        ])
        #expect(blacklist.defaultAllow)
        #expect(blacklist.rules == [Rule(allow: false, type: .block, major: 8, minor: 0)])
        #expect(
            CgroupDevices.v1Writes(target: blacklist).pairs == ["devices.allow=a *:* rwm", "devices.deny=b 8:0 rwm"])
    }

    @Test func transitionFromDevicesList() throws {
        let current = try DeviceEmulator.fromDevicesList("c 1:3 rwm\nc 1:5 rwm\nc 136:* rw\n")
        #expect(!current.defaultAllow)
        let target = try CgroupDevices.emulate([
            Rule(allow: false, type: .all), Rule(allow: true, type: .char, major: 1, minor: 3),
            Rule(allow: true, type: .char, major: 136, access: [.read, .write, .mknod]),
            Rule(allow: true, type: .char, major: 1, minor: 9, access: [.read, .write]),
        ])
        // Least disruptive: no reset, drop 1:5, add m to pts and the new 1:9.
        #expect(
            CgroupDevices.v1Writes(target: target, current: current).pairs == [
                "devices.deny=c 1:5 rwm", "devices.allow=c 1:9 rw", "devices.allow=c 136:* m",
            ])
        // From allow-all the reset cannot be avoided.
        let open = try DeviceEmulator.fromDevicesList("a *:* rwm\n")
        #expect(open.defaultAllow)
        #expect(CgroupDevices.v1Writes(target: target, current: open).pairs.first == "devices.deny=a *:* rwm")
        // Same state: nothing to write.
        #expect(CgroupDevices.v1Writes(target: target, current: target).pairs.isEmpty)
        #expect(throws: ApusError.self) { try DeviceEmulator.fromDevicesList("c 1:3\n") }
        #expect(throws: ApusError.self) { try DeviceEmulator.fromDevicesList("x 1:3 rwm\n") }
    }

    @Test func bpfProgram() throws {
        let emulator = try CgroupDevices.emulate([
            Rule(allow: false, type: .all), Rule(allow: true, type: .char, major: 1, minor: 3),
            Rule(allow: true, type: .char, major: 136, access: [.read, .write]),
            Rule(allow: true, type: .block, major: 8, access: .mknod),
        ])
        let program = CgroupDeviceFilter.program(for: emulator)
        #expect(
            program.map(\.description) == [
                "r2 = *(u32 *)(r1 + 0)", "w2 &= 65535", "r3 = *(u32 *)(r1 + 0)", "w3 >>= 16", "r4 = *(u32 *)(r1 + 4)",
                "r5 = *(u32 *)(r1 + 8)",
                // c 1:3 rwm
                "if r2 != 2 goto +4", "if r4 != 1 goto +3", "if r5 != 3 goto +2", "w0 = 1", "exit",
                // b 8:* m
                "if r2 != 1 goto +6", "w1 = w3", "w1 &= 1", "if r1 != r3 goto +3", "if r4 != 8 goto +2", "w0 = 1",
                "exit",
                // c 136:* rw
                "if r2 != 2 goto +6", "w1 = w3", "w1 &= 6", "if r1 != r3 goto +3", "if r4 != 136 goto +2", "w0 = 1",
                "exit",
                // default: deny
                "w0 = 0", "exit",
            ])
        // Every jump of a block lands on the first instruction of the next block.
        let blockStarts = Set([6, 11, 18, 25])
        for (index, instruction) in program.enumerated() where instruction.code == 0x55 || instruction.code == 0x5d {
            #expect(blockStarts.contains(index + 1 + Int(instruction.offset)))
        }
    }

    @Test func bpfEncoding() {
        #expect(BPFInstruction.load32(2, from: 1, offset: 4).bytes == [0x61, 0x12, 4, 0, 0, 0, 0, 0])
        #expect(BPFInstruction.jumpIfNotEqual(4, 1, skip: 3).bytes == [0x55, 0x04, 3, 0, 1, 0, 0, 0])
        #expect(BPFInstruction.and32(2, 0xffff).bytes == [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0])
        #expect(BPFInstruction.mov32(1, register: 3).bytes == [0xbc, 0x31, 0, 0, 0, 0, 0, 0])
        #expect(BPFInstruction.ret.bytes == [0x95, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func defaultProgramSize() throws {
        // The default config's program stays tiny (runc's is the same size).
        let program = CgroupDeviceFilter.program(for: try CgroupDevices.emulate(try CgroupDevices.rules(nil)))
        #expect(program.count < 100)
        #expect(program.last?.description == "exit")
        #expect(program[program.count - 2].description == "w0 = 0")
    }
}
