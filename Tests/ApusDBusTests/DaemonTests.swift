import ApusDBus
import Foundation
import Testing

/// The connection against a real dbus-daemon: a private session bus of this test's own,
/// stopped afterwards. Skipped with the reason when dbus-daemon is not installed.
@Suite("D-Bus against a private dbus-daemon", .serialized)
struct DaemonTests {
    static let daemonPath = "/usr/bin/dbus-daemon"

    final class PrivateBus {
        let process = Process()
        let address: String
        let dir: String

        init() throws {
            dir = NSTemporaryDirectory() + "apus-dbus-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
            let config = dir + "/bus.conf"
            // A session bus on a socket in our temp dir; no activation, no policy limits.
            try """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig><type>session</type><listen>unix:path=\(dir)/bus</listen>
            <auth>EXTERNAL</auth><policy context="default"><allow send_destination="*" eavesdrop="true"/>
            <allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let out = Pipe()
            process.executableURL = URL(fileURLWithPath: DaemonTests.daemonPath)
            process.arguments = ["--config-file=\(config)", "--nofork", "--print-address"]
            process.standardOutput = out
            try process.run()
            // The daemon prints its address once it listens: that line is the readiness signal.
            let line = out.fileHandleForReading.availableData
            address = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard address.hasPrefix("unix:") else { throw DBusError.malformed("dbus-daemon printed \(address)") }
        }

        deinit {
            // dbus-daemon --nofork outlives SIGTERM here: SIGKILL, then reap it.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    static func bus() throws -> PrivateBus {
        guard FileManager.default.isExecutableFile(atPath: daemonPath) else {
            try Test.cancel("dbus-daemon is not installed (apt-get install dbus-daemon)")
        }
        return try PrivateBus()
    }

    @Test("connect, SASL EXTERNAL, Hello gives a unique name")
    func hello() throws {
        let bus = try Self.bus()
        let connection = try DBusConnection.open(bus.address)
        #expect(connection.uniqueName.hasPrefix(":1."), "\(connection.uniqueName)")
    }

    @Test("a method call to org.freedesktop.DBus returns its value")
    func call() throws {
        let bus = try Self.bus()
        let connection = try DBusConnection.open(bus.address)
        let reply = try connection.call(
            .call(
                destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                member: "GetNameOwner", body: [.string("org.freedesktop.DBus")]))
        #expect(reply.body == [.string("org.freedesktop.DBus")])
        let names = try connection.call(
            .call(
                destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                member: "ListNames"))
        guard case .array(.string, let list) = names.body.first else {
            Issue.record("ListNames: \(names.body)")
            return
        }
        #expect(list.contains(.string(connection.uniqueName)))
    }

    @Test("an error reply is thrown with its name and message")
    func errorReply() throws {
        let bus = try Self.bus()
        let connection = try DBusConnection.open(bus.address)
        #expect {
            try connection.call(
                .call(
                    destination: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1",
                    interface: "org.freedesktop.systemd1.Manager", member: "GetUnit", body: [.string("x.scope")]))
        } throws: { error in
            guard case .remote(let name, let message) = error as? DBusError else { return false }
            return name == "org.freedesktop.DBus.Error.ServiceUnknown" && message.contains("org.freedesktop.systemd1")
        }
    }

    @Test("AddMatch, then a signal of another connection arrives in nextSignal")
    func signal() throws {
        let bus = try Self.bus()
        let listener = try DBusConnection.open(bus.address)
        _ = try listener.call(
            .call(
                destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                member: "AddMatch", body: [.string("type='signal',interface='org.example.Test',member='Ping'")]))
        let sender = try DBusConnection.open(bus.address)
        var ping = DBusMessage(kind: .signal)
        ping.path = "/org/example"
        ping.interface = "org.example.Test"
        ping.member = "Ping"
        ping.body = [.uint32(42), .string("hi")]
        try sender.send(ping)
        let got = try listener.nextSignal(timeoutMilliseconds: 5000, what: "Ping") { $0.member == "Ping" }
        #expect(got.body == [.uint32(42), .string("hi")])
        #expect(got.sender == sender.uniqueName)
    }

    @Test("an address where nothing listens is an I/O error naming it")
    func nothingListens() throws {
        let path = NSTemporaryDirectory() + "apus-no-bus-\(getpid())"
        #expect {
            try DBusConnection.open("unix:path=\(path)")
        } throws: { error in
            String(describing: error).contains(path) && String(describing: error).contains("No such file")
        }
    }
}
