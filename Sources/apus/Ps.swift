import ApusCore

enum PsCommand {
    static let decl = CommandDecl(
        name: "ps", abstract: "List the processes of a container.",
        discussion:
            "Table form runs the host's ps with the given options (default -ef) and keeps the container's rows.",
        options: [OptionDecl(Flags.format, "Output format: table or json.", default: "table")],
        arguments: [
            containerID, ArgumentDecl(name: "ps-options", help: "Options for ps (table format).", capturesRest: true),
        ])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        let format = parsed.value(Flags.format) ?? "table"
        if format != "table" && format != "json" { throw parsed.invalid("invalid format option") }
        let runtime = try GlobalOptions.current.runtime()
        let id = parsed.positionals[0]
        if format == "json" {
            let pids = try runtime.processes(id: id)
            printOut("[" + pids.map(String.init).joined(separator: ",") + "]\n")
            return 0
        }
        let options = parsed.rest.first == "--" ? Array(parsed.rest.dropFirst()) : parsed.rest
        printOut(try runtime.processTable(id: id, options: options))
        return 0
    }
}
