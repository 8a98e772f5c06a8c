import ApusCore
import Glibc

/// `--help` texts, laid out as ArgumentParser 1.8.2 laid them out: a 26-column label,
/// text wrapped to the terminal's width (COLUMNS, else the terminal's, else 80).
enum Help {
    static let rootUsage = "[--version] <subcommand>"
    static let rootAbstract = "An OCI container runtime: a drop-in for runc."
    static let labelColumn = 26

    static var width: Int {
        if let text = getenv("COLUMNS").map({ String(cString: $0) }), let columns = Int(text), columns > 0 {
            return columns
        }
        var size = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }

    /// `text` broken into lines of at most `width` characters at spaces (a word longer
    /// than that stays whole), every non-empty line indented by `indent`.
    static func wrap(_ text: String, width: Int, indent: Int = 0) -> String {
        let columns = max(1, width - indent)
        let chars = Array(text)
        var lines: [ArraySlice<Character>] = []
        var start = 0
        while true {
            let end = min(chars.count, start + columns)
            let chunk = chars[start..<end]
            if let newline = chunk.lastIndex(of: "\n") {
                lines += chars[start..<newline].split(separator: "\n", omittingEmptySubsequences: false)
                start = newline + 1
            } else if end == chars.count {
                lines.append(chars[start...])
                break
            } else if let space = chunk.lastIndex(of: " ") {
                lines.append(chars[start..<space])
                start = space + 1
            } else if let space = chars[start...].firstIndex(of: " ") {
                lines.append(chars[start..<space])
                start = space + 1
            } else {
                lines.append(chars[start...])
                break
            }
        }
        let pad = String(repeating: " ", count: indent)
        return lines.map { $0.isEmpty ? "" : pad + String($0) }.joined(separator: "\n")
    }

    /// `  label` and its text in the column after it, or on the next line when the label
    /// reaches the column.
    static func entry(_ label: String, _ text: String, width: Int) -> String {
        let padded = "  " + label
        guard !text.isEmpty else { return padded + "\n" }
        let wrapped = wrap(text, width: width, indent: labelColumn)
        if padded.count < labelColumn { return padded + String(wrapped.dropFirst(padded.count)) + "\n" }
        return padded + "\n" + wrapped + "\n"
    }

    static func command(_ decl: CommandDecl) -> String {
        let width = width
        var out = wrap("OVERVIEW: " + decl.abstract, width: width) + "\n\n"
        if !decl.discussion.isEmpty { out += wrap(decl.discussion, width: width) + "\n\n" }
        out += "USAGE: apus " + decl.usage + "\n\n"
        if !decl.arguments.isEmpty {
            out += "ARGUMENTS:\n"
            for argument in decl.arguments { out += entry("<" + argument.name + ">", argument.helpText, width: width) }
            out += "\n"
        }
        out += "OPTIONS:\n"
        for option in decl.options { out += entry(option.helpLabel, option.helpText, width: width) }
        out += entry("-h, --help", "Show help information.", width: width) + "\n"
        return out
    }

    static var root: String {
        let width = width
        var out = wrap("OVERVIEW: " + rootAbstract, width: width) + "\n\n"
        out += wrap(Flags.globalHelp, width: width) + "\n\n"
        out += "USAGE: apus " + rootUsage + "\n\n"
        out += "OPTIONS:\n" + entry("--version", "Print the version.", width: width)
        out += entry("-h, --help", "Show help information.", width: width) + "\n"
        out += "SUBCOMMANDS:\n"
        for name in Commands.names {
            guard let decl = Commands.decl(name) else { continue }
            out += entry(([decl.name] + decl.aliases).joined(separator: ", "), decl.abstract, width: width)
        }
        out += "\n  See 'apus help <subcommand>' for detailed help.\n"
        return out
    }

    /// `apus help help`.
    static let helpCommand = """
        OVERVIEW: Show subcommand help information.

        USAGE: apus help [<subcommands> ...]

        ARGUMENTS:
          <subcommands>


        """
}
