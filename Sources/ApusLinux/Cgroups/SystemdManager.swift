import ApusDBus

/// systemd's manager object over D-Bus: the calls the cgroup driver makes, each waiting for
/// its job (JobRemoved) where it has one. Blocking, no threads (it runs on the create path).
public struct SystemdManager {
    public let connection: DBusConnection
    /// How long a job may take; runc waits 30 s too.
    public var jobTimeoutMilliseconds: Int32 = 30_000

    static let destination = "org.freedesktop.systemd1"
    static let path = "/org/freedesktop/systemd1"
    static let interface = "org.freedesktop.systemd1.Manager"

    public init(_ connection: DBusConnection) { self.connection = connection }

    func call(_ member: String, _ body: [DBusValue]) throws(DBusError) -> DBusMessage {
        try connection.call(
            .call(destination: Self.destination, path: Self.path, interface: Self.interface, member: member, body: body)
        )
    }

    /// Subscribes this connection to JobRemoved before a job is queued, so the signal
    /// cannot pass before the match exists.
    func watchJobs() throws(DBusError) {
        _ = try connection.call(
            .call(
                destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                member: "AddMatch",
                body: [
                    .string(
                        "type='signal',sender='\(Self.destination)',path='\(Self.path)',interface='\(Self.interface)',member='JobRemoved'"
                    )
                ]))
    }

    /// Waits for the job's JobRemoved; returns its result ("done", "failed", "canceled", …).
    func waitForJob(_ job: String, unit: String) throws(DBusError) -> String {
        let signal = try connection.nextSignal(
            timeoutMilliseconds: jobTimeoutMilliseconds, what: "systemd's job for \(unit)"
        ) {
            $0.member == "JobRemoved" && $0.interface == Self.interface && $0.body.count == 4 && $0.body[1].text == job
        }
        return signal.body[3].text ?? ""
    }

    /// StartTransientUnit(unit, "replace", properties) and its job. A unit of that name that
    /// already exists may be a failed leftover: reset it and try once more (runc does too).
    public func startTransientUnit(_ unit: String, properties: [SystemdProperty]) throws(ApusError) {
        let result: String
        do {
            try watchJobs()
            let job: String
            do {
                job = try start(unit, properties)
            } catch {
                guard Self.errorName(error) == "org.freedesktop.systemd1.UnitExists" else { throw error }
                _ = try? call("ResetFailedUnit", [.string(unit)])
                job = try start(unit, properties)
            }
            result = try waitForJob(job, unit: unit)
        } catch {
            throw Self.failure("start unit \(unit)", error, properties: properties)
        }
        guard result == "done" else {
            _ = try? call("ResetFailedUnit", [.string(unit)])
            throw ApusError.cgroup("systemd: start unit \(unit)", detail: "its job ended \"\(result)\"")
        }
    }

    static func errorName(_ error: DBusError) -> String? {
        if case .remote(let name, _) = error { return name }
        return nil
    }

    private func start(_ unit: String, _ properties: [SystemdProperty]) throws(DBusError) -> String {
        let reply = try call(
            "StartTransientUnit",
            [
                .string(unit), .string("replace"),
                .array(element: .structure([.string, .variant]), properties.map(\.wire)),
                .array(element: .structure([.string, .array(.structure([.string, .variant]))]), []),
            ])
        guard let job = reply.body.first?.text else { throw DBusError.malformed("StartTransientUnit returned no job") }
        return job
    }

    /// StopUnit and its job; a unit systemd no longer knows is already stopped. A failed
    /// unit is reset so that nothing of it is left.
    public func stopUnit(_ unit: String) throws(ApusError) {
        do {
            try watchJobs()
            let reply = try call("StopUnit", [.string(unit), .string("replace")])
            if let job = reply.body.first?.text { _ = try waitForJob(job, unit: unit) }
        } catch {
            if Self.errorName(error) == "org.freedesktop.systemd1.NoSuchUnit" { return }
            throw Self.failure("stop unit \(unit)", error, properties: [])
        }
        _ = try? call("ResetFailedUnit", [.string(unit)])
    }

    /// The manager's own cgroup (its `ControlGroup` property): a user's manager lives in
    /// `/user.slice/user-<uid>.slice/user@<uid>.service`, and its units below that.
    public func controlGroup() throws(ApusError) -> String {
        do {
            let reply = try connection.call(
                .call(
                    destination: Self.destination, path: Self.path, interface: "org.freedesktop.DBus.Properties",
                    member: "Get", body: [.string(Self.interface), .string("ControlGroup")]))
            guard case .variant(let value)? = reply.body.first, let text = value.text else {
                throw DBusError.malformed("Get(ControlGroup) returned no string")
            }
            return text
        } catch {
            throw Self.failure("read the manager's ControlGroup", error, properties: [])
        }
    }

    /// AttachProcessesToUnit(unit, subcgroup, pids) (systemd 238+): the manager moves the
    /// processes into the unit's cgroup (or `subcgroup` below it). A user's manager that may
    /// not move a process itself (the kernel wants write access to the common ancestor's
    /// cgroup.procs) asks PID 1 to, which checks that the process is the user's.
    public func attachProcesses(_ unit: String, subcgroup: String = "", pids: [Int32]) throws(ApusError) {
        do {
            _ = try call(
                "AttachProcessesToUnit",
                [
                    .string(unit), .string(subcgroup),
                    .array(element: .uint32, pids.map { .uint32(UInt32(bitPattern: $0)) }),
                ])
        } catch {
            throw Self.failure(
                "attach \(pids.map(String.init).joined(separator: " ")) to unit \(unit)", error, properties: [])
        }
    }

    /// SetUnitProperties(unit, runtime: true, properties): `update`.
    public func setUnitProperties(_ unit: String, properties: [SystemdProperty]) throws(ApusError) {
        guard !properties.isEmpty else { return }
        do {
            _ = try call(
                "SetUnitProperties",
                [
                    .string(unit), .boolean(true),
                    .array(element: .structure([.string, .variant]), properties.map(\.wire)),
                ])
        } catch {
            throw Self.failure("set properties of unit \(unit)", error, properties: properties)
        }
    }

    /// systemd's error with the unit and its reason; when the message names a property that
    /// came from config.json, that field too.
    static func failure(_ step: String, _ error: any Error, properties: [SystemdProperty]) -> ApusError {
        let text = String(describing: error)
        let field = properties.first { $0.field != nil && text.contains(substring: $0.name) }?.field
        return ApusError.cgroup("systemd: " + step, detail: text, field: field)
    }
}
