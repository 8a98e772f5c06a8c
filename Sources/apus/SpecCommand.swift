import ApusCore

enum SpecCommand {
    static let decl = CommandDecl(
        name: "spec", abstract: "Write a default config.json (like runc spec) into the bundle.",
        options: [
            OptionDecl(Flags.bundle, "Bundle directory to write config.json into.", default: "."),
            OptionDecl(Flags.specRootless, "Write a config for a rootless container."),
        ])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        try writeDefaultSpec(bundle: parsed.value(Flags.bundle) ?? ".", rootless: parsed.flag(Flags.specRootless))
        return 0
    }
}
