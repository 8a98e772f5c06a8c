import ApusCore
import Glibc

/// The lifecycle commands managers call on every container, parsed directly.
/// ArgumentParser's reflection costs ~10M instructions per invocation (protocol
/// conformance scans in the Swift runtime of a static binary), about half of a
/// whole `run`. Anything this parser does not recognise — help, unknown flags,
/// wrong arity, other commands — returns nil and goes through ArgumentParser,
/// which then gives the usual messages; so both paths accept the same input.
enum FastPath {
    /// Runs the command if it is one of the fast ones; nil when it is not.
    static func run(_ args: [String]) throws -> Int32? {
        guard let name = args.first else { return nil }
        guard var parsed = Parsed(Array(args.dropFirst())) else { return nil }
        let runtime = GlobalOptions.current.runtime
        switch name {
        case "create":
            guard let options = parsed.createOptions(), parsed.done(positionals: 1) else { return nil }
            _ = try runtime.create(id: parsed.positionals[0], options: options, trigger: .fifo)
            return 0
        case "run":
            let detach = parsed.flag(["-d", "--detach"])
            let keep = parsed.flag(["--keep"])
            guard let options = parsed.createOptions(), parsed.done(positionals: 1), !(detach && keep) else {
                return nil
            }
            var runOptions = Runtime.RunOptions(create: options)
            runOptions.detach = detach
            runOptions.keep = keep
            return try runtime.run(id: parsed.positionals[0], options: runOptions)
        case "start":
            guard parsed.done(positionals: 1) else { return nil }
            try runtime.start(id: parsed.positionals[0])
            return 0
        case "state":
            guard parsed.done(positionals: 1) else { return nil }
            printOut(try runtime.state(id: parsed.positionals[0]) + "\n")
            return 0
        case "delete":
            let force = parsed.flag(["-f", "--force"])
            guard parsed.done(positionals: 1) else { return nil }
            try runtime.delete(id: parsed.positionals[0], force: force)
            return 0
        case "kill":
            let all = parsed.flag(["-a", "--all"])
            guard parsed.rest.isEmpty, parsed.positionals.count == 1 || parsed.positionals.count == 2 else {
                return nil
            }
            let text = parsed.positionals.count == 2 ? parsed.positionals[1] : "SIGTERM"
            guard let signal = parseSignal(text) else { throw RuntimeError("unknown signal \"\(text)\"") }
            try runtime.kill(id: parsed.positionals[0], signal: signal, all: all)
            return 0
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

        init?(_ args: [String]) {
            var index = 0
            while index < args.count {
                let arg = args[index]
                index += 1
                if arg == "--" {
                    positionals += args[index...]
                    break
                }
                guard arg.hasPrefix("-") && arg != "-" else {
                    positionals.append(arg)
                    continue
                }
                if arg == "-h" || arg == "--help" { return nil }
                if let eq = arg.firstIndex(of: "=") {
                    rest.append((String(arg[..<eq]), String(arg[arg.index(after: eq)...])))
                } else if Self.takesValue.contains(arg) {
                    guard index < args.count else { return nil }
                    rest.append((arg, args[index]))
                    index += 1
                } else {
                    rest.append((arg, nil))
                }
            }
        }

        static let takesValue: Set<String> = ["-b", "--bundle", "--pid-file", "--console-socket", "--preserve-fds"]

        mutating func flag(_ names: [String]) -> Bool {
            guard let at = rest.firstIndex(where: { names.contains($0.name) && $0.value == nil }) else { return false }
            rest.remove(at: at)
            return true
        }

        mutating func value(_ names: [String]) -> String?? {
            guard let at = rest.lastIndex(where: { names.contains($0.name) }) else { return .some(nil) }
            let value = rest[at].value
            rest.removeAll { names.contains($0.name) }
            return value.map { .some($0) } ?? nil
        }

        mutating func createOptions() -> CreateOptions? {
            guard case .some(let bundle) = value(["-b", "--bundle"]),
                case .some(let pidFile) = value(["--pid-file"]),
                case .some(let consoleSocket) = value(["--console-socket"]),
                case .some(let preserve) = value(["--preserve-fds"])
            else { return nil }
            var options = CreateOptions(bundle: bundle ?? ".")
            options.pidFile = pidFile
            options.consoleSocket = consoleSocket.map(absolutePath)
            options.noPivot = flag(["--no-pivot"])
            options.noNewKeyring = flag(["--no-new-keyring"])
            if let preserve {
                guard let n = Int32(preserve), n >= 0 else { return nil }
                options.preserveFds = n
            }
            return options
        }

        func done(positionals count: Int) -> Bool {
            rest.isEmpty && positionals.count == count
        }
    }
}
