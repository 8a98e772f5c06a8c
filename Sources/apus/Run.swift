import ApusCore

enum RunCommand {
    static let decl = CommandDecl(
        name: "run", abstract: "Create and start a container; wait for it unless --detach.",
        options: CreateFlags.options + [
            OptionDecl(Flags.detach, "Return once the container has started."),
            OptionDecl(Flags.keep, "Keep the container's state after it exits (foreground only)."),
        ], arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        let create = try CreateFlags.options(parsed)
        var options = Runtime.RunOptions(create: create)
        options.detach = parsed.flag(Flags.detach)
        options.keep = parsed.flag(Flags.keep)
        if options.detach && options.keep { throw parsed.invalid("--keep cannot be used with --detach") }
        return try GlobalOptions.current.runtime().run(id: parsed.positionals[0], options: options)
    }
}
