import Glibc
import OCI
import Testing

@testable import ApusLinux

/// linux.seccomp → BPF translation, without loading anything (no root needed).
struct SeccompCompileTests {
    typealias Seccomp = Spec.Linux.Seccomp

    @Test("every action and operator compiles")
    func everyActionAndOperator() throws {
        let actions = knownSeccompActions.filter { $0 != "SCMP_ACT_ALLOW" }.sorted()
        let ops = knownSeccompOperators.sorted()
        let calls = actions.enumerated().map { i, action in
            Seccomp.Syscall(
                names: ["getpid", "personality", "mkdir", "chmod", "fchmod", "rename"][i % 6..<i % 6 + 1].map { $0 },
                action: action, errnoRet: action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE" ? 5 : nil,
                args: [.init(index: UInt(i % 6), value: 0xff, valueTwo: 1, op: ops[i % ops.count])])
        }
        let filter = try SeccompFilter.compile(
            Seccomp(
                defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], listenerPath: "/run/x.sock",
                syscalls: calls))
        #expect(!filter.program.isEmpty && filter.program.count % 8 == 0)
        #expect(filter.usesNotify)
        #expect(filter.flags == (1 << 1) | (1 << 2) | (1 << 3), "LOG | SPEC_ALLOW | NEW_LISTENER")
        #expect(filter.warnings.isEmpty)
    }

    @Test("two conditions on one argument become two rules, not an error")
    func repeatedArgument() throws {
        let filter = try SeccompFilter.compile(
            Seccomp(
                defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1,
                syscalls: [
                    .init(
                        names: ["personality"], action: "SCMP_ACT_ALLOW",
                        args: [
                            .init(index: 0, value: 0, op: "SCMP_CMP_EQ"), .init(index: 0, value: 8, op: "SCMP_CMP_EQ"),
                        ])
                ]))
        #expect(!filter.program.isEmpty)
    }

    @Test("unknown names warn; WAIT_KILLABLE_RECV is dropped without a listener")
    func unknownNames() throws {
        let filter = try SeccompFilter.compile(
            Seccomp(
                defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                syscalls: [.init(names: ["not_a_syscall", "mkdir"], action: "SCMP_ACT_ERRNO")]))
        #expect(filter.warnings.count == 1)
        #expect(filter.warnings.first?.contains("not_a_syscall") == true)
        #expect(filter.warnings.first?.contains(".linux.seccomp.syscalls[0]") == true)
        #expect(filter.flags == 0)
        #expect(!filter.usesNotify)
    }

    @Test("a bad operator names the field")
    func badOperator() {
        #expect {
            try SeccompFilter.compile(
                Seccomp(
                    defaultAction: "SCMP_ACT_ALLOW",
                    syscalls: [
                        .init(
                            names: ["mkdir"], action: "SCMP_ACT_ERRNO",
                            args: [.init(index: 0, value: 1, op: "SCMP_CMP_XX")])
                    ]))
        } throws: { error in
            "\(error)".contains(".linux.seccomp.syscalls[0].args[0].op")
        }
    }
}

/// The ENOSYS stub in front of libseccomp's program, run through a small interpreter of
/// the classic BPF subset it uses.
@Suite("seccomp ENOSYS stub")
struct EnosysStubTests {
    static let x86_64: UInt32 = 0xC000_003E
    static let i386: UInt32 = 0x4000_0003
    static let enosys: UInt32 = 0x0005_0000 | UInt32(ENOSYS)

    /// What the stub decides for (arch, nr): a return value, or nil for "falls through into
    /// the filter" (the instruction right after the stub).
    func run(_ stub: [UInt8], arch: UInt32, nr: UInt32) -> UInt32? {
        let count = stub.count / 8
        var pc = 0
        var a: UInt32 = 0
        var steps = 0
        while pc < count, steps < 1000 {
            steps += 1
            let base = pc * 8
            let code = UInt16(stub[base]) | UInt16(stub[base + 1]) << 8
            let jt = Int(stub[base + 2])
            let jf = Int(stub[base + 3])
            let k = (0..<4).reduce(UInt32(0)) { $0 | UInt32(stub[base + 4 + $1]) << (8 * $1) }
            pc += 1
            switch code {
            case 0x20: a = k == 0 ? nr : k == 4 ? arch : 0
            case 0x15: pc += a == k ? jt : jf
            case 0x25: pc += a > k ? jt : jf
            case 0x45: pc += a & k != 0 ? jt : jf
            case 0x05: pc += Int(k)
            case 0x06: return k
            default: Issue.record("unexpected opcode \(code)")
            }
        }
        #expect(pc == count, "jumped past the filter's first instruction")
        return nil
    }

    @Test("syscalls above the newest one named return ENOSYS, per ABI; the rest reach the filter")
    func decisions() {
        let stub = SeccompFilter.enosysStub(maxima: [
            Self.x86_64: (plain: 334, x32: 0x4000_0000 + 334), Self.i386: (plain: 386, x32: nil),
        ])
        #expect(run(stub, arch: Self.x86_64, nr: 39) == nil)
        #expect(run(stub, arch: Self.x86_64, nr: 334) == nil)
        #expect(run(stub, arch: Self.x86_64, nr: 335) == Self.enosys)
        #expect(run(stub, arch: Self.x86_64, nr: 435) == Self.enosys)
        #expect(run(stub, arch: Self.x86_64, nr: 0x4000_0000 + 100) == nil)
        #expect(run(stub, arch: Self.x86_64, nr: 0x4000_0000 + 500) == Self.enosys)
        #expect(run(stub, arch: Self.i386, nr: 386) == nil)
        #expect(run(stub, arch: Self.i386, nr: 387) == Self.enosys)
        // An architecture the profile does not list is the filter's business (bad arch action).
        #expect(run(stub, arch: 0xC000_00B7, nr: 9999) == nil)
    }

    @Test("without x32 rules an x32 syscall goes to the filter; no maxima, no stub")
    func edges() {
        let stub = SeccompFilter.enosysStub(maxima: [Self.x86_64: (plain: 100, x32: nil)])
        #expect(run(stub, arch: Self.x86_64, nr: 0x4000_0000 + 5) == nil)
        #expect(run(stub, arch: Self.x86_64, nr: 101) == Self.enosys)
        #expect(SeccompFilter.enosysStub(maxima: [:]).isEmpty)
    }

    @Test("the maxima come from the names the profile uses, per architecture")
    func maxima() {
        let tokens = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"].map(SeccompFilter.architectureToken)
        let maxima = SeccompFilter.newestSyscalls(
            ["getpid", "rseq", "no_such_call", "socketcall"], architectures: tokens)
        #expect(maxima[Self.x86_64]?.plain == 334)
        #expect(maxima[Self.x86_64]?.x32 == UInt32(0x4000_0000 + 334))
        #expect(maxima[Self.i386]?.plain == 386)
    }
}
