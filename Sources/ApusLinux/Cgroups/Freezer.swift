import Glibc

/// Pausing and resuming: the v1 freezer controller or cgroup v2's cgroup.freeze.
public enum CgroupFreezer {
    /// The file and value that freeze (or thaw) a cgroup.
    public static func write(freeze: Bool, version: CgroupVersion) -> (file: String, value: String) {
        switch version {
        case .v1: return ("freezer.state", freeze ? "FROZEN" : "THAWED")
        case .v2: return ("cgroup.freeze", freeze ? "1" : "0")
        }
    }

    static func freeze(dir: String, version: CgroupVersion) throws(ApusError) {
        switch version {
        case .v1: try freezeV1(dir)
        case .v2: try freezeV2(dir)
        }
    }

    static func thaw(dir: String, version: CgroupVersion) throws(ApusError) {
        let (file, value) = write(freeze: false, version: version)
        let code = CgroupFS.write(dir + "/" + file, value)
        if code != 0 { throw ApusError.cgroup("write \(value) to \(dir)/\(file)", errno: code) }
    }

    static func isFrozen(dir: String, version: CgroupVersion) -> Bool {
        switch version {
        case .v2:
            return CgroupFS.readLine(dir + "/cgroup.freeze") == "1"
        case .v1:
            for _ in 0..<1000 {
                switch CgroupFS.readLine(dir + "/freezer.state") {
                case "FROZEN":
                    // Frozen because an ancestor is, not because it was paused: runc reports
                    // such a container as running.
                    return CgroupFS.readLine(dir + "/freezer.self_freezing") != "0"
                case "FREEZING":
                    CgroupFS.sleep(milliseconds: 1)
                default:
                    return false
                }
            }
            return false
        }
    }

    /// v1 freezing can stall in FREEZING while tasks keep forking (even 5.x kernels): retry,
    /// thawing now and then to let stragglers settle, as runc does; thaw on failure so the
    /// container is never left half frozen. runc gives up after 1000 quick attempts (about
    /// 0.2 s); on a loaded machine (load 9 on 2 cores, seen in the test suite) a task that
    /// forks in a loop may not be scheduled into the refrigerator that soon, so apus bounds
    /// the wait by time instead: 5 s, backing off to 1 ms between attempts.
    private static func freezeV1(_ dir: String) throws(ApusError) {
        let state = dir + "/freezer.state"
        let deadline = monotonicNanoseconds() + 5_000_000_000
        var attempt = 0
        while true {
            if attempt % 50 == 49 {
                _ = CgroupFS.write(state, "THAWED")
                CgroupFS.sleep(milliseconds: 10)
            }
            let code = CgroupFS.write(state, "FROZEN")
            if code != 0 {
                _ = CgroupFS.write(state, "THAWED")
                throw ApusError.cgroup("write FROZEN to \(state)", errno: code)
            }
            switch CgroupFS.readLine(state) {
            case "FROZEN": return
            case "FREEZING": break
            case let other:
                _ = CgroupFS.write(state, "THAWED")
                throw ApusError.cgroup("freeze \(dir)", detail: "unexpected freezer state \"\(other ?? "unreadable")\"")
            }
            if monotonicNanoseconds() > deadline { break }
            if attempt < 25 { usleep(10) } else { CgroupFS.sleep(milliseconds: 1) }
            attempt += 1
        }
        _ = CgroupFS.write(state, "THAWED")
        throw ApusError.cgroup("freeze \(dir)", detail: "still FREEZING after 5 s (processes keep forking)")
    }

    private static func monotonicNanoseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec
    }

    /// v2 freezing is asynchronous: wait for "frozen 1" in cgroup.events, which the kernel
    /// signals with POLLPRI when it changes.
    private static func freezeV2(_ dir: String) throws(ApusError) {
        let control = dir + "/cgroup.freeze"
        let code = CgroupFS.write(control, "1")
        if code != 0 { throw ApusError.cgroup("write 1 to \(control)", errno: code) }
        let events = dir + "/cgroup.events"
        guard let fd = OwnedFD.opening({ open(events, O_RDONLY | O_CLOEXEC) }) else {
            let code = errno
            _ = CgroupFS.write(control, "0")
            throw ApusError.cgroup("open \(events)", errno: code)
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        // 10 s, runc's limit.
        for _ in 0..<100 {
            let n = buffer.withUnsafeMutableBytes { raw in
                retryingEINTR { pread(fd.raw, raw.baseAddress, raw.count, 0) }
            }
            if n > 0 && String(decoding: buffer[0..<n], as: UTF8.self).contains(substring: "frozen 1") { return }
            var poller = pollfd(fd: fd.raw, events: Int16(POLLPRI), revents: 0)
            _ = poll(&poller, 1, 100)
        }
        _ = CgroupFS.write(control, "0")
        throw ApusError.cgroup("freeze \(dir)", detail: "the cgroup did not report frozen within 10 s")
    }
}
