import ApusCore
import ArgumentParser

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print a container's events (stats every interval, oom) as JSON lines.")
    @Option(name: Flags.interval.names, help: "Stats collection interval (Go duration: 5s, 500ms).") var interval:
        String = "5s"
    @Flag(name: Flags.stats.names, help: "Print the container's stats once and exit.") var stats = false
    @Argument(help: "Container id.") var id: String

    func validate() throws {
        guard let ms = parseDurationMilliseconds(interval), ms > 0 else {
            throw ValidationError("invalid value \"\(interval)\" for flag -interval: duration must be greater than 0")
        }
    }

    func run() throws {
        let ms = parseDurationMilliseconds(interval) ?? 5000
        try GlobalOptions.current.runtime().events(id: id, intervalMilliseconds: ms, statsOnce: stats) { line in
            printOut(line + "\n")
        }
    }
}
