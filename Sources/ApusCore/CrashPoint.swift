import Glibc

/// Debug builds only: `APUS_CRASH_AT=<name>` SIGKILLs apus when it reaches the named step
/// of create, so tests can prove that `delete --force` recovers from a runtime killed at
/// any step (a manager's timeout, the OOM killer). Release builds compile this to nothing.
@inline(__always)
func crashPoint(_ name: StaticString) {
    #if DEBUG
        if let wanted = getenv("APUS_CRASH_AT"), String(cString: wanted) == name.description {
            _ = Glibc.kill(getpid(), SIGKILL)
        }
    #endif
}
