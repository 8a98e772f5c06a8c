import ApusCore
import ArgumentParser
import Glibc

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a new process inside a running container.",
        discussion: "apus exec [OPTIONS] ID COMMAND [ARGS...], or --process FILE with a spec process object.")

    @Option(
        name: [.customShort("p"), .long],
        help: "JSON file with a spec process object (other process flags are ignored).")
    var process: String?
    @Flag(name: [.customShort("t"), .long], help: "Allocate a pseudo-TTY.") var tty = false
    @Option(name: .customLong("console-socket"), help: "Unix socket to send the pty master to.")
    var consoleSocket: String?
    @Option(name: .customLong("pidfd-socket"), help: "Unix socket to send a pidfd of the process to.")
    var pidfdSocket: String?
    @Flag(name: [.customShort("d"), .long], help: "Return once the process has started.") var detach = false
    @Option(name: .customLong("pid-file"), help: "File to write the process id to.") var pidFile: String?
    @Option(help: "Working directory in the container.") var cwd: String?
    @Option(name: [.customShort("e"), .long], help: "Set an environment variable (K=V); repeatable.")
    var env: [String] = []
    @Option(name: [.customShort("u"), .long], help: "UID[:GID] to run as.") var user: String?
    @Option(name: [.customShort("g"), .customLong("additional-gids")], help: "Additional group id; repeatable.")
    var additionalGids: [UInt32] = []
    @Option(name: [.customShort("c"), .long], help: "Add a capability (e.g. CAP_NET_ADMIN); repeatable.")
    var cap: [String] = []
    @Flag(name: .customLong("no-new-privs"), help: "Set no_new_privs for the process.") var noNewPrivs = false
    @Option(name: .customLong("process-label"), help: "SELinux label of the process.") var processLabel: String?
    @Option(help: "AppArmor profile of the process.") var apparmor: String?
    @Option(name: .customLong("preserve-fds"), help: "Pass N extra fds (3 .. 3+N-1) to the process.")
    var preserveFds: Int32 = 0
    @Flag(name: .customLong("ignore-paused"), help: "Allow exec into a paused container.") var ignorePaused = false
    @Option(help: "Sub-cgroup to run in: SUB, or CONTROLLER[,CONTROLLER]:SUB; repeatable.") var cgroup: [String] = []
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
