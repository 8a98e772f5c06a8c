import ApusCore

/// Every subcommand, by name: its declaration and what runs it.
enum Commands {
    /// In `apus --help`'s order.
    static let names = [
        "spec", "validate", "create", "start", "run", "state", "kill", "delete", "list", "update", "pause", "resume",
        "events", "ps", "exec", "features", "info", "checkpoint", "restore",
    ]

    /// A switch, so that a start builds only its own command's declaration.
    static func decl(_ name: String) -> CommandDecl? {
        switch name {
        case "spec": return SpecCommand.decl
        case "validate": return ValidateCommand.decl
        case "create": return CreateCommand.decl
        case "start": return StartCommand.decl
        case "run": return RunCommand.decl
        case "state": return StateCommand.decl
        case "kill": return KillCommand.decl
        case "delete": return DeleteCommand.decl
        case "list", "ls": return ListCommand.decl
        case "update": return UpdateCommand.decl
        case "pause": return PauseCommand.decl
        case "resume": return ResumeCommand.decl
        case "events": return EventsCommand.decl
        case "ps": return PsCommand.decl
        case "exec": return ExecCommand.decl
        case "features": return FeaturesCommand.decl
        case "info": return InfoCommand.decl
        case "checkpoint": return CheckpointCommand.decl
        case "restore": return RestoreCommand.decl
        default: return nil
        }
    }

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        switch parsed.decl.name {
        case "spec": return try SpecCommand.run(parsed)
        case "validate": return try ValidateCommand.run(parsed)
        case "create": return try CreateCommand.run(parsed)
        case "start": return try StartCommand.run(parsed)
        case "run": return try RunCommand.run(parsed)
        case "state": return try StateCommand.run(parsed)
        case "kill": return try KillCommand.run(parsed)
        case "delete": return try DeleteCommand.run(parsed)
        case "list": return try ListCommand.run(parsed)
        case "update": return try UpdateCommand.run(parsed)
        case "pause": return try PauseCommand.run(parsed)
        case "resume": return try ResumeCommand.run(parsed)
        case "events": return try EventsCommand.run(parsed)
        case "ps": return try PsCommand.run(parsed)
        case "exec": return try ExecCommand.run(parsed)
        case "features": return try FeaturesCommand.run(parsed)
        case "info": return try InfoCommand.run(parsed)
        case "checkpoint": return try CheckpointCommand.run(parsed)
        default: return try RestoreCommand.run(parsed)
        }
    }

    /// The root command: help, the version, `help COMMAND`, or a subcommand.
    static func dispatch(_ arguments: [String]) throws -> Int32 {
        try CLI.checkMalformed(arguments)
        guard let name = arguments.first, name != "-h", name != "--help" else {
            printOut(Help.root)
            return 0
        }
        if name == "--version" {
            printOut(Version.text)
            return 0
        }
        if name == "--experimental-dump-help" {
            printOut(Generated.dumpHelp())
            return 0
        }
        if name == "--generate-completion-script" {
            guard arguments.count > 1, let script = Generated.completionScript(arguments[1]) else {
                throw UsageError(message: "Missing or unknown shell: use bash, zsh or fish", command: nil)
            }
            printOut(script)
            return 0
        }
        if name == "help" {
            if arguments.count > 1, arguments[1] == "help" {
                printOut(Help.helpCommand)
            } else {
                printOut(arguments.count > 1 ? decl(arguments[1]).map(Help.command) ?? Help.root : Help.root)
            }
            return 0
        }
        guard let decl = decl(name) else {
            guard name.hasPrefix("-") && name != "-" else {
                throw UsageError(message: "Unexpected argument '\(name)'", command: nil)
            }
            var message = "Unknown option '\(name)'"
            if let suggestion = CLI.suggestion(for: name, in: root) { message += ". Did you mean '\(suggestion)'?" }
            throw UsageError(message: message, command: nil)
        }
        guard let parsed = try CLI.parse(arguments[1...], for: decl) else {
            printOut(Help.command(decl))
            return 0
        }
        return try run(parsed)
    }

    /// The root's own option, for suggestions.
    static let root = CommandDecl(
        name: "apus", abstract: "", options: [OptionDecl(Flags.version, "Print the version.")])
}
