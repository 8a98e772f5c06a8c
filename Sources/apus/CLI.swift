import ApusCore
import Glibc

// The command line without swift-argument-parser. ArgumentParser (0.67 MiB of the binary
// with its ToolInfo module) imports FoundationEssentials (4.3 MiB with _FoundationCollections)
// and Concurrency with libdispatch (0.55 MiB): together a third of the static binary.
// It also cost ~10M instructions a start in reflection, which is why the hot commands had
// a parser of their own already (FastPath). This file is the one parser for every command;
// help, usage lines and error texts are ArgumentParser 1.8.2's, as apus printed them.

/// An option of one command, as its help shows it.
struct OptionDecl {
    var flag: FlagSpec
    var help: String
    /// Shown as `(default: …)`.
    var defaultValue: String?
    /// The only values accepted (`info --format`), shown as `(values: …)`.
    var choices: [String]
    /// Given more than once, every value counts (exec's --env, --empty-ns).
    var repeating: Bool

    init(
        _ flag: FlagSpec, _ help: String, default defaultValue: String? = nil, choices: [String] = [],
        repeating: Bool = false
    ) {
        self.flag = flag
        self.help = help
        self.defaultValue = defaultValue
        self.choices = choices
        self.repeating = repeating
    }

    /// `spelling <value>` for a valued option, as usage and errors name it.
    func label(_ spelling: String) -> String {
        flag.takesValue ? spelling + " <" + flag.longs[0] + ">" : spelling
    }

    /// `-b, --bundle <bundle>`: every spelling, the value once at the end.
    var helpLabel: String { label(flag.spellings.joined(separator: ", ")) }

    /// The help column: the text, then the accepted values and the default.
    var helpText: String {
        if !choices.isEmpty {
            return help + " (values: " + choices.joined(separator: ", ") + "; default: " + (defaultValue ?? "") + ")"
        }
        return defaultValue.map { help + " (default: " + $0 + ")" } ?? help
    }
}

/// A positional argument.
struct ArgumentDecl {
    var name: String
    var help: String
    var optional = false
    var defaultValue: String? = nil
    /// Takes every argument from here on as is, flags and `--` included (exec's command,
    /// ps's options).
    var capturesRest = false

    var synopsis: String { capturesRest ? "[<\(name)> ...]" : optional ? "[<\(name)>]" : "<\(name)>" }
    var helpText: String { defaultValue.map { help + " (default: " + $0 + ")" } ?? help }
}

/// One subcommand: its names, help and what it accepts.
struct CommandDecl {
    var name: String
    var aliases: [String] = []
    var abstract: String
    var discussion = ""
    var options: [OptionDecl] = []
    var arguments: [ArgumentDecl] = []

    /// `name [--flag] [--option <option>] <id>`; with more than 12 options and arguments,
    /// `name [<options>] <required ones>`, as ArgumentParser shortens it.
    var usage: String {
        if options.count + arguments.count > 12 {
            let kept = arguments.map(\.synopsis).joined(separator: " ")
            return kept.isEmpty ? name + " <options>" : name + " [<options>] " + kept
        }
        let parts = options.map { "[" + $0.label("--" + $0.flag.longs[0]) + "]" } + arguments.map(\.synopsis)
        return ([name] + parts).joined(separator: " ")
    }

    func option(spelled spelling: String) -> Int? {
        options.firstIndex { $0.flag.spellings.contains(spelling) }
    }
}

/// A command line that is not accepted: printed as ArgumentParser did, exit status 1.
struct UsageError: Error {
    var message: String
    /// Whose usage line follows; nil: the root command's.
    var command: CommandDecl?
    /// The `Help:` line naming the argument at fault.
    var help: (label: String, text: String)? = nil

    var text: String {
        var out = "Error: " + message + "\n"
        if let help { out += "Help:  " + help.label + "  " + help.text + "\n" }
        out += "Usage: apus " + (command?.usage ?? Help.rootUsage) + "\n"
        out += "  See 'apus" + (command.map { " " + $0.name } ?? "") + " --help' for more information."
        return out
    }

    static func missingValue(_ option: OptionDecl, _ spelling: String, in command: CommandDecl) -> UsageError {
        UsageError(
            message: "Missing value for '\(option.label(spelling))'", command: command,
            help: (option.label(spelling), option.help))
    }

    static func invalidValue(_ value: String, _ option: OptionDecl, _ spelling: String, in command: CommandDecl)
        -> UsageError
    {
        var message = "The value '\(value)' is invalid for '\(option.label(spelling))'"
        if !option.choices.isEmpty {
            let quoted = option.choices.map { "'" + $0 + "'" }
            message +=
                ". Please provide one of " + quoted.dropLast().joined(separator: ", ") + " and "
                + quoted[quoted.count - 1] + "."
        }
        return UsageError(message: message, command: command, help: (option.label(spelling), option.help))
    }
}

/// One command line, parsed against its command's declaration.
struct ParsedCommand {
    let decl: CommandDecl
    var positionals: [String] = []
    /// What the capturing argument took.
    var rest: [String] = []
    /// Options in the order given: which one, as spelled, with its value.
    var given: [(option: Int, spelling: String, value: String?)] = []

    func flag(_ flag: FlagSpec) -> Bool { given.contains { decl.options[$0.option].flag == flag } }

    /// Every value of a repeatable option, in order.
    func values(_ flag: FlagSpec) -> [String] {
        given.compactMap { decl.options[$0.option].flag == flag ? $0.value : nil }
    }

    /// The last value given.
    func value(_ flag: FlagSpec) -> String? { values(flag).last }

    /// Each value converted by `convert`; one it refuses is a usage error naming it.
    func converted<T>(_ flag: FlagSpec, _ convert: (String) -> T?) throws(UsageError) -> [T] {
        var out: [T] = []
        for entry in given where decl.options[entry.option].flag == flag {
            guard let text = entry.value else { continue }
            guard let value = convert(text) else {
                throw .invalidValue(text, decl.options[entry.option], entry.spelling, in: decl)
            }
            out.append(value)
        }
        return out
    }

    /// A check of the parsed values failed (ArgumentParser's `validate()`).
    func invalid(_ message: String) -> UsageError { UsageError(message: message, command: decl) }
}

enum CLI {
    /// Parses `arguments` (after the command's name); nil when help was asked for.
    static func parse(_ arguments: ArraySlice<String>, for decl: CommandDecl) throws(UsageError) -> ParsedCommand? {
        var parsed = ParsedCommand(decl: decl)
        var unknown: String? = nil
        var unexpected: String? = nil
        let fixed = decl.arguments.filter { !$0.capturesRest }.count
        let captures = decl.arguments.last?.capturesRest == true
        var index = arguments.startIndex
        var optionsEnded = false
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            if !optionsEnded && argument == "--" {
                optionsEnded = true
                continue
            }
            if optionsEnded || !argument.hasPrefix("-") || argument == "-" {
                if parsed.positionals.count < fixed {
                    parsed.positionals.append(argument)
                    if captures && parsed.positionals.count == fixed {
                        parsed.rest = Array(arguments[index...])
                        break
                    }
                } else if captures {
                    parsed.rest = Array(arguments[(index - 1)...])
                    break
                } else if unexpected == nil {
                    unexpected = argument
                }
                continue
            }
            if argument == "-h" || argument == "--help" { return nil }
            var name = argument
            var inline: String? = nil
            if let eq = argument.firstIndex(of: "=") {
                name = String(argument[..<eq])
                inline = String(argument[argument.index(after: eq)...])
            }
            guard let option = decl.option(spelled: name) else {
                if unknown == nil { unknown = name }
                continue
            }
            var value: String? = nil
            if decl.options[option].flag.takesValue {
                if let inline, !inline.isEmpty {
                    value = inline
                } else {
                    // A dash-led word is the next option, never a value.
                    guard index < arguments.endIndex, !arguments[index].hasPrefix("-") || arguments[index] == "-"
                    else { throw .missingValue(decl.options[option], name, in: decl) }
                    value = arguments[index]
                    index += 1
                }
            } else if let inline {
                throw UsageError(
                    message: "The option '\(name)' does not take any value, but '\(inline)' was specified.",
                    command: decl)
            }
            parsed.given.append((option, name, value))
        }
        try check(parsed, unknown: unknown, unexpected: unexpected)
        return parsed
    }

    /// What ArgumentParser reports after reading the line, in its order: a missing
    /// argument, then an unknown option, then an unexpected argument.
    private static func check(_ parsed: ParsedCommand, unknown: String?, unexpected: String?) throws(UsageError) {
        let decl = parsed.decl
        let required = decl.arguments.filter { !$0.optional && !$0.capturesRest }
        if parsed.positionals.count < required.count {
            let missing = required[parsed.positionals.count]
            throw UsageError(
                message: "Missing expected argument '<\(missing.name)>'", command: decl,
                help: ("<" + missing.name + ">", missing.help))
        }
        if let unknown {
            var message = "Unknown option '\(unknown)'"
            if let suggestion = suggestion(for: unknown, in: decl) { message += ". Did you mean '\(suggestion)'?" }
            throw UsageError(message: message, command: decl)
        }
        if let unexpected { throw UsageError(message: "Unexpected argument '\(unexpected)'", command: decl) }
    }

    /// The long spelling closest to a mistyped one (edit distance under 4), first one on ties.
    static func suggestion(for typed: String, in decl: CommandDecl) -> String? {
        var best: (spelling: String, distance: Int)? = nil
        for option in decl.options {
            for long in option.flag.longs {
                let distance = editDistance(Array(typed), Array("--" + long))
                if distance < 4, distance < (best?.distance ?? Int.max) { best = ("--" + long, distance) }
            }
        }
        return best?.spelling
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
            }
            previous = current
        }
        return previous[b.count]
    }

    /// ArgumentParser refused an argument led by three dashes or by `-=` anywhere before a
    /// `--`, even in exec's command; kept so that such a line still fails as before.
    static func checkMalformed(_ arguments: [String]) throws(UsageError) {
        for argument in arguments {
            if argument == "--" { return }
            if argument.hasPrefix("---") || argument.hasPrefix("-=") {
                throw UsageError(message: "Invalid option: \(argument)", command: nil)
            }
        }
    }
}
