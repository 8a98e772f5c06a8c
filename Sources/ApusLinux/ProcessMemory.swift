import CApus
import Glibc

/// A process that is about to wait for long (the foreground `run` while its container
/// lives, a created container's init until `start`) gives back the pages of apus's own
/// executable it holds: most of its resident memory in a static binary. Only clean file
/// pages go (text, read-only data and the untouched part of .data, still in the page
/// cache), so nothing is lost; what runs after the wait faults the few it needs back in.
public enum ProcessMemory {
    static let present: UInt64 = 1 << 63
    static let swapped: UInt64 = 1 << 62
    static let fileOrShared: UInt64 = 1 << 61

    /// This executable's segments as loaded: each program header with the page-aligned
    /// range it covers in memory.
    struct Segment {
        var header: Elf64_Phdr
        var start: UInt
        var end: UInt
    }

    static func segments(page: UInt) -> [Segment] {
        var count = 0
        guard let phdr = apus_program_headers(&count) else { return [] }
        let headers = UnsafeBufferPointer(start: phdr, count: count)
        // A position-independent executable is loaded at an offset: where PT_PHDR says
        // the headers are against where they are.
        var bias: UInt = 0
        if let self_ = headers.first(where: { $0.p_type == UInt32(PT_PHDR) }) {
            bias = UInt(bitPattern: phdr) &- UInt(self_.p_vaddr)
        }
        return headers.map { header in
            let start = (bias &+ UInt(header.p_vaddr)) & ~(page - 1)
            let end = (bias &+ UInt(header.p_vaddr) &+ UInt(header.p_memsz) + page - 1) & ~(page - 1)
            return Segment(header: header, start: start, end: end)
        }
    }

    /// The page ranges of this executable that hold no page with contents of its own: text
    /// whole; the other segments where `pagemap` (this process's /proc/PID/pagemap) shows
    /// no anonymous page, i.e. none written (relocated read-only data, .data, .bss).
    /// Without `pagemap` only the text.
    public static func cleanImageRanges(pagemap: Int32?) -> [apus_page_range] {
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        var ranges: [apus_page_range] = []
        for segment in segments(page: page) where segment.header.p_type == UInt32(PT_LOAD) {
            guard segment.end > segment.start else { continue }
            let flags = segment.header.p_flags
            if flags & UInt32(PF_X) != 0 && flags & UInt32(PF_W) == 0 {
                ranges.append(apus_page_range(start: segment.start, length: Int(segment.end - segment.start)))
            } else if let pagemap {
                ranges += unwrittenRuns(start: segment.start, end: segment.end, page: page, pagemap: pagemap)
            }
        }
        return ranges
    }

    /// For a process that runs nothing but raw syscalls until execve
    /// (`apus_wait_for_start_and_exec`): `cleanImageRanges` and the writable segments
    /// whole, so .data reverts to the file and .bss to zero. The RELRO part stays: it holds
    /// the relocated GOT that calls into libc's IFUNCs go through.
    public static func wholeImageRanges(pagemap: Int32?) -> [apus_page_range] {
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let all = segments(page: page)
        let relroEnd = all.first(where: { $0.header.p_type == UInt32(PT_GNU_RELRO) })?.end ?? 0
        var ranges = cleanImageRanges(pagemap: pagemap)
        for segment in all where segment.header.p_type == UInt32(PT_LOAD) && segment.header.p_flags & UInt32(PF_W) != 0
        {
            let start = max(segment.start, relroEnd)
            if segment.end > start { ranges.append(apus_page_range(start: start, length: Int(segment.end - start))) }
        }
        return ranges
    }

    /// `ranges` (`cleanImageRanges`, `wholeImageRanges`) read through `pagemap`, closed when
    /// this call returns; nil (it could not be opened) reads them without one.
    public static func reading(
        _ pagemap: consuming OwnedFD?, _ ranges: (_ pagemap: Int32?) -> [apus_page_range]
    ) -> [apus_page_range] {
        ranges(pagemap?.raw)
    }

    /// Runs of pages in [start, end) that are not anonymous: absent (and not swapped) or
    /// file pages. Unreadable pagemap: none.
    static func unwrittenRuns(start: UInt, end: UInt, page: UInt, pagemap: Int32) -> [apus_page_range] {
        let count = Int((end - start) / page)
        var entries = [UInt64](repeating: 0, count: count)
        let size = count * MemoryLayout<UInt64>.stride
        let read = entries.withUnsafeMutableBytes { pread(pagemap, $0.baseAddress, size, off_t(start / page) * 8) }
        guard read == size else { return [] }
        var runs: [apus_page_range] = []
        var runStart: UInt? = nil
        for (i, entry) in entries.enumerated() {
            let address = start + UInt(i) * page
            let anonymous = entry & swapped != 0 || (entry & present != 0 && entry & fileOrShared == 0)
            if anonymous {
                if let first = runStart { runs.append(apus_page_range(start: first, length: Int(address - first))) }
                runStart = nil
            } else if runStart == nil {
                runStart = address
            }
        }
        if let first = runStart { runs.append(apus_page_range(start: first, length: Int(end - first))) }
        return runs
    }

    /// Gives back `ranges`, then makes the blocking syscall `nr` with up to four arguments,
    /// with nothing in between (see `apus_release_then_syscall`); returns its result, -1
    /// with errno on failure.
    /// Syscalls `release(_:thenSyscall:…)` is used with: openat (the exec fifo), ppoll.
    public static let openat = Int(APUS_NR_OPENAT)
    public static let ppoll = Int(APUS_NR_PPOLL)

    public static func release(_ ranges: [apus_page_range], thenSyscall nr: Int, _ a: Int, _ b: Int, _ c: Int, _ d: Int)
        -> Int
    {
        ranges.withUnsafeBufferPointer { buffer in
            apus_release_then_syscall(buffer.baseAddress, buffer.count, nr, a, b, c, d)
        }
    }
}
