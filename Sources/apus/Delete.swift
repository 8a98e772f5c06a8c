import ApusCore

enum DeleteCommand {
    static let decl = CommandDecl(
        name: "delete", abstract: "Delete a stopped container (--force: kill it first).",
        options: [OptionDecl(Flags.force, "Kill the container if it is still running.")], arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        try GlobalOptions.current.runtime().delete(id: parsed.positionals[0], force: parsed.flag(Flags.force))
        return 0
    }
}
