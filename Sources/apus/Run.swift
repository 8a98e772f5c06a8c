import ApusCore
import ArgumentParser

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Create and start a container; wait for it unless --detach.")
    @OptionGroup var flags: CreateFlags
    @Flag(name: Flags.detach.names, help: "Return once the container has started.") var detach = false
    @Flag(name: Flags.keep.names, help: "Keep the container's state after it exits (foreground only).") var keep = false
    @Argument(help: "Container id.") var id: String

    func validate() throws {
        if detach && keep { throw ValidationError("--keep cannot be used with --detach") }
    }

    func run() throws {
        var options = Runtime.RunOptions(create: flags.options)
        options.detach = detach
        options.keep = keep
        let code = try GlobalOptions.current.runtime().run(id: id, options: options)
        throw ExitCode(code)
    }
}
