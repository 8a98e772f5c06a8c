import ApusCore
import ArgumentParser

struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Suspend every process of a container (cgroup freezer).")
    @Argument(help: "Container id.") var id: String

    func run() throws {
        try GlobalOptions.current.runtime().pause(id: id)
    }
}
