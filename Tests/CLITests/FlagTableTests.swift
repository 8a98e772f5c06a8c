import Foundation
import Testing

@testable import apus

/// Every option ArgumentParser declares is the `Flags` entry the fast parser and the
/// Go-style rewriting read: same spellings, same value-taking. A declaration that stops
/// using the table, or a table entry that drifts from its declaration, fails here.
@Suite("command line: one table of options")
struct FlagTableTests {
    struct Declared: Hashable, CustomStringConvertible {
        var spellings: Set<String>
        var takesValue: Bool
        var description: String { spellings.sorted().joined(separator: "|") + (takesValue ? " VALUE" : "") }
    }

    /// The root command and its subcommands as ArgumentParser dumps them (ToolInfo JSON).
    static func dump() throws -> [String: Any] {
        let text = Apus._dumpHelp()
        let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        return try #require(json?["command"] as? [String: Any])
    }

    static func declared(_ command: [String: Any]) -> Set<Declared> {
        var out = Set<Declared>()
        for argument in command["arguments"] as? [[String: Any]] ?? [] {
            let kind = argument["kind"] as? String
            guard kind == "option" || kind == "flag" else { continue }
            var spellings = Set<String>()
            for name in argument["names"] as? [[String: Any]] ?? [] {
                guard let text = name["name"] as? String else { continue }
                spellings.insert((name["kind"] as? String == "short" ? "-" : "--") + text)
            }
            if spellings.contains("--help") { continue }
            out.insert(Declared(spellings: spellings, takesValue: kind == "option"))
        }
        return out
    }

    static func table(_ flags: [FlagSpec]) -> Set<Declared> {
        Set(flags.map { Declared(spellings: Set($0.spellings), takesValue: $0.takesValue) })
    }

    @Test func globalOptionsAreReadBeforeTheCommandAndNowhereElse() throws {
        // ArgumentParser would take a root option after the command too, and drop it.
        let root = try Self.dump()
        #expect(Self.declared(root) == Self.table([Flags.version]))
        let (options, rest) = try GlobalOptions.extract([
            "-root", "/r", "--log=/l", "--debug", "--rootless", "true", "list",
        ])
        #expect(options.root == "/r" && options.log == "/l" && options.debug && options.rootless == .true)
        #expect(rest == ["list"])
        for flag in Flags.global {
            #expect(Flags.globalHelp.contains("--" + flag.longs[0] + " "))
            #expect(Flags.global(named: Substring(flag.longs[0])) == flag)
        }
    }

    @Test func everySubcommandMatchesItsTableEntry() throws {
        let subcommands = try Self.dump()["subcommands"] as? [[String: Any]] ?? []
        var seen: [String] = []
        for command in subcommands {
            guard let name = command["commandName"] as? String, name != "help" else { continue }
            seen.append(name)
            let table = try #require(Flags.options(of: name), "no Flags.options(of: \"\(name)\")")
            let declared = Self.declared(command)
            #expect(
                declared == Self.table(table),
                "\(name): declared \(declared.map(\.description).sorted()), table \(Self.table(table).map(\.description).sorted())"
            )
        }
        #expect(seen.count >= 17)
        #expect(Flags.options(of: "ls") == Flags.options(of: "list"))
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

    @Test func fastPathTakesValuesFromTheTable() throws {
        var parsed = try #require(
            FastPath.Parsed(
                ["--bundle", "/b", "--pid-file", "/p", "--no-pivot", "c4"], takesValue: Flags.valued(Flags.create)))
        let created = parsed.createOptions()
        let options = try #require(created)
        #expect(options.bundle == "/b")
        #expect(options.pidFile == "/p")
        #expect(options.noPivot)
        #expect(parsed.done(positionals: 1))
    }
}
