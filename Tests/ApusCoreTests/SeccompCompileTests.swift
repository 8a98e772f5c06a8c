import ApusLinux
import OCI
import Testing

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
