/// Where in each hierarchy a container's cgroup lives, from `linux.cgroupsPath`.
public enum CgroupPath {
    /// Parent of relative and default paths. runc puts relative paths under the cgroup
    /// of the runtime process itself, which on this kind of host is whatever cgroup the
    /// caller's shell or agent happens to be in (and on v2 a cgroup with processes, where
    /// controllers cannot be enabled); a fixed parent is predictable and cleanable.
    public static let defaultParent = "/apus"

    /// The cgroup path (absolute, lexically clean, inside every hierarchy) for a container.
    ///
    /// - absolute `"/a/b"` → `/a/b`
    /// - relative `"a/b"` → `/apus/a/b` (cannot climb out of /apus: `../x` → `/apus/x`)
    /// - none or empty → `/apus-<id>`
    /// - `"slice:prefix:name"` → the cgroupfs path systemd would give that unit, e.g.
    ///   `system.slice:docker:abc` → `/system.slice/docker-abc.scope`. Taken as the systemd
    ///   form when `systemd` is set (`--systemd-cgroup`, where any other form is an error, as
    ///   in runc) or when it has exactly two colons and the first part is a slice name.
    public static func resolve(cgroupsPath: String?, id: String, systemd: Bool = false) throws(ApusError) -> String {
        let field = ".linux.cgroupsPath"
        let raw = cgroupsPath ?? ""
        if raw.utf8.contains(0) {
            throw ApusError.invalidCgroup("cgroupsPath contains a NUL byte", field: field)
        }
        let parts = raw.split(separator: ":", omittingEmptySubsequences: false)
        let looksSystemd =
            !raw.hasPrefix("/") && parts.count == 3 && (parts[0].isEmpty || parts[0].hasSuffix(".slice"))
        if systemd {
            if raw.isEmpty {
                return try systemdPath(slice: "", prefix: "apus", name: id)
            }
            guard parts.count == 3 else {
                throw ApusError.invalidCgroup(
                    "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got \"\(raw)\" instead",
                    field: field)
            }
        }
        if systemd || looksSystemd {
            return try systemdPath(slice: String(parts[0]), prefix: String(parts[1]), name: String(parts[2]))
        }
        let path: String
        if raw.isEmpty {
            // Flat, not under the parent: a lone container then costs one mkdir
            // and one rmdir per hierarchy, with no shared parent to make and
            // remove again on every start (2 ms of a ~10 ms run, measured).
            path = clean(defaultParent + "-" + id)
        } else if raw.hasPrefix("/") {
            path = clean(raw)
        } else {
            let relative = clean("/" + raw)
            guard relative != "/" else {
                throw ApusError.invalidCgroup("relative cgroupsPath \"\(raw)\" names no cgroup", field: field)
            }
            path = defaultParent + relative
        }
        if path == "/" {
            throw ApusError.invalidCgroup("cgroupsPath \"\(raw)\" names the root cgroup", field: field)
        }
        return path
    }

    /// runc's cgroupfs translation of a systemd unit: the slice expanded into its
    /// ancestors, then `<prefix>-<name>.scope` (or the name itself when it is a slice).
    static func systemdPath(slice: String, prefix: String, name: String) throws(ApusError) -> String {
        let field = ".linux.cgroupsPath"
        guard !name.isEmpty else {
            throw ApusError.invalidCgroup(
                "the unit name of cgroupsPath \"\(slice):\(prefix):\(name)\" is empty", field: field)
        }
        for part in [prefix, name] where part.contains("/") || part == "." || part == ".." {
            throw ApusError.invalidCgroup("invalid systemd unit name part \"\(part)\"", field: field)
        }
        let unit: String
        if name.hasSuffix(".slice") {
            unit = name
        } else if prefix.isEmpty {
            unit = name + ".scope"
        } else {
            unit = prefix + "-" + name + ".scope"
        }
        let parent = try expandSlice(slice.isEmpty ? "system.slice" : slice)
        return parent + "/" + unit
    }

    /// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` (the root slice) → "".
    public static func expandSlice(_ slice: String) throws(ApusError) -> String {
        let suffix = ".slice"
        guard slice.hasSuffix(suffix), slice.count > suffix.count, !slice.contains("/") else {
            throw ApusError.invalidCgroup("invalid slice name \"\(slice)\"", field: ".linux.cgroupsPath")
        }
        let name = slice.dropLast(suffix.count)
        if name == "-" { return "" }
        var path = ""
        var prefix = ""
        for component in name.split(separator: "-", omittingEmptySubsequences: false) {
            // systemd rejects "a--b.slice" and "-a.slice".
            guard !component.isEmpty else {
                throw ApusError.invalidCgroup("invalid slice name \"\(slice)\"", field: ".linux.cgroupsPath")
            }
            path += "/" + prefix + component + suffix
            prefix += component + "-"
        }
        return path
    }

    /// Lexical clean of an absolute path: no empty, "." or ".." components, never above "/".
    static func clean(_ path: String) -> String {
        var parts: [String] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(String(component))
            }
        }
        return "/" + parts.joinedText(separator: "/")
    }
}
