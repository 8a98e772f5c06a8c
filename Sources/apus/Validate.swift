import ApusCore
import ArgumentParser

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a bundle against the spec and this host without creating anything.",
        discussion: "Prints every problem with its config.json path; exits 0 when the bundle would run.")
    @Option(name: Flags.bundle.names, help: "Path to the bundle (default: current directory).")
    var bundle: String = "."

    func run() throws {
        let problems = GlobalOptions.current.statelessRuntime().validate(bundle: bundle)
        if problems.isEmpty {
            printOut("bundle \(absolutePath(bundle)) is valid\n")
            return
        }
        for problem in problems { printError(problem) }
        printError("\(problems.count) problem\(problems.count == 1 ? "" : "s") found")
        throw ExitCode(1)
    }
}
