import ApusLinux
import Glibc
import OCI

extension Runtime {
    /// `validate`: what `create` would check, against the spec and this host,
    /// without creating anything; every problem at once, each with its JSON
    /// path. runc has no such command; people writing config.json by hand need it.
    public func validate(bundle: String) -> [String] {
        let bundlePath = absolutePath(bundle)
        let spec: Spec
        do {
            spec = try Spec.load(bundle: bundlePath)
        } catch {
            return ["\(error)"]
        }
        var problems = spec.validate().map { "\($0)" }
        problems += hostProblems(spec, bundle: bundlePath)
        return problems
    }

    /// Checks that need the host: files, namespaces, capabilities, cgroups.
    func hostProblems(_ spec: Spec, bundle: String) -> [String] {
        var problems: [String] = []
        func problem(_ path: String, _ reason: String) { problems.append("config.json \(path): \(reason)") }
        func exists(_ path: String) -> Int32? {
            var st = stat()
            return stat(path, &st) == 0 ? nil : errno
        }

        if let root = spec.root {
            let rootfs = root.path.hasPrefix("/") ? root.path : bundle + "/" + root.path
            if let code = exists(rootfs) {
                problem(".root.path", "rootfs \(rootfs): \(errorString(code))")
            } else if !FileIO.isDirectory(rootfs) {
                problem(".root.path", "rootfs \(rootfs): not a directory")
            } else if let args = spec.process?.args, let command = args.first, command.hasPrefix("/"),
                let code = exists(rootfs + command)
            {
                problem(".process.args[0]", "\(command) in the rootfs: \(errorString(code))")
            }
        }
        for (index, mount) in (spec.mounts ?? []).enumerated() {
            let options = parseMountOptions(mount.options ?? [])
            guard options.isBind || mount.type == "bind", let source = mount.source else { continue }
            let path = source.hasPrefix("/") ? source : bundle + "/" + source
            if let code = exists(path) {
                problem(".mounts[\(index)].source", "bind source \(path): \(errorString(code))")
            }
        }
        for (index, ns) in (spec.linux?.namespaces ?? []).enumerated() {
            if let path = ns.path, !path.isEmpty, let code = exists(path) {
                problem(
                    ".linux.namespaces[\(index)].path", "\(ns.type.rawValue) namespace \(path): \(errorString(code))")
            }
            if ns.type == .time && ns.path == nil, exists("/proc/self/ns/time") != nil {
                problem(".linux.namespaces[\(index)]", "this kernel has no time namespaces")
            }
        }
        let lastCap = lastCapability()
        let sets = spec.process?.capabilities
        for (set, names) in [
            ("bounding", sets?.bounding), ("effective", sets?.effective), ("permitted", sets?.permitted),
            ("inheritable", sets?.inheritable), ("ambient", sets?.ambient),
        ] {
            for (i, name) in (names ?? []).enumerated() {
                if let number = knownCapabilities[name], number > lastCap {
                    problem(
                        ".process.capabilities.\(set)[\(i)]",
                        "\(name) is not supported by this kernel (it would be ignored)")
                }
            }
        }
        if !privilege.rootlessCgroups || spec.linux?.cgroupsPath != nil {
            do {
                _ = try CgroupManager.resolve(cgroupsPath: spec.linux?.cgroupsPath, id: "validate")
            } catch {
                problem(".linux.cgroupsPath", "\(error)")
            }
        }
        for (index, hook) in allHooks(spec.hooks) {
            if let code = exists(hook.path) {
                problem(index, "hook \(hook.path): \(errorString(code))")
            }
        }
        return problems
    }

    func allHooks(_ hooks: Spec.Hooks?) -> [(String, Spec.Hook)] {
        guard let hooks else { return [] }
        let kinds: [(String, [Spec.Hook]?)] = [
            ("prestart", hooks.prestart), ("createRuntime", hooks.createRuntime),
            ("createContainer", hooks.createContainer), ("startContainer", hooks.startContainer),
            ("poststart", hooks.poststart), ("poststop", hooks.poststop),
        ]
        return kinds.flatMap { kind, list in
            (list ?? []).enumerated().map { (".hooks.\(kind)[\($0.offset)].path", $0.element) }
        }
    }
}
