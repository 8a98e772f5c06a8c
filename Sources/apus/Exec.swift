import ApusCore
import ArgumentParser
import Glibc

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a new process inside a running container.",
        discussion: "apus exec [OPTIONS] ID COMMAND [ARGS...], or --process FILE with a spec process object.")

    @Option(
        name: Flags.process.names,
        help: "JSON file with a spec process object (other process flags are ignored).")
    var process: String?
    @Flag(name: Flags.tty.names, help: "Allocate a pseudo-TTY.") var tty = false
    @Option(name: Flags.consoleSocket.names, help: "Unix socket to send the pty master to.")
    var consoleSocket: String?
    @Option(name: Flags.pidfdSocket.names, help: "Unix socket to send a pidfd of the process to.")
    var pidfdSocket: String?
    @Flag(name: Flags.detach.names, help: "Return once the process has started.") var detach = false
    @Option(name: Flags.pidFile.names, help: "File to write the process id to.") var pidFile: String?
    @Option(name: Flags.cwd.names, help: "Working directory in the container.") var cwd: String?
    @Option(name: Flags.env.names, help: "Set an environment variable (K=V); repeatable.")
    var env: [String] = []
    @Option(name: Flags.user.names, help: "UID[:GID] to run as.") var user: String?
    @Option(name: Flags.additionalGids.names, help: "Additional group id; repeatable.")
    var additionalGids: [UInt32] = []
    @Option(name: Flags.cap.names, help: "Add a capability (e.g. CAP_NET_ADMIN); repeatable.")
    var cap: [String] = []
    @Flag(name: Flags.noNewPrivs.names, help: "Set no_new_privs for the process.") var noNewPrivs = false
    @Option(name: Flags.processLabel.names, help: "SELinux label of the process.") var processLabel: String?
    @Option(name: Flags.apparmor.names, help: "AppArmor profile of the process.") var apparmor: String?
    @Option(name: Flags.preserveFds.names, help: "Pass N extra fds (3 .. 3+N-1) to the process.")
    var preserveFds: Int32 = 0
    @Flag(name: Flags.ignorePaused.names, help: "Allow exec into a paused container.") var ignorePaused = false
    @Option(name: Flags.cgroup.names, help: "Sub-cgroup to run in: SUB, or CONTROLLER[,CONTROLLER]:SUB; repeatable.")
    var cgroup: [String] = []
    @Argument(help: "Container id.") var id: String
    @Argument(parsing: .captureForPassthrough, help: "Command and arguments.") var command: [String] = []

    func validate() throws {
        if preserveFds < 0 { throw ValidationError("--preserve-fds must not be negative") }
        if process == nil && command.isEmpty { throw ValidationError("exec args cannot be empty") }
    }

    func run() throws {
        var options = ExecOptions()
        options.processFile = process
        options.args = command
        options.tty = tty
        options.consoleSocket = consoleSocket.map(absolutePath)
        options.pidfdSocket = pidfdSocket.map(absolutePath)
        options.detach = detach
        options.pidFile = pidFile
        options.cwd = cwd
        options.env = env
        options.user = user
        options.additionalGids = additionalGids
        options.capabilities = cap
        options.noNewPrivileges = noNewPrivs
        options.processLabel = processLabel
        options.apparmor = apparmor
        options.preserveFds = preserveFds
        options.ignorePaused = ignorePaused
        options.cgroups = cgroup
        let code = try GlobalOptions.current.runtime().exec(id: id, options: options)
        throw ExitCode(code)
    }
}
