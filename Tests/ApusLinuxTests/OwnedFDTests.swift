import Glibc
import Testing

@testable import ApusLinux

/// Who closes a descriptor, checked against the kernel's fd table. Tests run in parallel in
/// one process, so a closed number may be reused at once: each test opens a file of its own
/// (an unlinked temporary file) and a number counts as open only while it still names that
/// file's inode.
@Suite struct OwnedFDTests {
    struct Probe {
        let fd: Int32
        let inode: ino_t
        var isOpen: Bool {
            var st = stat()
            return fstat(fd, &st) == 0 && st.st_ino == inode
        }
    }

    static func openUnique() throws -> OwnedFD {
        var template = Array("/tmp/apus-ownedfd-XXXXXX".utf8CString)
        let fd = try OwnedFD.open("mkstemp") { mkstemp(&template) }
        unlink(template)
        return fd
    }

    static func probe(_ fd: borrowing OwnedFD) -> Probe {
        var st = stat()
        fstat(fd.raw, &st)
        return Probe(fd: fd.raw, inode: st.st_ino)
    }

    @Test func closesWhenItsOwnerEnds() throws {
        var probe: Probe? = nil
        do {
            let fd = try Self.openUnique()
            probe = Self.probe(fd)
            #expect(probe?.isOpen == true)
        }
        #expect(probe?.isOpen == false)
    }

    @Test func takeHandsTheNumberOnWithoutClosing() throws {
        let fd = try Self.openUnique()
        let probe = Self.probe(fd)
        let number = fd.take()
        #expect(probe.isOpen)
        #expect(close(number) == 0)
    }

    @Test func closeClosesAtOnce() throws {
        let fd = try Self.openUnique()
        let probe = Self.probe(fd)
        fd.close()
        #expect(!probe.isOpen)
    }

    @Test func failedOpenThrowsTheStepWithErrno() {
        let error = #expect(throws: ApusError.self) {
            _ = try OwnedFD.open("open /nonexistent") { open("/nonexistent/x", O_RDONLY | O_CLOEXEC) }
        }
        #expect(error?.errno == ENOENT)
        #expect(error?.step == "open /nonexistent")
        let missing = OwnedFD.opening { open("/nonexistent/x", O_RDONLY | O_CLOEXEC) }
        #expect(missing.rawOrNil == nil)
    }

    @Test func optionalAssignedNilCloses() throws {
        var fd: OwnedFD? = try Self.openUnique()
        let number = fd.raw
        let probe = Probe(
            fd: number,
            inode: {
                var st = stat(); fstat(number, &st); return st.st_ino
            }())
        #expect(fd.rawOrNil == number)
        fd = nil
        #expect(!probe.isOpen)
        #expect(fd.raw == -1)
    }

    /// A pipe's write end closed shows as EOF on its read end.
    @Test func pipeEndsCloseApart() throws {
        let pipe = try OwnedFDPair.pipe("pipe")
        #expect(fcntl(pipe.read.raw, F_GETFD) & FD_CLOEXEC != 0)
        let reader = pipe.read
        do {
            let writer = pipe.write
            #expect(write(writer.raw, "x", 1) == 1)
        }
        var buffer: [UInt8] = [0, 0]
        #expect(read(reader.raw, &buffer, 2) == 1)
        #expect(read(reader.raw, &buffer, 2) == 0)
    }

    @Test func groupClosesEveryOneItHolds() throws {
        var probes: [Probe] = []
        do {
            var group = OwnedFDs()
            for _ in 0..<3 {
                let fd = try Self.openUnique()
                probes.append(Self.probe(fd))
                group.hold(fd)
            }
            #expect(group.raw == probes.map(\.fd))
            #expect(probes.allSatisfy { $0.isOpen })
        }
        #expect(!probes.contains { $0.isOpen })

        var group = OwnedFDs()
        let fd = try Self.openUnique()
        let probe = Self.probe(fd)
        group.hold(fd)
        group.closeAll()
        #expect(!probe.isOpen)
        #expect(group.raw.isEmpty)
    }
}
