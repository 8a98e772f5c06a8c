import ApusCore
import ArgumentParser

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show what this host offers a container runtime.",
        discussion: """
            Cgroup layout and controllers, namespaces, seccomp, security modules and the kernel \
            facilities apus uses, each probed on this host; a line starting with → says what a \
            missing one means for containers.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(name: Flags.format.names, help: "Output format.") var format: Format = .text

    func run() throws {
        let report = InfoReport.probe(criu: GlobalOptions.current.criu)
        printOut(format == .json ? report.json.text() + "\n" : report.text)
    }
}
