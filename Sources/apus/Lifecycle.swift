import ApusCore
import ArgumentParser
import Glibc

/// Flags shared by `create` and `run`, with runc's names.
struct CreateFlags: ParsableArguments {
    @Option(name: [.customShort("b"), .long], help: "Path to the bundle (default: current directory).")
    var bundle: String = "."
    @Option(name: .customLong("pid-file"), help: "File to write the init process id to.")
    var pidFile: String?
    @Option(name: .customLong("console-socket"), help: "Unix socket to send the pty master to (terminal: true).")
    var consoleSocket: String?
    @Flag(name: .customLong("no-pivot"), help: "Use MS_MOVE + chroot instead of pivot_root (for ramfs roots).")
    var noPivot = false
    @Flag(name: .customLong("no-new-keyring"), help: "Do not create a new session keyring.")
    var noNewKeyring = false
    @Option(name: .customLong("preserve-fds"), help: "Pass N extra fds (3 .. 3+N-1) to the container.")
    var preserveFds: Int32 = 0

    var options: CreateOptions {
        var options = CreateOptions(bundle: bundle)
        options.pidFile = pidFile
        options.consoleSocket = consoleSocket.map(absolutePath)
        options.noPivot = noPivot
        options.noNewKeyring = noNewKeyring
        options.preserveFds = preserveFds
        return options
    }

    func validate() throws {
        if preserveFds < 0 { throw ValidationError("--preserve-fds must not be negative") }
    }
}

struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a container; its process waits for `start`.")
    @OptionGroup var flags: CreateFlags
    @Argument(help: "Container id.") var id: String

    func run() throws {
        let runtime = try GlobalOptions.current.runtime()
        _ = try runtime.create(id: id, options: flags.options, trigger: .fifo)
    }
}

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start the user process of a created container.")
    @Argument(help: "Container id.") var id: String

    func run() throws {
        try GlobalOptions.current.runtime().start(id: id)
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Create and start a container; wait for it unless --detach.")
    @OptionGroup var flags: CreateFlags
    @Flag(name: [.customShort("d"), .long], help: "Return once the container has started.") var detach = false
    @Flag(help: "Keep the container's state after it exits (foreground only).") var keep = false
    @Argument(help: "Container id.") var id: String

    func validate() throws {
        if detach && keep { throw ValidationError("--keep cannot be used with --detach") }
    }

    func run() throws {
        var options = Runtime.RunOptions(create: flags.options)
        options.detach = detach
        options.keep = keep
        let code = try GlobalOptions.current.runtime().run(id: id, options: options)
        throw ExitCode(code)
    }
}

struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state", abstract: "Print the OCI state of a container as JSON.")
    @Argument(help: "Container id.") var id: String

    func run() throws {
        printOut(try GlobalOptions.current.runtime().state(id: id) + "\n")
    }
}

struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill", abstract: "Send a signal (default SIGTERM) to a container's init.")
    @Flag(name: [.customShort("a"), .long], help: "Signal every process of the container.") var all = false
    @Argument(help: "Container id.") var id: String
    @Argument(help: "Signal name (TERM, SIGTERM) or number.") var signal: String = "SIGTERM"

    func run() throws {
        guard let number = parseSignal(signal) else {
            throw RuntimeError("unknown signal \"\(signal)\"")
        }
        try GlobalOptions.current.runtime().kill(id: id, signal: number, all: all)
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a stopped container (--force: kill it first).")
    @Flag(name: [.customShort("f"), .long], help: "Kill the container if it is still running.") var force = false
    @Argument(help: "Container id.") var id: String

    func run() throws {
        try GlobalOptions.current.runtime().delete(id: id, force: force)
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List containers.", aliases: ["ls"])
    @Option(name: [.customShort("f"), .long], help: "Output format: table or json.") var format: String = "table"
    @Flag(name: [.customShort("q"), .long], help: "Print only the ids.") var quiet = false

    func validate() throws {
        if format != "table" && format != "json" {
            throw ValidationError("invalid format option \"\(format)\": use table or json")
        }
    }

    func run() throws {
        let runtime = try GlobalOptions.current.runtime()
        let entries = runtime.list()
        if quiet {
            printOut(entries.map { $0.record.id + "\n" }.joined())
            return
        }
        if format == "json" {
            let items = entries.map { runtime.stateJSON($0.record, status: $0.status, pretty: false) }
            printOut("[" + items.joined(separator: ",") + "]\n")
            return
        }
        var rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        for entry in entries {
            let pid = entry.status == .stopped ? 0 : entry.record.pid
            rows.append([
                entry.record.id, String(pid), entry.status.rawValue, entry.record.bundle, entry.record.created,
                entry.record.owner,
            ])
        }
        printOut(tabulate(rows))
    }
}

/// Columns as Go's tabwriter prints runc's list (minwidth 12, padding 3); the
/// last column is not padded.
func tabulate(_ rows: [[String]]) -> String {
    guard let columns = rows.first?.count else { return "" }
    var widths = [Int](repeating: 0, count: columns)
    for row in rows {
        for (i, cell) in row.enumerated() where i < columns - 1 {
            widths[i] = max(widths[i], max(12, cell.count + 3))
        }
    }
    var out = ""
    for row in rows {
        for (i, cell) in row.enumerated() {
            if i < columns - 1 {
                out += cell + String(repeating: " ", count: widths[i] - cell.count)
            } else {
                out += cell
            }
        }
        out += "\n"
    }
    return out
}
