/// One option of the command line: its spellings and whether it takes a value.
///
/// Every option is declared here once. Each command's declaration (`CommandDecl`, with the
/// help text) lists these entries, and `GoFlags` (runc's single-dash spellings) reads the
/// same ones through `Flags.options(of:)`; CLITests checks that every command declares
/// exactly its entry of that table.
struct FlagSpec: Hashable, Sendable {
    var longs: [String]
    var short: Character?
    var takesValue: Bool
    /// For the global options, read before the command: their help line.
    var help = ""

    init(_ longs: String..., short: Character? = nil, value: Bool, help: String = "") {
        self.longs = longs
        self.short = short
        self.takesValue = value
        self.help = help
    }

    /// As typed: `-b`, `--bundle`.
    var spellings: [String] {
        var out: [String] = []
        if let short { out.append("-" + String(short)) }
        for long in longs { out.append("--" + long) }
        return out
    }
}

enum Flags {
    // Global options, before the command (runc's).
    static let root = FlagSpec("root", value: true, help: "DIR\tcontainer state (default: see below)")
    static let log = FlagSpec("log", value: true, help: "FILE\tlog file (errors also go to stderr)")
    static let logFormat = FlagSpec("log-format", value: true, help: "text|json\tlog format (default text)")
    static let debug = FlagSpec("debug", value: false, help: "\tlog debug messages")
    static let rootless = FlagSpec("rootless", value: true, help: "true|false|auto\tcgroups best effort (see below)")
    static let systemdCgroup = FlagSpec("systemd-cgroup", value: false, help: "\tmanage cgroups through systemd")
    static let noSubreaper = FlagSpec("no-subreaper", value: false, help: "\taccepted for runc compatibility")
    static let criu = FlagSpec("criu", value: true, help: "PATH\tthe criu binary (default: criu on $PATH)")
    static let version = FlagSpec("version", value: false)

    // create and run
    static let bundle = FlagSpec("bundle", short: "b", value: true)
    static let pidFile = FlagSpec("pid-file", value: true)
    static let consoleSocket = FlagSpec("console-socket", value: true)
    static let pidfdSocket = FlagSpec("pidfd-socket", value: true)
    static let noPivot = FlagSpec("no-pivot", value: false)
    static let noNewKeyring = FlagSpec("no-new-keyring", value: false)
    static let preserveFds = FlagSpec("preserve-fds", value: true)
    static let detach = FlagSpec("detach", short: "d", value: false)
    static let keep = FlagSpec("keep", value: false)

    // exec
    static let process = FlagSpec("process", short: "p", value: true)
    static let tty = FlagSpec("tty", short: "t", value: false)
    static let cwd = FlagSpec("cwd", value: true)
    static let env = FlagSpec("env", short: "e", value: true)
    static let user = FlagSpec("user", short: "u", value: true)
    static let additionalGids = FlagSpec("additional-gids", short: "g", value: true)
    static let cap = FlagSpec("cap", short: "c", value: true)
    static let noNewPrivs = FlagSpec("no-new-privs", value: false)
    static let processLabel = FlagSpec("process-label", value: true)
    static let apparmor = FlagSpec("apparmor", value: true)
    static let ignorePaused = FlagSpec("ignore-paused", value: false)
    static let cgroup = FlagSpec("cgroup", value: true)

    // delete, kill, list, ps, events, spec, info
    static let force = FlagSpec("force", short: "f", value: false)
    static let all = FlagSpec("all", short: "a", value: false)
    static let format = FlagSpec("format", short: "f", value: true)
    static let quiet = FlagSpec("quiet", short: "q", value: false)
    static let interval = FlagSpec("interval", value: true)
    static let stats = FlagSpec("stats", value: false)
    static let specRootless = FlagSpec("rootless", value: false)

    // update
    static let resources = FlagSpec("resources", short: "r", value: true)
    static let blkioWeight = FlagSpec("blkio-weight", value: true)
    static let cpuPeriod = FlagSpec("cpu-period", value: true)
    static let cpuQuota = FlagSpec("cpu-quota", value: true)
    static let cpuBurst = FlagSpec("cpu-burst", value: true)
    static let cpuShares = FlagSpec("cpu-share", "cpu-shares", value: true)
    static let cpuRtPeriod = FlagSpec("cpu-rt-period", value: true)
    static let cpuRtRuntime = FlagSpec("cpu-rt-runtime", value: true)
    static let cpusetCpus = FlagSpec("cpuset-cpus", value: true)
    static let cpusetMems = FlagSpec("cpuset-mems", value: true)
    static let kernelMemory = FlagSpec("kernel-memory", value: true)
    static let kernelMemoryTCP = FlagSpec("kernel-memory-tcp", value: true)
    static let memory = FlagSpec("memory", value: true)
    static let memoryReservation = FlagSpec("memory-reservation", value: true)
    static let memorySwap = FlagSpec("memory-swap", value: true)
    static let pidsLimit = FlagSpec("pids-limit", value: true)
    static let l3CacheSchema = FlagSpec("l3-cache-schema", value: true)
    static let memBwSchema = FlagSpec("mem-bw-schema", value: true)

    // checkpoint and restore (runc's)
    static let imagePath = FlagSpec("image-path", value: true)
    static let workPath = FlagSpec("work-path", value: true)
    static let parentPath = FlagSpec("parent-path", value: true)
    static let leaveRunning = FlagSpec("leave-running", value: false)
    static let tcpEstablished = FlagSpec("tcp-established", value: false)
    static let tcpSkipInFlight = FlagSpec("tcp-skip-in-flight", value: false)
    static let linkRemap = FlagSpec("link-remap", value: false)
    static let extUnixSk = FlagSpec("ext-unix-sk", value: false)
    static let shellJob = FlagSpec("shell-job", value: false)
    static let fileLocks = FlagSpec("file-locks", value: false)
    static let preDump = FlagSpec("pre-dump", value: false)
    static let manageCgroupsMode = FlagSpec("manage-cgroups-mode", value: true)
    static let emptyNs = FlagSpec("empty-ns", value: true)
    static let autoDedup = FlagSpec("auto-dedup", value: false)
    static let lazyPages = FlagSpec("lazy-pages", value: false)
    static let statusFd = FlagSpec("status-fd", value: true)
    static let pageServer = FlagSpec("page-server", value: true)
    static let restoreNoSubreaper = FlagSpec("no-subreaper", value: false)
    static let lsmProfile = FlagSpec("lsm-profile", value: true)
    static let lsmMountContext = FlagSpec("lsm-mount-context", value: true)

    static let global = [root, log, logFormat, debug, rootless, systemdCgroup, noSubreaper, criu]
    static let create = [bundle, pidFile, consoleSocket, pidfdSocket, noPivot, noNewKeyring, preserveFds]
    static let exec = [
        process, tty, consoleSocket, pidfdSocket, detach, pidFile, cwd, env, user, additionalGids, cap, noNewPrivs,
        processLabel, apparmor, preserveFds, ignorePaused, cgroup,
    ]
    static let checkpoint = [
        imagePath, workPath, parentPath, leaveRunning, tcpEstablished, tcpSkipInFlight, linkRemap, extUnixSk, shellJob,
        fileLocks, preDump, manageCgroupsMode, emptyNs, autoDedup, lazyPages, statusFd, pageServer,
    ]
    static let restore = [
        imagePath, workPath, bundle, detach, pidFile, consoleSocket, restoreNoSubreaper, noPivot, tcpEstablished,
        extUnixSk, shellJob, fileLocks, manageCgroupsMode, emptyNs, autoDedup, lsmProfile, lsmMountContext,
    ]
    static let update = [
        resources, blkioWeight, cpuPeriod, cpuQuota, cpuBurst, cpuShares, cpuRtPeriod, cpuRtRuntime, cpusetCpus,
        cpusetMems, kernelMemory, kernelMemoryTCP, memory, memoryReservation, memorySwap, pidsLimit, l3CacheSchema,
        memBwSchema,
    ]

    /// The global option spelled `--name` or `-name`; a switch, so that only the one asked
    /// for is initialised (see `options(of:)`).
    static func global(named name: Substring) -> FlagSpec? {
        switch name {
        case "root": return root
        case "log": return log
        case "log-format": return logFormat
        case "debug": return debug
        case "rootless": return rootless
        case "systemd-cgroup": return systemdCgroup
        case "no-subreaper": return noSubreaper
        case "criu": return criu
        default: return nil
        }
    }

    /// Each command's options (its own, help aside), by the names it is called with; nil for
    /// an unknown command. A switch, not a dictionary: every apus process asks once, and
    /// building a table of all of them cost 24 page faults a run.
    static func options(of command: String) -> [FlagSpec]? {
        switch command {
        case "start", "state", "pause", "resume", "features": return []
        case "create": return create
        case "run": return create + [detach, keep]
        case "exec": return exec
        case "delete": return [force]
        case "kill": return [all]
        case "spec": return [bundle, specRootless]
        case "validate": return [bundle]
        case "list", "ls": return [format, quiet]
        case "update": return update
        case "events": return [interval, stats]
        case "ps", "info": return [format]
        case "checkpoint": return checkpoint
        case "restore": return restore
        default: return nil
        }
    }

    /// `apus --help`'s text on the global options, from their entries.
    static var globalHelp: String {
        var text = "Global options go before the command, as with runc: apus [OPTIONS] COMMAND ...\n"
        for flag in global {
            let parts = flag.help.split(separator: "\t", omittingEmptySubsequences: false)
            let head = "  --" + flag.longs[0] + (parts[0].isEmpty ? "" : " " + parts[0])
            text += head + String(repeating: " ", count: max(2, 32 - head.count)) + parts[1] + "\n"
        }
        // One line: Help.wrap wraps it to the width.
        text += "\nState lives in --root; without it in /run/apus, or in $XDG_RUNTIME_DIR/apus when not root, "
        text += "or as uid 0 of a user namespace with USER other than root (rootless podman). --rootless auto "
        text += "(the default) makes cgroups best effort when not root or in a user namespace; true and false "
        text += "force either way."
        return text
    }
}
