import ApusCore

enum ResumeCommand {
    static let decl = CommandDecl(
        name: "resume", abstract: "Resume every process of a paused container.", arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        try GlobalOptions.current.runtime().resume(id: parsed.positionals[0])
        return 0
    }
}
