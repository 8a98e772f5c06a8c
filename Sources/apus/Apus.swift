import ApusCore
import ArgumentParser
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
    static func extract(_ arguments: [String]) throws -> (GlobalOptions, [String]) {
        var options = GlobalOptions()
        var rest: [String] = []
        var index = 0
        func value(_ flag: String) throws -> String {
            index += 1
            guard index < arguments.count else { throw ValidationError("flag needs an argument: \(flag)") }
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
            let text = flag.takesValue ? try inline ?? value(name) : ""
            switch flag {
            case Flags.root: options.root = text
            case Flags.log: options.log = text
            case Flags.logFormat:
                guard let format = Logger.Format(rawValue: text) else {
                    throw ValidationError("invalid log format \"\(text)\": use text or json")
                }
                options.logFormat = format
            case Flags.debug: options.debug = true
            case Flags.rootless:
                guard let choice = Privilege.Rootless(rawValue: text) else {
                    throw ValidationError("invalid --rootless value \"\(text)\": use true, false or auto")
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

struct Apus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apus",
        abstract: "An OCI container runtime: a drop-in for runc.",
        discussion: Flags.globalHelp,
        subcommands: [
            SpecCommand.self, ValidateCommand.self, CreateCommand.self, StartCommand.self, RunCommand.self,
            StateCommand.self,
            KillCommand.self, DeleteCommand.self, ListCommand.self, UpdateCommand.self, PauseCommand.self,
            ResumeCommand.self, EventsCommand.self, PsCommand.self, ExecCommand.self, FeaturesCommand.self,
            InfoCommand.self, CheckpointCommand.self, RestoreCommand.self,
        ]
    )

    // The global options are not declared here: ArgumentParser would also take them after
    // the command and drop them unread. GlobalOptions.extract reads them from `Flags.global`,
    // before the command, as runc does; the help text above lists them from there too.
    @Flag(name: Flags.version.names, help: "Print the version.") var version = false

    func run() throws {
        if version {
            printOut(Version.text)
            return
        }
        throw CleanExit.helpRequest(self)
    }
}

/// Entry point: errors print one line naming what failed and exit 1 (runc's
/// contract); a container's own exit code passes through `ExitCode`.
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
            let rest = GoFlags.normalize(goStyle)
            GlobalOptions.current = global
            do {
                if let code = try FastPath.run(rest) { exit(code) }
            } catch {
                // A failed fast command (no such container, a bad config) reports here:
                // ArgumentParser's error classification below costs ~5M instructions.
                if let message = runtimeErrorMessage(error) {
                    GlobalOptions.current.logger.error(message)
                    exit(1)
                }
                throw error
            }
            var command = try Apus.parseAsRoot(rest)
            try command.run()
            exit(0)
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            let code = Apus.exitCode(for: error)
            if code == .success {
                Apus.exit(withError: error)
            }
            if code == .failure, let described = error as? CustomStringConvertible {
                // The runtime's own errors: one line naming step, object and field.
                GlobalOptions.current.logger.error(described.description)
            } else {
                // Usage errors from the parser, with its hint.
                printError(Apus.fullMessage(for: error))
            }
            exit(1)
        }
    }
}
