import ApusCore

enum KillCommand {
    static let decl = CommandDecl(
        name: "kill", abstract: "Send a signal (default SIGTERM) to a container's init.",
        options: [OptionDecl(Flags.all, "Signal every process of the container.")],
        arguments: [
            containerID,
            ArgumentDecl(
                name: "signal", help: "Signal name (TERM, SIGTERM) or number.", optional: true, defaultValue: "SIGTERM"),
        ])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        let text = parsed.positionals.count > 1 ? parsed.positionals[1] : "SIGTERM"
        guard let signal = parseSignal(text) else { throw ApusError("unknown signal \"\(text)\"") }
        try GlobalOptions.current.runtime().kill(id: parsed.positionals[0], signal: signal, all: parsed.flag(Flags.all))
        return 0
    }
}
