import ApusCore
import ArgumentParser

struct SpecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spec", abstract: "Write a default config.json (like runc spec) into the bundle.")
    @Option(name: Flags.bundle.names, help: "Bundle directory to write config.json into.")
    var bundle: String = "."
    @Flag(name: Flags.specRootless.names, help: "Write a config for a rootless container.") var rootless = false

    func run() throws {
        try writeDefaultSpec(bundle: bundle, rootless: rootless)
    }
}
