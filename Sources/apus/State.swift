import ApusCore
import ArgumentParser

struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state", abstract: "Print the OCI state of a container as JSON.")
    @Argument(help: "Container id.") var id: String

    func run() throws {
        printOut(try GlobalOptions.current.runtime().state(id: id) + "\n")
    }
}
