import CApus
import Glibc

/// A container's new network namespace, made by a helper process while the runtime goes on
/// with its own work (CApus/netns.c): creating a network namespace is the costliest step of
/// a start in the kernel (copy_net_ns, about 0.6 ms of clone's 0.7 here), and made beside
/// the cgroup and state work it leaves the path of a `run` on a machine with a second core.
/// Init joins it as it joins a configured path; everything else treats it as new.
///
/// Only where init would have made it in the same user namespace as the runtime: with a new
/// or joined user namespace the network namespace must belong to that one, and clone makes
/// it as before. A helper that cannot start or fails leaves clone to make it, and to report
/// what the kernel says.
public final class NetnsHelper {
    private var helper = apus_netns_helper()
    private var running: Bool

    /// Starts the helper; nil when none could start (clone makes the namespace then).
    public static func start() -> NetnsHelper? {
        let made = NetnsHelper()
        return made.running ? made : nil
    }

    private init() {
        running = apus_netns_helper_start(&helper) == 0
    }

    /// Waits for the helper: the namespace, or nil when it failed.
    public func finish() -> OwnedFD? {
        guard running else { return nil }
        running = false
        let fd = apus_netns_helper_wait(&helper)
        return fd >= 0 ? OwnedFD(adopting: fd) : nil
    }

    /// The helper brought the namespace's lo up (init does otherwise); read after `finish`.
    public var loopbackUp: Bool { !running && helper.loopback_up != 0 }

    /// A create that fails before `finish` still reaps the helper and drops the namespace.
    deinit { _ = finish() }
}
