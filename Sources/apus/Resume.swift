import ApusCore
import ArgumentParser

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Resume every process of a paused container.")
    @Argument(help: "Container id.") var id: String

    func run() throws {
        try GlobalOptions.current.runtime().resume(id: id)
    }
}
