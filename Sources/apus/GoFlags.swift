/// runc parses its command line with Go's flag rules (urfave/cli): a long flag may be
/// written with one dash (`-bundle DIR`, `-force`, `-no-subreaper`) and flag parsing stops
/// at the first argument that is not a flag. Managers rely on it: containerd writes
/// `-no-subreaper` for restore. Both of apus's parsers take the double-dash form, so the
/// subcommand's flags are rewritten to it first, up to the first positional argument:
/// what follows it (exec's command, ps's arguments) is never touched.
enum GoFlags {
    /// The command's options whose value is the next argument, without their dashes
    /// (`Flags.options(of:)`); an unknown command rewrites no value-taking flag.
    static func takeValue(_ command: String) -> Set<String> {
        var names = Set<String>()
        for flag in Flags.options(of: command) ?? [] where flag.takesValue {
            if let short = flag.short { names.insert(String(short)) }
            for long in flag.longs { names.insert(long) }
        }
        return names
    }

    /// `arguments` is the subcommand and its arguments, global flags already taken off.
    static func normalize(_ arguments: [String]) -> [String] {
        guard arguments.count > 1 else { return arguments }
        var result = [arguments[0]]
        let takeValue = takeValue(arguments[0])
        var index = 1
        while index < arguments.count {
            var argument = arguments[index]
            if argument == "--" || !argument.hasPrefix("-") || argument == "-" { break }
            if isSingleDashLong(argument) { argument = "-" + argument }
            result.append(argument)
            index += 1
            let name = argument.drop { $0 == "-" }
            if !name.contains("="), takeValue.contains(String(name)), index < arguments.count {
                result.append(arguments[index])
                index += 1
            }
        }
        return result + arguments[index...]
    }

    /// `-name` or `-name=value` with a name of two or more letters, digits and dashes that
    /// starts with a letter: never a short flag (runc has no clustered short flags) or a
    /// negative number.
    static func isSingleDashLong(_ argument: String) -> Bool {
        let body = argument.utf8.dropFirst()
        guard argument.utf8.first == UInt8(ascii: "-"), let first = body.first, first != UInt8(ascii: "-") else {
            return false
        }
        let name = body.prefix { $0 != UInt8(ascii: "=") }
        guard name.count >= 2, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return name.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "-")
        }
    }
}
