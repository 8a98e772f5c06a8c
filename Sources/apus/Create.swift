import ApusCore
import ArgumentParser

/// Flags shared by `create` and `run`, with runc's names.
struct CreateFlags: ParsableArguments {
    @Option(name: Flags.bundle.names, help: "Path to the bundle (default: current directory).")
    var bundle: String = "."
    @Option(name: Flags.pidFile.names, help: "File to write the init process id to.")
    var pidFile: String?
    @Option(name: Flags.consoleSocket.names, help: "Unix socket to send the pty master to (terminal: true).")
    var consoleSocket: String?
    @Option(name: Flags.pidfdSocket.names, help: "Unix socket to send a pidfd of the init process to.")
    var pidfdSocket: String?
    @Flag(name: Flags.noPivot.names, help: "Use MS_MOVE + chroot instead of pivot_root (for ramfs roots).")
    var noPivot = false
    @Flag(name: Flags.noNewKeyring.names, help: "Do not create a new session keyring.")
    var noNewKeyring = false
    @Option(name: Flags.preserveFds.names, help: "Pass N extra fds (3 .. 3+N-1) to the container.")
    var preserveFds: Int32 = 0

    var options: CreateOptions {
        var options = CreateOptions(bundle: bundle)
        options.pidFile = pidFile
        options.consoleSocket = consoleSocket.map(absolutePath)
        options.pidfdSocket = pidfdSocket.map(absolutePath)
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
        _ = try runtime.create(id: id, options: flags.options, trigger: .execFifo)
    }
}
