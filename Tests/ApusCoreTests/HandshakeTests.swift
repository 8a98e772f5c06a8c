import Glibc
import Testing

@testable import ApusCore

/// The runtime ↔ init handshake over a real socket pair: each step's method on one end is
/// what the other end's matching method reads, and a message of the wrong kind is never
/// taken for the right one.
struct HandshakeTests {
    @Test("init's messages reach the runtime as sent, and EOF after the last")
    func initToRuntime() throws {
        let (runtime, child) = try Handshake.pair()
        defer { runtime.close() }
        #expect(child.runHooks())
        child.warn("careful")
        #expect(child.initPid(4242))
        #expect(child.failure("mount /proc: EPERM"))
        #expect(child.ready())
        child.close()
        #expect(runtime.next() == .runHooks)
        #expect(runtime.next() == .warning("careful"))
        #expect(runtime.next() == .initPid(4242))
        #expect(runtime.next() == .failure("mount /proc: EPERM"))
        #expect(runtime.next() == .ready)
        #expect(runtime.next() == nil)
    }

    @Test("a descriptor init passes arrives as a new descriptor of the same file")
    func passesDescriptors() throws {
        let (runtime, child) = try Handshake.pair()
        defer {
            runtime.close()
            child.close()
        }
        var pipeEnds: [Int32] = [-1, -1]
        #expect(pipe(&pipeEnds) == 0)
        defer { pipeEnds.forEach { _ = close($0) } }
        #expect(child.terminal(pipeEnds[1]))
        #expect(child.seccompListener(pipeEnds[1]))
        guard case .terminal(let terminal) = runtime.next(), case .seccompListener(let listener) = runtime.next() else {
            Issue.record("expected terminal then seccompListener")
            return
        }
        defer {
            close(terminal)
            close(listener)
        }
        #expect(terminal != pipeEnds[1] && listener != pipeEnds[1])
        #expect(write(terminal, "x", 1) == 1)
        var byte: UInt8 = 0
        #expect(read(pipeEnds[0], &byte, 1) == 1 && byte == UInt8(ascii: "x"))
    }

    @Test("the runtime's steps reach init in order, the hooks' state with hooksRan")
    func runtimeToInit() throws {
        let (runtime, child) = try Handshake.pair()
        defer {
            runtime.close()
            child.close()
        }
        #expect(runtime.proceed() && runtime.inCgroup())
        #expect(runtime.hooksRan(state: #"{"status":"creating"}"#))
        #expect(runtime.listenerDelivered() && runtime.committed() && runtime.start())
        child.awaitProceed()
        child.awaitInCgroup()
        #expect(child.awaitHooksRan() == #"{"status":"creating"}"#)
        child.awaitListenerDelivered()
        child.awaitCommitted()
        child.awaitStart()
    }

    @Test("an unknown tag from init is a failure, not a message of another kind")
    func unknownTag() throws {
        let (runtime, child) = try Handshake.pair()
        defer {
            runtime.close()
            child.close()
        }
        #expect(child.socket.send(UInt8(ascii: "Z")))
        #expect(child.socket.send(UInt8(ascii: "P"), body: "not a pid"))
        #expect(runtime.next() == .failure("unknown message 90 from the container process"))
        #expect(runtime.next() == .failure("unknown message 80 from the container process"))
    }
}
