import ApusCore

enum InfoCommand {
    static let decl = CommandDecl(
        name: "info", abstract: "Show what this host offers a container runtime.",
        discussion: """
            Cgroup layout and controllers, namespaces, seccomp, security modules and the kernel \
            facilities apus uses, each probed on this host; a line starting with → says what a \
            missing one means for containers.
            """,
        options: [OptionDecl(Flags.format, "Output format.", default: "text", choices: ["text", "json"])])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        let format = try parsed.converted(Flags.format) { ["text", "json"].contains($0) ? $0 : nil }.last ?? "text"
        let report = InfoReport.probe(criu: GlobalOptions.current.criu)
        printOut(format == "json" ? report.json.text() + "\n" : report.text)
        return 0
    }
}
