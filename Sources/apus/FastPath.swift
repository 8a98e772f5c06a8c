import ApusCore
import Glibc

/// The lifecycle commands managers call on every container, and exec (health
/// checks, probes), parsed directly.
/// ArgumentParser's reflection costs ~10M instructions per invocation (protocol
/// conformance scans in the Swift runtime of a static binary), about half of a
/// whole `run`. Anything this parser does not recognise — help, unknown flags,
/// wrong arity, other commands — returns nil and goes through ArgumentParser,
/// which then gives the usual messages; so both paths accept the same input.
enum FastPath {
    /// Runs the command if it is one of the fast ones; nil when it is not.
    static func run(_ args: [String]) throws -> Int32? {
        guard let name = args.first else { return nil }
        let tail = Array(args.dropFirst())
        let parsedOrNil =
            name == "exec"
            ? Parsed(tail, takesValue: Flags.valued(Flags.exec), capturesCommand: true)
            : Parsed(tail, takesValue: Flags.valued(Flags.options(of: name) ?? []))
        guard var parsed = parsedOrNil else { return nil }
        // Resolved by the command that runs, not before: one that falls through to
        // ArgumentParser (`spec`, `--help`) needs no state root.
        func runtime() throws -> Runtime { try GlobalOptions.current.runtime() }
        switch name {
        case "create":
            guard let options = parsed.createOptions(), parsed.done(positionals: 1) else { return nil }
            _ = try runtime().create(id: parsed.positionals[0], options: options, trigger: .execFifo)
            return 0
        case "run":
            let detach = parsed.flag(Flags.detach)
            let keep = parsed.flag(Flags.keep)
            guard let options = parsed.createOptions(), parsed.done(positionals: 1), !(detach && keep) else {
                return nil
            }
            var runOptions = Runtime.RunOptions(create: options)
            runOptions.detach = detach
            runOptions.keep = keep
            return try runtime().run(id: parsed.positionals[0], options: runOptions)
        case "start":
            guard parsed.done(positionals: 1) else { return nil }
            try runtime().start(id: parsed.positionals[0])
            return 0
        case "state":
            guard parsed.done(positionals: 1) else { return nil }
            printOut(try runtime().state(id: parsed.positionals[0]) + "\n")
            return 0
        case "delete":
            let force = parsed.flag(Flags.force)
            guard parsed.done(positionals: 1) else { return nil }
            try runtime().delete(id: parsed.positionals[0], force: force)
            return 0
        case "kill":
            let all = parsed.flag(Flags.all)
            guard parsed.rest.isEmpty, parsed.positionals.count == 1 || parsed.positionals.count == 2 else {
                return nil
            }
            let text = parsed.positionals.count == 2 ? parsed.positionals[1] : "SIGTERM"
            guard let signal = parseSignal(text) else { throw ApusError("unknown signal \"\(text)\"") }
            try runtime().kill(id: parsed.positionals[0], signal: signal, all: all)
            return 0
        case "exec":
            guard let options = parsed.execOptions() else { return nil }
            return try runtime().exec(id: parsed.positionals[0], options: options)
        default:
            return nil
        }
    }

    /// Flags and positionals of one command line; flags are taken out as the
    /// command asks for them, and whatever is left must be nothing.
    struct Parsed {
        var positionals: [String] = []
        /// Flags not consumed yet, as (name, inline value).
        var rest: [(name: String, value: String?)] = []

        /// `takesValue`: the command's options whose value may be the next argument.
        /// `capturesCommand` (exec): flags end at the first positional, the id, and
        /// everything after it is the command, taken as is; only the forms where
        /// ArgumentParser's passthrough capture gives the same result are accepted.
        init?(_ args: [String], takesValue: Set<String>, capturesCommand: Bool = false) {
            var index = 0
            while index < args.count {
                let arg = args[index]
                index += 1
                if arg == "--" {
                    // ArgumentParser keeps a `--` before exec's id for the command.
                    if capturesCommand { return nil }
                    positionals += args[index...]
                    break
                }
                guard arg.hasPrefix("-") && arg != "-" else {
                    positionals.append(arg)
                    if capturesCommand {
                        guard Self.isPlainCommand(args[index...]) else { return nil }
                        positionals += args[index...]
                        break
                    }
                    continue
                }
                if arg == "-h" || arg == "--help" { return nil }
                if let eq = arg.firstIndex(of: "=") {
                    let value = String(arg[arg.index(after: eq)...])
                    // ArgumentParser reads `--name=` as `--name` (value from the next
                    // argument) and `-n=value` as the short option.
                    if value.isEmpty || !arg.hasPrefix("--") { return nil }
                    rest.append((String(arg[..<eq]), value))
                } else if takesValue.contains(arg) {
                    guard index < args.count else { return nil }
                    // ArgumentParser does not take a dash-prefixed argument as a value.
                    if args[index].hasPrefix("-") { return nil }
                    rest.append((arg, args[index]))
                    index += 1
                } else {
                    rest.append((arg, nil))
                }
            }
        }

        /// The command after exec's id, when ArgumentParser captures it unchanged: it
        /// starts with a non-flag, and ArgumentParser's splitting, which still looks at
        /// every argument up to a `--`, throws on none of it (`---x`, `-=x`).
        static func isPlainCommand(_ command: ArraySlice<String>) -> Bool {
            if command.first?.hasPrefix("-") == true { return false }
            return !command.contains { $0.hasPrefix("---") || $0.hasPrefix("-=") }
        }

        mutating func flag(_ spec: FlagSpec) -> Bool {
            let names = spec.spellings
            guard let at = rest.firstIndex(where: { names.contains($0.name) && $0.value == nil }) else { return false }
            rest.remove(at: at)
            return true
        }

        mutating func value(_ spec: FlagSpec) -> String?? {
            let names = spec.spellings
            guard let at = rest.lastIndex(where: { names.contains($0.name) }) else { return .some(nil) }
            let value = rest[at].value
            rest.removeAll { names.contains($0.name) }
            return value.map { .some($0) } ?? nil
        }

        /// Every value of a repeatable option, in order; nil if one has none.
        mutating func values(_ spec: FlagSpec) -> [String]? {
            let names = spec.spellings
            var found: [String] = []
            for flag in rest where names.contains(flag.name) {
                guard let value = flag.value else { return nil }
                found.append(value)
            }
            rest.removeAll { names.contains($0.name) }
            return found
        }

        mutating func createOptions() -> CreateOptions? {
            guard case .some(let bundle) = value(Flags.bundle),
                case .some(let pidFile) = value(Flags.pidFile),
                case .some(let consoleSocket) = value(Flags.consoleSocket),
                case .some(let pidfdSocket) = value(Flags.pidfdSocket),
                case .some(let preserve) = value(Flags.preserveFds)
            else { return nil }
            var options = CreateOptions(bundle: bundle ?? ".")
            options.pidFile = pidFile
            options.consoleSocket = consoleSocket.map(absolutePath)
            options.pidfdSocket = pidfdSocket.map(absolutePath)
            options.noPivot = flag(Flags.noPivot)
            options.noNewKeyring = flag(Flags.noNewKeyring)
            if let preserve {
                guard let n = Int32(preserve), n >= 0 else { return nil }
                options.preserveFds = n
            }
            return options
        }

        /// ExecCommand's options, or nil for anything it would not accept as is
        /// (validate(): the preserved fds not negative, a process file or a command).
        mutating func execOptions() -> ExecOptions? {
            guard case .some(let process) = value(Flags.process),
                case .some(let consoleSocket) = value(Flags.consoleSocket),
                case .some(let pidfdSocket) = value(Flags.pidfdSocket),
                case .some(let pidFile) = value(Flags.pidFile),
                case .some(let cwd) = value(Flags.cwd),
                case .some(let user) = value(Flags.user),
                case .some(let processLabel) = value(Flags.processLabel),
                case .some(let apparmor) = value(Flags.apparmor),
                case .some(let preserve) = value(Flags.preserveFds),
                let env = values(Flags.env),
                let gids = values(Flags.additionalGids),
                let caps = values(Flags.cap),
                let cgroups = values(Flags.cgroup)
            else { return nil }
            var options = ExecOptions()
            options.processFile = process
            options.tty = flag(Flags.tty)
            options.consoleSocket = consoleSocket.map(absolutePath)
            options.pidfdSocket = pidfdSocket.map(absolutePath)
            options.detach = flag(Flags.detach)
            options.pidFile = pidFile
            options.cwd = cwd
            options.env = env
            options.user = user
            options.capabilities = caps
            options.noNewPrivileges = flag(Flags.noNewPrivs)
            options.processLabel = processLabel
            options.apparmor = apparmor
            options.ignorePaused = flag(Flags.ignorePaused)
            options.cgroups = cgroups
            for text in gids {
                guard let gid = UInt32(text) else { return nil }
                options.additionalGids.append(gid)
            }
            if let preserve {
                guard let n = Int32(preserve), n >= 0 else { return nil }
                options.preserveFds = n
            }
            guard rest.isEmpty, !positionals.isEmpty else { return nil }
            options.args = Array(positionals.dropFirst())
            guard process != nil || !options.args.isEmpty else { return nil }
            return options
        }

        func done(positionals count: Int) -> Bool {
            rest.isEmpty && positionals.count == count
        }
    }
}
