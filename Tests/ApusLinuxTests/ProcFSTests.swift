import Testing

@testable import ApusLinux

@Suite("/proc status fields")
struct ProcFSTests {
    static let status =
        "Name:\tsh\nSigQ:\t0/95000\nSigPnd:\t0000000000000000\nSigIgn:\t0000000000001000\nThreads:\t1\nNSpid:\t812\t1"

    @Test("a field's value without the tab, at the start, middle and unterminated end; absent is nil")
    func fields() {
        #expect(ProcFS.statusField("Name", in: Self.status) == "sh")
        #expect(ProcFS.statusField("SigIgn", in: Self.status) == "0000000000001000")
        #expect(ProcFS.statusField("NSpid", in: Self.status) == "812\t1")
        #expect(ProcFS.statusField("Sig", in: Self.status) == nil)
        #expect(ProcFS.statusField("Pnd", in: Self.status) == nil)
        #expect(ProcFS.statusField("Threads", in: "") == nil)
    }

    @Test("this thread's SigIgn reads and parses as hex")
    func ownStatus() throws {
        let proc = try ProcFS()
        #expect(proc.ignoredSignals() != nil)
    }
}
