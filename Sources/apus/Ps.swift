import ApusCore
import ArgumentParser

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps", abstract: "List the processes of a container.",
        discussion: "Table form runs the host's ps with the given options (default -ef) and keeps the container's rows."
    )
    @Option(name: Flags.format.names, help: "Output format: table or json.") var format: String = "table"
    @Argument(help: "Container id.") var id: String
    @Argument(parsing: .captureForPassthrough, help: "Options for ps (table format).") var psOptions: [String] = []

    func validate() throws {
        if format != "table" && format != "json" { throw ValidationError("invalid format option") }
    }

    func run() throws {
        let runtime = try GlobalOptions.current.runtime()
        if format == "json" {
            let pids = try runtime.processes(id: id)
            printOut("[" + pids.map(String.init).joined(separator: ",") + "]\n")
            return
        }
        let options = psOptions.first == "--" ? Array(psOptions.dropFirst()) : psOptions
        printOut(try runtime.processTable(id: id, options: options))
    }
}
