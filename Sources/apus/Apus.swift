import ApusCore
import Glibc
import OCI

/// Global options, given before the subcommand as runc takes them
/// (`apus --root R --log L --log-format json create …`).
struct GlobalOptions {
    /// `--root`; nil: the default of `Privilege.stateRoot`.
    var root: String? = nil
    var log: String? = nil
    var logFormat: Logger.Format = .text
    var debug = false
    var rootless: Privilege.Rootless = .auto
    /// `--criu PATH`; nil: criu on $PATH.
    var criu: String? = nil
    var systemdCgroup = false

    /// Set once by `main` before any command runs; read by the commands.
    nonisolated(unsafe) static var current = GlobalOptions()

    var logger: Logger { Logger(path: log, format: logFormat, debug: debug) }

    /// The runtime of a command that keeps state: its root is resolved here, so a missing
    /// XDG_RUNTIME_DIR fails the command before it touches anything.
    func runtime() throws(ApusError) -> Runtime {
        let privilege = Privilege.current(rootless: rootless)
        var runtime = Runtime(store: try privilege.stateRoot(explicit: root), log: logger, privilege: privilege)
        runtime.systemdCgroup = systemdCgroup
        return runtime
    }

    /// `validate` reads no state: its runtime needs no state root.
    func statelessRuntime() -> Runtime {
        let privilege = Privilege.current(rootless: rootless)
        let store = (try? privilege.stateRoot(explicit: root)) ?? StateStore(root: Privilege.systemRoot)
        return Runtime(store: store, log: logger, privilege: privilege)
    }

    /// Splits runc-style global flags off the front of argv. Unknown flags
    /// are left for the parser to report.
    static func extract(_ arguments: [String]) throws(UsageError) -> (GlobalOptions, [String]) {
        var options = GlobalOptions()
        var rest: [String] = []
        var index = 0
        func value(_ flag: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else {
                throw UsageError(message: "flag needs an argument: \(flag)", command: nil)
            }
            return arguments[index]
        }
        while index < arguments.count {
            let arg = arguments[index]
            if !arg.hasPrefix("-") || arg == "-" { break }
            var name = arg
            var inline: String? = nil
            if let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            guard let flag = Flags.global(named: name.dropFirst(name.hasPrefix("--") ? 2 : 1)) else { break }
            var text = ""
            if flag.takesValue {
                if let inline { text = inline } else { text = try value(name) }
            }
            switch flag {
            case Flags.root: options.root = text
            case Flags.log: options.log = text
            case Flags.logFormat:
                guard let format = Logger.Format(rawValue: text) else {
                    throw UsageError(message: "invalid log format \"\(text)\": use text or json", command: nil)
                }
                options.logFormat = format
            case Flags.debug: options.debug = true
            case Flags.rootless:
                guard let choice = Privilege.Rootless(rawValue: text) else {
                    throw UsageError(
                        message: "invalid --rootless value \"\(text)\": use true, false or auto", command: nil)
                }
                options.rootless = choice
            case Flags.criu: options.criu = text
            case Flags.systemdCgroup: options.systemdCgroup = true
            default: break
            }
            index += 1
        }
        rest.append(contentsOf: arguments[index...])
        if let root = options.root, !root.hasPrefix("/") { options.root = absolutePath(root) }
        return (options, rest)
    }
}

/// Entry point: errors print one line naming what failed and exit 1 (runc's contract); a
/// command line that is not accepted prints ArgumentParser's error, usage and hint; a
/// container's own exit code passes through.
@main
enum Main {
    static func main() {
        ignoreBrokenPipe()
        let argv = Array(CommandLine.arguments.dropFirst())
        if argv == ["--version"] || argv == ["-v"] || argv == ["version"] {
            printOut(Version.text)
            exit(0)
        }
        do {
            let (global, goStyle) = try GlobalOptions.extract(argv)
            GlobalOptions.current = global
            exit(try Commands.dispatch(GoFlags.normalize(goStyle)))
        } catch let error as UsageError {
            printError(error.text)
            exit(1)
        } catch {
            // The runtime's own errors: one line naming step, object and field.
            GlobalOptions.current.logger.error(runtimeErrorMessage(error) ?? String(describing: error))
            exit(1)
        }
    }
}
