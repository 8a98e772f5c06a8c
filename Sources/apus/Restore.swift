import ApusCore
import ArgumentParser

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore a container from a criu checkpoint.")
    @Option(name: Flags.imagePath.names, help: "Directory of the images (default: ./checkpoint).")
    var imagePath = "checkpoint"
    @Option(name: Flags.workPath.names, help: "Directory for criu's log (default: the image path).")
    var workPath: String?
    @Option(name: Flags.bundle.names, help: "Path to the bundle (default: current directory).")
    var bundle: String = "."
    @Flag(name: Flags.detach.names, help: "Return once restored, do not wait for the container.")
    var detach = false
    @Option(name: Flags.pidFile.names, help: "File to write the init process id to.") var pidFile: String?
    @Option(name: Flags.consoleSocket.names, help: "Unix socket to send the restored pty master to.")
    var consoleSocket: String?
    @Flag(name: Flags.restoreNoSubreaper.names, help: "Do not become the subreaper of the restored process.")
    var noSubreaper = false
    @Flag(name: Flags.noPivot.names, help: "Accepted for runc compatibility (criu sets up the root).")
    var noPivot = false
    @Flag(name: Flags.tcpEstablished.names, help: "Restore open TCP connections.") var tcpEstablished = false
    @Flag(name: Flags.extUnixSk.names, help: "Allow external unix sockets.") var extUnixSk = false
    @Flag(name: Flags.shellJob.names, help: "Allow shell jobs.") var shellJob = false
    @Flag(name: Flags.fileLocks.names, help: "Restore file locks.") var fileLocks = false
    @Option(name: Flags.manageCgroupsMode.names, help: "soft, full, strict or ignore.")
    var manageCgroupsMode: String?
    @Option(name: Flags.emptyNs.names, help: "Namespace to create empty (network).") var emptyNs: [String] = []
    @Flag(name: Flags.autoDedup.names, help: "Deduplicate images while restoring.") var autoDedup = false
    @Option(name: Flags.lsmProfile.names, help: "LSM profile of the restored process (TYPE:NAME).")
    var lsmProfile: String?
    @Option(name: Flags.lsmMountContext.names, help: "SELinux mount context of the restored mounts.")
    var lsmMountContext: String?
    @Argument(help: "Container id.") var id: String

    func run() throws {
        var options = RestoreOptions(imagePath: imagePath, bundle: bundle)
        options.workPath = workPath
        options.detach = detach
        options.pidFile = pidFile
        options.consoleSocket = consoleSocket
        options.noSubreaper = noSubreaper
        options.noPivot = noPivot
        options.tcpEstablished = tcpEstablished
        options.extUnixSk = extUnixSk
        options.shellJob = shellJob
        options.fileLocks = fileLocks
        options.manageCgroupsMode = manageCgroupsMode
        options.emptyNamespaces = emptyNs
        options.autoDedup = autoDedup
        options.lsmProfile = lsmProfile
        options.lsmMountContext = lsmMountContext
        options.criu = GlobalOptions.current.criu
        if let code = try GlobalOptions.current.runtime().restore(id: id, options: options), code != 0 {
            throw ExitCode(code)
        }
    }
}
