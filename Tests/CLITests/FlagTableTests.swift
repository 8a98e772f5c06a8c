import Testing

@testable import apus

/// Every command declares exactly its entry of the one table of options (`Flags`), which the
/// Go-style rewriting reads too; its help lists every spelling; and the parser reports what
/// ArgumentParser 1.8.2 reported, word for word (apus's command line before it dropped
/// ArgumentParser; IntegrationTests run the same lines against the binary).
@Suite("command line: one table of options")
struct FlagTableTests {
    static func spellings(_ flags: [FlagSpec]) -> Set<String> { Set(flags.flatMap(\.spellings)) }

    @Test func globalOptionsAreReadBeforeTheCommandAndNowhereElse() throws {
        // The root declares only --version; the global options are read before the command.
        #expect(Commands.root.options.map(\.flag) == [Flags.version])
        let (options, rest) = try GlobalOptions.extract([
            "-root", "/r", "--log=/l", "--debug", "--rootless", "true", "list",
        ])
        #expect(options.root == "/r" && options.log == "/l" && options.debug && options.rootless == .true)
        #expect(rest == ["list"])
        for flag in Flags.global {
            #expect(Flags.globalHelp.contains(substring: "--" + flag.longs[0] + " "))
            #expect(Flags.global(named: Substring(flag.longs[0])) == flag)
            #expect(Help.root.contains(substring: "--" + flag.longs[0] + " "))
        }
        #expect(throws: UsageError.self) { try GlobalOptions.extract(["--root"]) }
    }

    @Test func everySubcommandMatchesItsTableEntry() throws {
        for name in Commands.names {
            let decl = try #require(Commands.decl(name), "no declaration of \(name)")
            #expect(decl.name == name)
            let table = try #require(Flags.options(of: name), "no Flags.options(of: \"\(name)\")")
            let declared = decl.options.map(\.flag)
            #expect(
                Self.spellings(declared) == Self.spellings(table) && declared.count == table.count,
                "\(name): declared \(Self.spellings(declared).sorted()), table \(Self.spellings(table).sorted())")
            for (a, b) in zip(declared, table) { #expect(a.takesValue == b.takesValue, "\(name) \(a.longs)") }
            let help = Help.command(decl)
            for spelling in Self.spellings(table) {
                #expect(help.contains(substring: spelling), "\(name) --help does not list \(spelling)")
            }
            #expect(Help.root.contains(substring: "\n  " + name), "apus --help does not list \(name)")
        }
        #expect(Commands.names.count >= 17)
        #expect(Flags.options(of: "ls") == Flags.options(of: "list"))
        #expect(Commands.decl("ls")?.name == "list")
    }

    @Test func goStyleRewritingUsesTheCommandsOwnOptions() {
        // delete's -f is --force, a flag: the id after it is not its value.
        #expect(GoFlags.normalize(["delete", "-force", "c1"]) == ["delete", "--force", "c1"])
        // list's -f is --format, which takes one.
        #expect(GoFlags.normalize(["list", "-format", "json"]) == ["list", "--format", "json"])
        #expect(
            GoFlags.normalize(["run", "-bundle", "/b", "-detach", "c2"]) == ["run", "--bundle", "/b", "--detach", "c2"])
        // exec: rewriting stops at the id; the command's own flags stay as written.
        #expect(
            GoFlags.normalize(["exec", "-cwd", "/tmp", "c3", "ls", "-la"]) == [
                "exec", "--cwd", "/tmp", "c3", "ls", "-la",
            ])
    }

    @Test func parserTakesValuesFromTheTable() throws {
        let parsed = try #require(
            try CLI.parse(["--bundle", "/b", "--pid-file", "/p", "--no-pivot", "c4"], for: CreateCommand.decl))
        let options = try CreateFlags.options(parsed)
        #expect(options.bundle == "/b")
        #expect(options.pidFile == "/p")
        #expect(options.noPivot)
        #expect(parsed.positionals == ["c4"])
        // exec: everything after the id is the command, flags and help included.
        let exec = try #require(try CLI.parse(["-t", "c5", "sh", "--help", "-t"], for: ExecCommand.decl))
        #expect(exec.positionals == ["c5"] && exec.rest == ["sh", "--help", "-t"] && exec.flag(Flags.tty))
        #expect(try CLI.parse(["--help", "x"], for: RunCommand.decl) == nil)
    }

    /// The first lines of each error, as ArgumentParser 1.8.2 printed them.
    @Test(
        arguments: [
            (["run"], "Error: Missing expected argument '<id>'\nHelp:  <id>  Container id.\nUsage: apus run"),
            (
                ["exec", "--td", "x", "true"],
                "Error: Unknown option '--td'. Did you mean '--tty'?\nUsage: apus exec [<options>] <id> [<command> ...]\n"
            ),
            (
                ["list", "-f"],
                "Error: Missing value for '-f <format>'\nHelp:  -f <format>  Output format: table or json.\n"
                    + "Usage: apus list [--format <format>] [--quiet]\n  See 'apus list --help' for more information."
            ),
            (
                ["delete", "--force=yes", "x"],
                "Error: The option '--force' does not take any value, but 'yes' was specified."
            ),
            (["start", "a", "b"], "Error: Unexpected argument 'b'\nUsage: apus start <id>\n"),
            (
                ["info", "--format", "xml"],
                "Error: The value 'xml' is invalid for '--format <format>'. Please provide one of 'text' and 'json'."
            ),
            (["exec", "x", "echo", "---"], "Error: Invalid option: ---\nUsage: apus [--version] <subcommand>\n"),
            (
                ["nosuch"],
                "Error: Unexpected argument 'nosuch'\nUsage: apus [--version] <subcommand>\n  See 'apus --help'"
            ),
        ])
    func errorsReadAsBefore(arguments: [String], expected: String) throws {
        do {
            _ = try Commands.dispatch(arguments)
            Issue.record("\(arguments) was accepted")
        } catch let error as UsageError {
            #expect(error.text.hasPrefix(expected), "\(arguments): \(error.text)")
        }
    }

    @Test func helpIsLaidOutAsBefore() throws {
        let decl = try #require(Commands.decl("kill"))
        let expected = """
            OVERVIEW: Send a signal (default SIGTERM) to a container's init.

            USAGE: apus kill [--all] <id> [<signal>]

            ARGUMENTS:
              <id>                    Container id.
              <signal>                Signal name (TERM, SIGTERM) or number. (default:
                                      SIGTERM)

            OPTIONS:
              -a, --all               Signal every process of the container.
              -h, --help              Show help information.


            """
        #expect(Help.wrap("a bb ccc dddd", width: 8, indent: 2) == "  a bb\n  ccc\n  dddd")
        if Help.width == 80 { #expect(Help.command(decl) == expected) }
    }
}
