import ApusCore

enum PauseCommand {
    static let decl = CommandDecl(
        name: "pause", abstract: "Suspend every process of a container (cgroup freezer).", arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        try GlobalOptions.current.runtime().pause(id: parsed.positionals[0])
        return 0
    }
}
