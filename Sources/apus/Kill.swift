import ApusCore
import ArgumentParser

struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill", abstract: "Send a signal (default SIGTERM) to a container's init.")
    @Flag(name: Flags.all.names, help: "Signal every process of the container.") var all = false
    @Argument(help: "Container id.") var id: String
    @Argument(help: "Signal name (TERM, SIGTERM) or number.") var signal: String = "SIGTERM"

    func run() throws {
        guard let number = parseSignal(signal) else {
            throw ApusError("unknown signal \"\(signal)\"")
        }
        try GlobalOptions.current.runtime().kill(id: id, signal: number, all: all)
    }
}
