import ApusCore
import ArgumentParser

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start the user process of a created container.")
    @Argument(help: "Container id.") var id: String

    func run() throws {
        try GlobalOptions.current.runtime().start(id: id)
    }
}
