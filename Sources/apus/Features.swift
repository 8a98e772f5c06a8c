import ApusCore

enum FeaturesCommand {
    static let decl = CommandDecl(
        name: "features", abstract: "Show what this build of apus supports, as the runtime-spec features JSON.",
        discussion: "The same document as runc features; see the runtime-spec's features.md.")

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        printOut(Features.document(criu: GlobalOptions.current.criu).text() + "\n")
        return 0
    }
}
