import ApusCore
import ArgumentParser

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint", abstract: "Checkpoint a running container with criu.")
    @Option(name: Flags.imagePath.names, help: "Directory for the images (default: ./checkpoint).")
    var imagePath = "checkpoint"
    @Option(name: Flags.workPath.names, help: "Directory for criu's log (default: the image path).")
    var workPath: String?
    @Option(name: Flags.parentPath.names, help: "Images of a previous (pre-)dump, relative to the image path.")
    var parentPath: String?
    @Flag(name: Flags.leaveRunning.names, help: "Leave the container running after the checkpoint.")
    var leaveRunning = false
    @Flag(name: Flags.tcpEstablished.names, help: "Allow open TCP connections.") var tcpEstablished = false
    @Flag(name: Flags.tcpSkipInFlight.names, help: "Skip TCP connections not yet accepted.")
    var tcpSkipInFlight = false
    @Flag(name: Flags.linkRemap.names, help: "Allow one to link unlinked files back when possible.")
    var linkRemap = false
    @Flag(name: Flags.extUnixSk.names, help: "Allow external unix sockets.") var extUnixSk = false
    @Flag(name: Flags.shellJob.names, help: "Allow shell jobs (a session outside the container).")
    var shellJob = false
    @Flag(name: Flags.fileLocks.names, help: "Handle file locks.") var fileLocks = false
    @Flag(name: Flags.preDump.names, help: "Dump memory only, leave the container running (needs soft-dirty).")
    var preDump = false
    @Option(name: Flags.manageCgroupsMode.names, help: "soft, full, strict or ignore.")
    var manageCgroupsMode: String?
    @Option(name: Flags.emptyNs.names, help: "Namespace to leave empty (network).") var emptyNs: [String] = []
    @Flag(name: Flags.autoDedup.names, help: "Deduplicate images against the parent.") var autoDedup = false
    @Flag(name: Flags.lazyPages.names, help: "Leave memory for a lazy-pages daemon (needs userfaultfd).")
    var lazyPages = false
    @Option(name: Flags.statusFd.names, help: "Descriptor criu writes \\0 to once lazy pages are ready.")
    var statusFd: Int32?
    @Option(name: Flags.pageServer.names, help: "ADDRESS:PORT of a criu page server.") var pageServer: String?
    @Argument(help: "Container id.") var id: String

    func run() throws {
        var options = CheckpointOptions(imagePath: imagePath)
        options.workPath = workPath
        options.parentPath = parentPath
        options.leaveRunning = leaveRunning
        options.tcpEstablished = tcpEstablished
        options.tcpSkipInFlight = tcpSkipInFlight
        options.linkRemap = linkRemap
        options.extUnixSk = extUnixSk
        options.shellJob = shellJob
        options.fileLocks = fileLocks
        options.preDump = preDump
        options.manageCgroupsMode = manageCgroupsMode
        options.emptyNamespaces = emptyNs
        options.autoDedup = autoDedup
        options.lazyPages = lazyPages
        options.statusFD = statusFd
        options.pageServer = pageServer
        options.criu = GlobalOptions.current.criu
        try GlobalOptions.current.runtime().checkpoint(id: id, options: options)
    }
}
