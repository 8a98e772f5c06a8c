import ApusCore

enum RestoreCommand {
    static let decl = CommandDecl(
        name: "restore", abstract: "Restore a container from a criu checkpoint.",
        options: [
            OptionDecl(Flags.imagePath, "Directory of the images (default: ./checkpoint).", default: "checkpoint"),
            OptionDecl(Flags.workPath, "Directory for criu's log (default: the image path)."),
            OptionDecl(Flags.bundle, "Path to the bundle (default: current directory).", default: "."),
            OptionDecl(Flags.detach, "Return once restored, do not wait for the container."),
            OptionDecl(Flags.pidFile, "File to write the init process id to."),
            OptionDecl(Flags.consoleSocket, "Unix socket to send the restored pty master to."),
            OptionDecl(Flags.restoreNoSubreaper, "Do not become the subreaper of the restored process."),
            OptionDecl(Flags.noPivot, "Accepted for runc compatibility (criu sets up the root)."),
            OptionDecl(Flags.tcpEstablished, "Restore open TCP connections."),
            OptionDecl(Flags.extUnixSk, "Allow external unix sockets."),
            OptionDecl(Flags.shellJob, "Allow shell jobs."),
            OptionDecl(Flags.fileLocks, "Restore file locks."),
            OptionDecl(Flags.manageCgroupsMode, "soft, full, strict or ignore."),
            OptionDecl(Flags.emptyNs, "Namespace to create empty (network).", repeating: true),
            OptionDecl(Flags.autoDedup, "Deduplicate images while restoring."),
            OptionDecl(Flags.lsmProfile, "LSM profile of the restored process (TYPE:NAME)."),
            OptionDecl(Flags.lsmMountContext, "SELinux mount context of the restored mounts."),
        ], arguments: [containerID])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        var options = RestoreOptions(
            imagePath: parsed.value(Flags.imagePath) ?? "checkpoint", bundle: parsed.value(Flags.bundle) ?? ".")
        options.workPath = parsed.value(Flags.workPath)
        options.detach = parsed.flag(Flags.detach)
        options.pidFile = parsed.value(Flags.pidFile)
        options.consoleSocket = parsed.value(Flags.consoleSocket)
        options.noSubreaper = parsed.flag(Flags.restoreNoSubreaper)
        options.noPivot = parsed.flag(Flags.noPivot)
        options.tcpEstablished = parsed.flag(Flags.tcpEstablished)
        options.extUnixSk = parsed.flag(Flags.extUnixSk)
        options.shellJob = parsed.flag(Flags.shellJob)
        options.fileLocks = parsed.flag(Flags.fileLocks)
        options.manageCgroupsMode = parsed.value(Flags.manageCgroupsMode)
        options.emptyNamespaces = parsed.values(Flags.emptyNs)
        options.autoDedup = parsed.flag(Flags.autoDedup)
        options.lsmProfile = parsed.value(Flags.lsmProfile)
        options.lsmMountContext = parsed.value(Flags.lsmMountContext)
        options.criu = GlobalOptions.current.criu
        return try GlobalOptions.current.runtime().restore(id: parsed.positionals[0], options: options) ?? 0
    }
}
