import ApusCore

enum ValidateCommand {
    static let decl = CommandDecl(
        name: "validate", abstract: "Check a bundle against the spec and this host without creating anything.",
        discussion: "Prints every problem with its config.json path; exits 0 when the bundle would run.",
        options: [OptionDecl(Flags.bundle, "Path to the bundle (default: current directory).", default: ".")])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        let bundle = parsed.value(Flags.bundle) ?? "."
        let problems = GlobalOptions.current.statelessRuntime().validate(bundle: bundle)
        if problems.isEmpty {
            printOut("bundle \(absolutePath(bundle)) is valid\n")
            return 0
        }
        for problem in problems { printError(problem) }
        printError("\(problems.count) problem\(problems.count == 1 ? "" : "s") found")
        return 1
    }
}
