import ApusCore

enum StateCommand {
    static let decl = CommandDecl(
        name: "state", abstract: "Print the OCI state of a container as JSON.", arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        printOut(try GlobalOptions.current.runtime().state(id: parsed.positionals[0]) + "\n")
        return 0
    }
}
