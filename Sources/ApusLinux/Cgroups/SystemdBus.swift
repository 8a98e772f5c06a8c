import ApusDBus
import Glibc

/// The bus where systemd answers for this runtime: PID 1 on the system bus as root, the
/// user's `systemd --user` on the user's bus when rootless (runc's choice too).
public struct SystemdBus: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case system, user }

    public var kind: Kind
    /// The D-Bus address tried, e.g. `unix:path=/run/dbus/system_bus_socket`; nil when the
    /// environment names no user bus.
    public var address: String?

    /// The bus for a runtime that is (or is not) rootless for cgroups, from the environment.
    public static func choose(rootless: Bool, environment: (String) -> String? = SystemdBus.environment) -> SystemdBus {
        rootless
            ? SystemdBus(kind: .user, address: BusAddress.session(environment: environment))
            : SystemdBus(kind: .system, address: BusAddress.system(environment: environment))
    }

    public static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    /// What this bus is called in messages: "the system bus at unix:path=…".
    public var name: String {
        let what = kind == .system ? "the system bus" : "the user bus"
        return address.map { "\(what) at \($0)" }
            ?? "\(what) (neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set)"
    }

    /// runc's test for a systemd host: PID 1 made /run/systemd/system (sd_booted(3)).
    public static var isBooted: Bool {
        var st = stat()
        return lstat("/run/systemd/system", &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Connects and says Hello. Without a systemd to talk to, the error says which bus was
    /// tried and what to do instead; apus never falls back to cgroupfs on its own.
    public func connect() throws(ApusError) -> DBusConnection {
        if kind == .system, !Self.isBooted {
            throw unreachable("/run/systemd/system does not exist: systemd is not PID 1 on this host")
        }
        guard let address else { throw unreachable(nil) }
        do {
            return try DBusConnection.open(address)
        } catch {
            throw unreachable(String(describing: error))
        }
    }

    func unreachable(_ reason: String?) -> ApusError {
        ApusError(
            "--systemd-cgroup: systemd is not reachable on \(name)",
            detail: (reason.map { $0 + "; " } ?? "")
                + "drop --systemd-cgroup to use the cgroupfs driver (containerd: SystemdCgroup = false; "
                + "podman: cgroup_manager = \"cgroupfs\"; Docker: native.cgroupdriver=cgroupfs)")
    }
}
