import Glibc
import Testing

@testable import ApusCore

@Suite("timestamps")
struct TimestampTests {
    /// Every day boundary from 1900 to 2400 (leap years, century rules, 2000) and the
    /// seconds around them, against glibc's gmtime_r.
    @Test("UTC fields by arithmetic are gmtime_r's")
    func utcMatchesGmtime() {
        var mismatches: [Int] = []
        var t = -2_208_988_800  // 1900-01-01
        while t < 13_569_465_600 {  // 2400-01-01
            for s in [t - 1, t, t + 43_199, t + 86_399] {
                var value = time_t(s)
                var parts = tm()
                gmtime_r(&value, &parts)
                let mine = Timestamp.utc(s)
                let theirs = (
                    Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour),
                    Int(parts.tm_min), Int(parts.tm_sec)
                )
                if mine != theirs { mismatches.append(s) }
            }
            t += 86_400
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(5))")
    }

    @Test("RFC 3339 text as runc writes it: nanoseconds without trailing zeros, Z")
    func rfc3339Text() {
        #expect(Timestamp(seconds: 1_765_049_113, nanoseconds: 618_207_900).rfc3339 == "2025-12-06T19:25:13.6182079Z")
        #expect(Timestamp(seconds: 951_782_400, nanoseconds: 0).rfc3339 == "2000-02-29T00:00:00Z")
        #expect(Timestamp(seconds: 0, nanoseconds: 5).rfc3339 == "1970-01-01T00:00:00.000000005Z")
    }
}
