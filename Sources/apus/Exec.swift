import ApusCore

enum ExecCommand {
    static let decl = CommandDecl(
        name: "exec", abstract: "Run a new process inside a running container.",
        discussion: "apus exec [OPTIONS] ID COMMAND [ARGS...], or --process FILE with a spec process object.",
        options: [
            OptionDecl(Flags.process, "JSON file with a spec process object (other process flags are ignored)."),
            OptionDecl(Flags.tty, "Allocate a pseudo-TTY."),
            OptionDecl(Flags.consoleSocket, "Unix socket to send the pty master to."),
            OptionDecl(Flags.pidfdSocket, "Unix socket to send a pidfd of the process to."),
            OptionDecl(Flags.detach, "Return once the process has started."),
            OptionDecl(Flags.pidFile, "File to write the process id to."),
            OptionDecl(Flags.cwd, "Working directory in the container."),
            OptionDecl(Flags.env, "Set an environment variable (K=V); repeatable.", repeating: true),
            OptionDecl(Flags.user, "UID[:GID] to run as."),
            OptionDecl(Flags.additionalGids, "Additional group id; repeatable.", repeating: true),
            OptionDecl(Flags.cap, "Add a capability (e.g. CAP_NET_ADMIN); repeatable.", repeating: true),
            OptionDecl(Flags.noNewPrivs, "Set no_new_privs for the process."),
            OptionDecl(Flags.processLabel, "SELinux label of the process."),
            OptionDecl(Flags.apparmor, "AppArmor profile of the process."),
            OptionDecl(Flags.preserveFds, "Pass N extra fds (3 .. 3+N-1) to the process.", default: "0"),
            OptionDecl(Flags.ignorePaused, "Allow exec into a paused container."),
            OptionDecl(
                Flags.cgroup, "Sub-cgroup to run in: SUB, or CONTROLLER[,CONTROLLER]:SUB; repeatable.", repeating: true),
        ],
        arguments: [containerID, ArgumentDecl(name: "command", help: "Command and arguments.", capturesRest: true)])

    static func run(_ parsed: ParsedCommand) throws -> Int32 {
        var options = ExecOptions()
        options.additionalGids = try parsed.converted(Flags.additionalGids) { UInt32($0) }
        options.preserveFds = try parsed.converted(Flags.preserveFds) { Int32($0) }.last ?? 0
        options.processFile = parsed.value(Flags.process)
        options.args = parsed.rest
        if options.preserveFds < 0 { throw parsed.invalid("--preserve-fds must not be negative") }
        if options.processFile == nil && options.args.isEmpty { throw parsed.invalid("exec args cannot be empty") }
        options.tty = parsed.flag(Flags.tty)
        options.consoleSocket = parsed.value(Flags.consoleSocket).map(absolutePath)
        options.pidfdSocket = parsed.value(Flags.pidfdSocket).map(absolutePath)
        options.detach = parsed.flag(Flags.detach)
        options.pidFile = parsed.value(Flags.pidFile)
        options.cwd = parsed.value(Flags.cwd)
        options.env = parsed.values(Flags.env)
        options.user = parsed.value(Flags.user)
        options.capabilities = parsed.values(Flags.cap)
        options.noNewPrivileges = parsed.flag(Flags.noNewPrivs)
        options.processLabel = parsed.value(Flags.processLabel)
        options.apparmor = parsed.value(Flags.apparmor)
        options.ignorePaused = parsed.flag(Flags.ignorePaused)
        options.cgroups = parsed.values(Flags.cgroup)
        return try GlobalOptions.current.runtime().exec(id: parsed.positionals[0], options: options)
    }
}
