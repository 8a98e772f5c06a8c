import Glibc

public enum ProcessMemory {
    /// Drops this process's resident pages of its own executable's text: clean and
    /// file-backed, they fault back in from the page cache when next run. Read-only data is
    /// left alone: it can hold relocated copy-on-write pages that must stay.
    public static func releaseOwnText() {
        var exe = stat()
        guard stat("/proc/self/exe", &exe) == 0, let path = FileIO.readLink("/proc/self/exe"),
            let maps = FileIO.readString("/proc/self/maps")
        else { return }
        // Parse first, release last: code run after the release faults its pages back in.
        var ranges: [(start: UInt, length: Int)] = []
        for line in maps.split(separator: "\n") {
            // start-end perms offset dev inode path
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[1] == "r-xp", UInt64(fields[4]) == UInt64(exe.st_ino),
                fields[5].trimmingPrefix(while: { $0 == " " }) == path
            else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                end > start
            else { continue }
            ranges.append((start, Int(end - start)))
        }
        for range in ranges {
            _ = madvise(UnsafeMutableRawPointer(bitPattern: range.start), range.length, MADV_DONTNEED)
        }
    }

}
