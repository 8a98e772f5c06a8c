import ApusCore

enum StartCommand {
    static let decl = CommandDecl(
        name: "start", abstract: "Start the user process of a created container.", arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        try GlobalOptions.current.runtime().start(id: parsed.positionals[0])
        return 0
    }
}
