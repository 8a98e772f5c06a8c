import ApusCore
import ArgumentParser

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a stopped container (--force: kill it first).")
    @Flag(name: Flags.force.names, help: "Kill the container if it is still running.") var force = false
    @Argument(help: "Container id.") var id: String

    func run() throws {
        try GlobalOptions.current.runtime().delete(id: id, force: force)
    }
}
