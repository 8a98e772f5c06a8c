import ApusCore
import ArgumentParser

struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Show what this build of apus supports, as the runtime-spec features JSON.",
        discussion: "The same document as runc features; see the runtime-spec's features.md.")

    func run() throws {
        printOut(Features.document(criu: GlobalOptions.current.criu).text() + "\n")
    }
}
