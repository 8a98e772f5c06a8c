import ApusCore

enum EventsCommand {
    static let decl = CommandDecl(
        name: "events", abstract: "Print a container's events (stats every interval, oom) as JSON lines.",
        options: [
            OptionDecl(Flags.interval, "Stats collection interval (Go duration: 5s, 500ms).", default: "5s"),
            OptionDecl(Flags.stats, "Print the container's stats once and exit."),
        ], arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        let interval = parsed.value(Flags.interval) ?? "5s"
        guard let ms = parseDurationMilliseconds(interval), ms > 0 else {
            throw parsed.invalid("invalid value \"\(interval)\" for flag -interval: duration must be greater than 0")
        }
        let runtime = try GlobalOptions.current.runtime()
        try runtime.events(id: parsed.positionals[0], intervalMilliseconds: ms, statsOnce: parsed.flag(Flags.stats)) {
            line in
            printOut(line + "\n")
        }
        return 0
    }
}
