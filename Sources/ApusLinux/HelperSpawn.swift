import Glibc

/// Starts a helper program (newuidmap/newgidmap, criu) with posix_spawn: no signal blocked
/// and every signal at its default in the child, whatever the runtime had, and stdio set
/// up by the given steps, which run in order in the child before it execs.
public enum HelperSpawn {
    public enum Step {
        /// open(path, flags) onto descriptor `fd`.
        case open(fd: Int32, path: String, flags: Int32)
        /// dup2(from, to): onto another number it clears close-on-exec (onto the same one it
        /// would not).
        case dup2(from: Int32, to: Int32)
        case close(Int32)
    }

    /// Starts `path` with `arguments` (argv[1…]); the child's pid, or posix_spawn's error
    /// number (the call has no errno of its own).
    public static func spawn(_ path: String, arguments: [String], steps: [Step]) -> (pid: pid_t, error: Int32) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for step in steps {
            switch step {
            case .open(let fd, let file, let flags): posix_spawn_file_actions_addopen(&actions, fd, file, flags, 0)
            case .dup2(let from, let to): posix_spawn_file_actions_adddup2(&actions, from, to)
            case .close(let fd): posix_spawn_file_actions_addclose(&actions, fd)
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, path, &actions, &attributes, argv, environ)
        return (child, spawned)
    }
}
