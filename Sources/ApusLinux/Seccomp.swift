import CApus
import Glibc
import OCI

/// `linux.seccomp` compiled to a classic BPF program. libseccomp builds the
/// filter; apus loads it with seccomp(2) itself (runc does the same in
/// patchbpf) so that every SECCOMP_FILTER_FLAG_* works whatever libseccomp
/// version was linked, and so that loading never sets no_new_privs behind the
/// config's back (libseccomp's seccomp_load does by default).
/// The version of the libseccomp linked in, "major.minor.micro".
public var libseccompVersion: String? {
    guard let v = seccomp_version() else { return nil }
    return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
}

public struct SeccompFilter: Sendable {
    /// sock_filter instructions, 8 bytes each.
    public var program: [UInt8]
    /// SECCOMP_FILTER_FLAG_* passed to seccomp(2).
    public var flags: UInt32
    /// A rule uses SCMP_ACT_NOTIFY: load with NEW_LISTENER and hand the fd on.
    public var usesNotify: Bool
    /// Syscall and architecture names this libseccomp does not know (skipped, as runc does).
    public var warnings: [String]

    static let newListener: UInt32 = 1 << 3
    static let tsync: UInt32 = 1 << 0
    static let tsyncESRCH: UInt32 = 1 << 4
    static let waitKillableRecv: UInt32 = 1 << 5

    public static func compile(_ seccomp: Spec.Linux.Seccomp) throws(ApusError) -> SeccompFilter {
        let defaultAction = try action(
            seccomp.defaultAction, errnoRet: seccomp.defaultErrnoRet, field: base + ".defaultAction")
        guard let ctx = seccomp_init(defaultAction) else {
            throw ApusError(
                "seccomp init", detail: "libseccomp rejected default action \(seccomp.defaultAction)",
                field: base + ".defaultAction")
        }
        defer { seccomp_release(ctx) }
        var warnings: [String] = []
        let archTokens = try addArchitectures(seccomp.architectures ?? [], to: ctx, warnings: &warnings)
        let requested = try requestedFlags(seccomp.flags ?? [])
        let usesNotify = try addRules(
            seccomp.syscalls ?? [], to: ctx, defaultAction: defaultAction, warnings: &warnings)
        var program = try export(ctx)
        if !allowLike.contains(seccomp.defaultAction) {
            let names = (seccomp.syscalls ?? []).flatMap(\.names)
            let stub = enosysStub(maxima: newestSyscalls(names, architectures: archTokens))
            if (stub.count + program.count) / 8 <= 4096 { program = stub + program }
        }
        return SeccompFilter(
            program: program, flags: loadFlags(requested, usesNotify: usesNotify), usesNotify: usesNotify,
            warnings: warnings)
    }

    private static let base = ".linux.seccomp"

    /// The native architecture plus the listed ones, as libseccomp tokens.
    private static func addArchitectures(
        _ names: [String], to ctx: scmp_filter_ctx, warnings: inout [String]
    ) throws(ApusError) -> [UInt32] {
        var tokens: [UInt32] = [seccomp_arch_native()]
        for (i, name) in names.enumerated() {
            let field = base + ".architectures[\(i)]"
            let token = architectureToken(name)
            if token == 0 {
                // Newer than the linked libseccomp (e.g. loongarch64 before 2.6):
                // no binary of that architecture can run on this host anyway.
                warnings.append("seccomp: architecture \(name) unknown to libseccomp, skipped (config.json \(field))")
                continue
            }
            let rc = seccomp_arch_add(ctx, token)
            if rc < 0 && rc != -EEXIST {
                throw ApusError("seccomp add architecture \(name)", errno: -rc, field: field)
            }
            tokens.append(token)
        }
        return tokens
    }

    private static func requestedFlags(_ names: [String]) throws(ApusError) -> UInt32 {
        var flags: UInt32 = 0
        for (i, name) in names.enumerated() {
            guard let bit = knownSeccompFlags[name] else {
                throw ApusError("seccomp flag \(name)", detail: "unknown flag", field: base + ".flags[\(i)]")
            }
            flags |= bit
        }
        return flags
    }

    /// One libseccomp rule per syscall name (per condition when an argument repeats);
    /// returns whether any rule notifies a listener.
    private static func addRules(
        _ calls: [Spec.Linux.Seccomp.Syscall], to ctx: scmp_filter_ctx, defaultAction: UInt32, warnings: inout [String]
    ) throws(ApusError) -> Bool {
        var usesNotify = false
        for (i, call) in calls.enumerated() {
            let field = base + ".syscalls[\(i)]"
            let callAction = try action(call.action, errnoRet: call.errnoRet, field: field + ".action")
            // libseccomp refuses a rule whose action is the default one (EACCES);
            // such a rule changes nothing, runc skips it too.
            if callAction == defaultAction { continue }
            if call.action == "SCMP_ACT_NOTIFY" { usesNotify = true }
            let conditions = try (call.args ?? []).enumerated().map { (j, arg) throws(ApusError) in
                try condition(arg, field: field + ".args[\(j)]")
            }
            // libseccomp cannot compare one argument twice in a rule; runc then
            // adds one rule per condition (they OR), and so do we.
            let indexes = conditions.map(\.arg)
            let groups: [[scmp_arg_cmp]] = Set(indexes).count != indexes.count ? conditions.map { [$0] } : [conditions]
            for name in call.names {
                let number = seccomp_syscall_resolve_name(name)
                if number == __NR_SCMP_ERROR {
                    warnings.append("seccomp: syscall \(name) unknown to libseccomp, skipped (config.json \(field))")
                    continue
                }
                for group in groups {
                    let rc = group.withUnsafeBufferPointer {
                        seccomp_rule_add_array(ctx, callAction, number, UInt32($0.count), $0.baseAddress)
                    }
                    if rc < 0 {
                        throw ApusError("seccomp add rule \(call.action) for \(name)", errno: -rc, field: field)
                    }
                }
            }
        }
        return usesNotify
    }

    /// The filter as classic BPF bytes.
    private static func export(_ ctx: scmp_filter_ctx) throws(ApusError) -> [UInt8] {
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var length = 0
        let rc = apus_seccomp_export(ctx, &buffer, &length)
        guard rc == 0, let buffer else {
            throw ApusError("seccomp export BPF", errno: -rc, field: base)
        }
        defer { free(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: length))
    }

    /// The seccomp(2) flags: the requested ones, adjusted for a notify listener.
    private static func loadFlags(_ requested: UInt32, usesNotify: Bool) -> UInt32 {
        var flags = requested
        if usesNotify {
            flags |= newListener
            // TSYNC and NEW_LISTENER both want the return value (Linux 5.7+).
            if flags & tsync != 0 { flags |= tsyncESRCH }
        } else {
            // The kernel refuses WAIT_KILLABLE_RECV without a listener (EINVAL);
            // libseccomp 2.6, and so runc, only pass it when notify is used.
            flags &= ~waitKillableRecv
        }
        return flags
    }

    /// Default actions that let unknown syscalls through: no ENOSYS stub (runc's list; a
    /// tracer is expected to handle new syscalls itself).
    static let allowLike: Set<String> = ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"]

    /// Per audit architecture, the highest syscall number the profile names: (native ABI,
    /// x32 ABI on x86_64, whose numbers carry bit 30).
    static func newestSyscalls(_ names: [String], architectures: [UInt32]) -> [UInt32: (plain: UInt32?, x32: UInt32?)] {
        let x32Token = architectureToken("SCMP_ARCH_X32")
        let x86_64 = architectureToken("SCMP_ARCH_X86_64")
        var maxima: [UInt32: (plain: UInt32?, x32: UInt32?)] = [:]
        for token in Set(architectures) {
            var newest: UInt32? = nil
            for name in names {
                let number = seccomp_syscall_resolve_name_arch(token, name)
                // Negative: unknown here, or a pseudo-syscall (socketcall on x86_64).
                if number >= 0 { newest = max(newest ?? 0, UInt32(number)) }
            }
            guard let newest else { continue }
            let isX32 = token == x32Token && x32Token != 0
            let audit = isX32 ? x86_64 : token
            var entry = maxima[audit] ?? (nil, nil)
            if isX32 { entry.x32 = newest } else { entry.plain = newest }
            maxima[audit] = entry
        }
        return maxima
    }

    /// runc's answer to syscalls newer than the profile (libcontainer/seccomp/patchbpf): a
    /// syscall numbered above every one the profile names for its architecture returns
    /// ENOSYS, not the default action, so a program probing a newer syscall (clone3,
    /// openat2, ...) falls back as on an older kernel instead of failing with EPERM. The
    /// stub goes in front of libseccomp's program; sock_filter instructions, native endian.
    static func enosysStub(maxima: [UInt32: (plain: UInt32?, x32: UInt32?)]) -> [UInt8] {
        guard !maxima.isEmpty else { return [] }
        enum Op {
            case load(UInt32)
            case jump(code: UInt16, k: UInt32, yes: Int, no: Int)
            case always(Int)
            case ret(UInt32)
            case label(Int)
        }
        let ldAbs: UInt16 = 0x20, jeq: UInt16 = 0x15, jgt: UInt16 = 0x25, jset: UInt16 = 0x45
        let x32Bit: UInt32 = 1 << 30
        let enosys = 1, filter = 2
        var nextLabel = 3
        var ops: [Op] = []
        let x86_64 = architectureToken("SCMP_ARCH_X86_64")
        for (audit, newest) in maxima.sorted(by: { $0.key < $1.key }) {
            let next = nextLabel
            nextLabel += 1
            ops += [.load(4), .jump(code: jeq, k: audit, yes: 0, no: next), .load(0)]
            if audit == x86_64 {
                let x32Path = nextLabel
                nextLabel += 1
                ops.append(.jump(code: jset, k: x32Bit, yes: x32Path, no: 0))
                if let plain = newest.plain {
                    ops.append(.jump(code: jgt, k: plain, yes: enosys, no: filter))
                } else {
                    ops.append(.always(filter))
                }
                ops.append(.label(x32Path))
                if let x32 = newest.x32 {
                    ops.append(.jump(code: jgt, k: x32, yes: enosys, no: filter))
                } else {
                    ops.append(.always(filter))
                }
            } else if let plain = newest.plain {
                ops.append(.jump(code: jgt, k: plain, yes: enosys, no: filter))
            } else {
                ops.append(.always(filter))
            }
            ops.append(.label(next))
        }
        // SECCOMP_RET_ERRNO | ENOSYS.
        ops += [.always(filter), .label(enosys), .ret(0x0005_0000 | UInt32(ENOSYS)), .label(filter)]

        var position: [Int: Int] = [:]
        var count = 0
        for op in ops {
            if case .label(let id) = op { position[id] = count } else { count += 1 }
        }
        var bytes: [UInt8] = []
        var pc = 0
        func emit(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) {
            withUnsafeBytes(of: code) { bytes += $0 }
            bytes += [jt, jf]
            withUnsafeBytes(of: k) { bytes += $0 }
            pc += 1
        }
        // A label 0 means "the next instruction"; jumps here are short (a few per architecture).
        func offset(_ label: Int) -> UInt8 { label == 0 ? 0 : UInt8(clamping: (position[label] ?? pc + 1) - pc - 1) }
        for op in ops {
            switch op {
            case .load(let field): emit(ldAbs, 0, 0, field)
            case .jump(let code, let k, let yes, let no): emit(code, offset(yes), offset(no), k)
            case .always(let label): emit(0x05, 0, 0, UInt32((position[label] ?? pc + 1) - pc - 1))
            case .ret(let value): emit(0x06, 0, 0, value)
            case .label: break
            }
        }
        return bytes
    }

    /// Installs the filter on the calling thread. Returns the notify listener
    /// fd when a rule uses SCMP_ACT_NOTIFY, else nil.
    @discardableResult
    public func load() throws(ApusError) -> OwnedFD? {
        let rc = program.withUnsafeBufferPointer { apus_seccomp_load($0.baseAddress, $0.count, flags) }
        if rc < 0 {
            throw ApusError("load seccomp filter", errno: errno, field: ".linux.seccomp")
        }
        return usesNotify ? OwnedFD(adopting: rc) : nil
    }

    static func action(_ name: String, errnoRet: UInt32?, field: String) throws(ApusError) -> UInt32 {
        // SCMP_ACT_ERRNO(x) / SCMP_ACT_TRACE(x) are function-like macros Swift cannot import.
        let code = (errnoRet ?? UInt32(EPERM)) & 0xffff
        switch name {
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return 0x0000_0000
        case "SCMP_ACT_KILL_PROCESS": return 0x8000_0000
        case "SCMP_ACT_TRAP": return 0x0003_0000
        case "SCMP_ACT_ERRNO": return 0x0005_0000 | code
        case "SCMP_ACT_TRACE": return 0x7ff0_0000 | code
        case "SCMP_ACT_LOG": return 0x7ffc_0000
        case "SCMP_ACT_ALLOW": return 0x7fff_0000
        case "SCMP_ACT_NOTIFY": return 0x7fc0_0000
        default: throw ApusError("seccomp action \(name)", detail: "unknown action", field: field)
        }
    }

    static func condition(_ arg: Spec.Linux.Seccomp.Arg, field: String) throws(ApusError) -> scmp_arg_cmp {
        let op: scmp_compare
        switch arg.op {
        case "SCMP_CMP_NE": op = SCMP_CMP_NE
        case "SCMP_CMP_LT": op = SCMP_CMP_LT
        case "SCMP_CMP_LE": op = SCMP_CMP_LE
        case "SCMP_CMP_EQ": op = SCMP_CMP_EQ
        case "SCMP_CMP_GE": op = SCMP_CMP_GE
        case "SCMP_CMP_GT": op = SCMP_CMP_GT
        // (argument & value) == valueTwo, as runc and libseccomp define it.
        case "SCMP_CMP_MASKED_EQ": op = SCMP_CMP_MASKED_EQ
        default: throw ApusError("seccomp operator \(arg.op)", detail: "unknown operator", field: field + ".op")
        }
        guard arg.index < 6 else {
            throw ApusError("seccomp argument \(arg.index)", detail: "index must be 0...5", field: field + ".index")
        }
        return scmp_arg_cmp(arg: UInt32(arg.index), op: op, datum_a: arg.value, datum_b: arg.valueTwo ?? 0)
    }
}

extension SeccompFilter {
    /// libseccomp's token for an SCMP_ARCH_* name; 0 when the linked libseccomp does not know it.
    static func architectureToken(_ name: String) -> UInt32 {
        let short = name.hasPrefix("SCMP_ARCH_") ? String(name.dropFirst("SCMP_ARCH_".count)).lowercased() : name
        return seccomp_arch_resolve_name(short)
    }

    /// What `compile` accepts, for `apus features`: names that validation knows and this
    /// file translates, so the list never promises what either step rejects.
    public static var supportedActions: [String] {
        knownSeccompActions.filter { (try? action($0, errnoRet: nil, field: "")) != nil }.sorted()
    }

    public static var supportedOperators: [String] {
        knownSeccompOperators.filter {
            (try? condition(Spec.Linux.Seccomp.Arg(index: 0, value: 0, op: $0), field: "")) != nil
        }.sorted()
    }

    /// Architectures the linked libseccomp resolves; `compile` skips the others with a warning.
    public static var supportedArchitectures: [String] {
        knownSeccompArchitectures.filter { architectureToken($0) != 0 }.sorted()
    }
}
