/// Substring search without _StringProcessing. Its `String.contains(String)` is what every
/// `text.contains(substring: "word")` called, and linking it brought the regex engine into the static
/// binary (1.2 MiB); the targets are built with `-disable-implicit-string-processing-module-import`
/// so that it cannot come back unnoticed.
extension StringProtocol {
    /// Whether `other` occurs in this text, compared as UTF-8 bytes (the markers apus looks
    /// for are ASCII; no Unicode normalisation).
    public func contains(substring other: some StringProtocol) -> Bool {
        firstByteOffset(of: other) != nil
    }

    /// Where `other` starts, as a UTF-8 byte offset.
    public func firstByteOffset(of other: some StringProtocol) -> Int? {
        let needle = Array(other.utf8)
        let haystack = Array(utf8)
        if needle.isEmpty { return 0 }
        guard needle.count <= haystack.count else { return nil }
        var start = 0
        while start + needle.count <= haystack.count {
            if haystack[start] == needle[0] && haystack[start..<start + needle.count].elementsEqual(needle) {
                return start
            }
            start += 1
        }
        return nil
    }
}

extension String {
    /// This text with `target` replaced by `replacement`, at most `maxReplacements` times,
    /// left to right.
    public func replacing(
        substring target: some StringProtocol, with replacement: some StringProtocol, maxReplacements: Int = .max
    ) -> String {
        let needle = Array(target.utf8)
        guard !needle.isEmpty else { return self }
        let bytes = Array(utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        var done = 0
        while index < bytes.count {
            if done < maxReplacements, index + needle.count <= bytes.count,
                bytes[index..<index + needle.count].elementsEqual(needle)
            {
                out.append(contentsOf: replacement.utf8)
                index += needle.count
                done += 1
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension StringProtocol {
    /// The pieces between occurrences of `separator` (empty ones kept), at most
    /// `maxSplits` splits.
    public func split(separatorText separator: some StringProtocol, maxSplits: Int = .max) -> [String] {
        let needle = Array(separator.utf8)
        let bytes = Array(utf8)
        var pieces: [String] = []
        var start = 0
        var index = 0
        while !needle.isEmpty, pieces.count < maxSplits, index + needle.count <= bytes.count {
            if bytes[index..<index + needle.count].elementsEqual(needle) {
                pieces.append(String(decoding: bytes[start..<index], as: UTF8.self))
                index += needle.count
                start = index
            } else {
                index += 1
            }
        }
        pieces.append(String(decoding: bytes[start...], as: UTF8.self))
        return pieces
    }
}

extension Array where Element == String {
    /// `joined(separator:)` for an array of strings, as a plain loop. The standard library's
    /// is generic over the collection: its first call in a process looks up associated types
    /// by mangled name, about 30 µs measured on the path of a `run` (BENCHMARKS.md), paid
    /// again by init when the runtime has not called it before the clone.
    public func joinedText(separator: String = "") -> String {
        var out = ""
        for (i, part) in enumerated() {
            if i > 0 { out += separator }
            out += part
        }
        return out
    }
}
