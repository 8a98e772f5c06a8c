import ApusCore

enum CheckpointCommand {
    static let decl = CommandDecl(
        name: "checkpoint", abstract: "Checkpoint a running container with criu.",
        options: [
            OptionDecl(Flags.imagePath, "Directory for the images (default: ./checkpoint).", default: "checkpoint"),
            OptionDecl(Flags.workPath, "Directory for criu's log (default: the image path)."),
            OptionDecl(Flags.parentPath, "Images of a previous (pre-)dump, relative to the image path."),
            OptionDecl(Flags.leaveRunning, "Leave the container running after the checkpoint."),
            OptionDecl(Flags.tcpEstablished, "Allow open TCP connections."),
            OptionDecl(Flags.tcpSkipInFlight, "Skip TCP connections not yet accepted."),
            OptionDecl(Flags.linkRemap, "Allow one to link unlinked files back when possible."),
            OptionDecl(Flags.extUnixSk, "Allow external unix sockets."),
            OptionDecl(Flags.shellJob, "Allow shell jobs (a session outside the container)."),
            OptionDecl(Flags.fileLocks, "Handle file locks."),
            OptionDecl(Flags.preDump, "Dump memory only, leave the container running (needs soft-dirty)."),
            OptionDecl(Flags.manageCgroupsMode, "soft, full, strict or ignore."),
            OptionDecl(Flags.emptyNs, "Namespace to leave empty (network).", repeating: true),
            OptionDecl(Flags.autoDedup, "Deduplicate images against the parent."),
            OptionDecl(Flags.lazyPages, "Leave memory for a lazy-pages daemon (needs userfaultfd)."),
            OptionDecl(Flags.statusFd, "Descriptor criu writes \\0 to once lazy pages are ready."),
            OptionDecl(Flags.pageServer, "ADDRESS:PORT of a criu page server."),
        ], arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        var options = CheckpointOptions(imagePath: parsed.value(Flags.imagePath) ?? "checkpoint")
        options.statusFD = try parsed.converted(Flags.statusFd) { Int32($0) }.last
        options.workPath = parsed.value(Flags.workPath)
        options.parentPath = parsed.value(Flags.parentPath)
        options.leaveRunning = parsed.flag(Flags.leaveRunning)
        options.tcpEstablished = parsed.flag(Flags.tcpEstablished)
        options.tcpSkipInFlight = parsed.flag(Flags.tcpSkipInFlight)
        options.linkRemap = parsed.flag(Flags.linkRemap)
        options.extUnixSk = parsed.flag(Flags.extUnixSk)
        options.shellJob = parsed.flag(Flags.shellJob)
        options.fileLocks = parsed.flag(Flags.fileLocks)
        options.preDump = parsed.flag(Flags.preDump)
        options.manageCgroupsMode = parsed.value(Flags.manageCgroupsMode)
        options.emptyNamespaces = parsed.values(Flags.emptyNs)
        options.autoDedup = parsed.flag(Flags.autoDedup)
        options.lazyPages = parsed.flag(Flags.lazyPages)
        options.pageServer = parsed.value(Flags.pageServer)
        options.criu = GlobalOptions.current.criu
        try GlobalOptions.current.runtime().checkpoint(id: parsed.positionals[0], options: options)
        return 0
    }
}
