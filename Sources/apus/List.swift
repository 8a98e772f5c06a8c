import ApusCore

enum ListCommand {
    static let decl = CommandDecl(
        name: "list", aliases: ["ls"], abstract: "List containers.",
        options: [
            OptionDecl(Flags.format, "Output format: table or json.", default: "table"),
            OptionDecl(Flags.quiet, "Print only the ids."),
        ])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        let format = parsed.value(Flags.format) ?? "table"
        if format != "table" && format != "json" {
            throw parsed.invalid("invalid format option \"\(format)\": use table or json")
        }
        let runtime = try GlobalOptions.current.runtime()
        let entries = runtime.list()
        if parsed.flag(Flags.quiet) {
            printOut(entries.map { $0.record.id + "\n" }.joined())
            return 0
        }
        if format == "json" {
            let items = entries.map { runtime.stateJSON($0.record, status: $0.status, pretty: false) }
            printOut("[" + items.joined(separator: ",") + "]\n")
            return 0
        }
        var rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        for entry in entries {
            let pid = entry.status == .stopped ? 0 : entry.record.pid
            rows.append([
                entry.record.id, String(pid), entry.status.rawValue, entry.record.bundle, entry.record.created,
                entry.record.owner,
            ])
        }
        printOut(tabulate(rows))
        return 0
    }
}
/// Columns as Go's tabwriter prints runc's list (minwidth 12, padding 3); the
/// last column is not padded.
func tabulate(_ rows: [[String]]) -> String {
    guard let columns = rows.first?.count else { return "" }
    var widths = [Int](repeating: 0, count: columns)
    for row in rows {
        for (i, cell) in row.enumerated() where i < columns - 1 {
            widths[i] = max(widths[i], max(12, cell.count + 3))
        }
    }
    var out = ""
    for row in rows {
        for (i, cell) in row.enumerated() {
            if i < columns - 1 {
                out += cell + String(repeating: " ", count: widths[i] - cell.count)
            } else {
                out += cell
            }
        }
        out += "\n"
    }
    return out
}
