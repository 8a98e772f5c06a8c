import ApusCore

/// `create` and `run` share runc's flags.
enum CreateFlags {
    static let options = [
        OptionDecl(Flags.bundle, "Path to the bundle (default: current directory).", default: "."),
        OptionDecl(Flags.pidFile, "File to write the init process id to."),
        OptionDecl(Flags.consoleSocket, "Unix socket to send the pty master to (terminal: true)."),
        OptionDecl(Flags.pidfdSocket, "Unix socket to send a pidfd of the init process to."),
        OptionDecl(Flags.noPivot, "Use MS_MOVE + chroot instead of pivot_root (for ramfs roots)."),
        OptionDecl(Flags.noNewKeyring, "Do not create a new session keyring."),
        OptionDecl(Flags.preserveFds, "Pass N extra fds (3 .. 3+N-1) to the container.", default: "0"),
    ]

    static func options(_ parsed: ParsedCommand) throws(UsageError) -> CreateOptions {
        let preserve = try parsed.converted(Flags.preserveFds) { Int32($0) }.last ?? 0
        if preserve < 0 { throw parsed.invalid("--preserve-fds must not be negative") }
        var options = CreateOptions(bundle: parsed.value(Flags.bundle) ?? ".")
        options.pidFile = parsed.value(Flags.pidFile)
        options.consoleSocket = parsed.value(Flags.consoleSocket).map(absolutePath)
        options.pidfdSocket = parsed.value(Flags.pidfdSocket).map(absolutePath)
        options.noPivot = parsed.flag(Flags.noPivot)
        options.noNewKeyring = parsed.flag(Flags.noNewKeyring)
        options.preserveFds = preserve
        return options
    }
}

enum CreateCommand {
    static let decl = CommandDecl(
        name: "create", abstract: "Create a container; its process waits for `start`.",
        options: CreateFlags.options, arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        let options = try CreateFlags.options(parsed)
        _ = try GlobalOptions.current.runtime().create(id: parsed.positionals[0], options: options, trigger: .execFifo)
        return 0
    }
}

/// The `<id>` argument of most commands.
let containerID = ArgumentDecl(name: "id", help: "Container id.")
