import CApus
import Glibc
import OCI

/// LSM labels, personality, I/O priority and scheduler of the container
/// process. Each is set on init itself and survives execve (the LSM labels
/// are exec-time attributes that take effect at execve).
public enum ProcessAttributes {
    /// `linux.intelRdt` needs the resctrl filesystem; without it, say so
    /// instead of silently running the container unconstrained.
    public static func checkIntelRdt(_ spec: Spec) throws(ApusError) {
        guard spec.linux?.intelRdt != nil else { return }
        if access("/sys/fs/resctrl/schemata", F_OK) != 0 {
            throw ApusError(
                "apply Intel RDT", detail: "resctrl is not mounted at /sys/fs/resctrl (no RDT support on this host)",
                field: ".linux.intelRdt")
        }
        throw ApusError("apply Intel RDT", detail: "not supported by apus yet", field: ".linux.intelRdt")
    }

    public static func apply(_ spec: Spec, proc: borrowing ProcFS) throws(ApusError) {
        guard let process = spec.process else { return }
        if let personality = spec.linux?.personality {
            guard let domain = knownPersonalityDomains[personality.domain] else {
                throw ApusError(
                    "set personality", detail: "unknown domain \(personality.domain)",
                    field: ".linux.personality.domain")
            }
            try sys("set personality \(personality.domain)", field: ".linux.personality") { apus_personality(domain) }
        }
        if let io = process.ioPriority {
            guard let ioclass = knownIOPriorityClasses[io.class] else {
                throw ApusError(
                    "set I/O priority", detail: "unknown class \(io.class)", field: ".process.ioPriority.class")
            }
            try sys("set I/O priority \(io.class) \(io.priority)", field: ".process.ioPriority") {
                RawSyscall.ioprioSet(class: ioclass, level: Int32(clamping: io.priority))
            }
        }
        if let s = process.scheduler {
            guard let policy = knownSchedulerPolicies[s.policy] else {
                throw ApusError(
                    "set scheduler", detail: "unknown policy \(s.policy)", field: ".process.scheduler.policy")
            }
            var flags: UInt64 = 0
            for flag in s.flags ?? [] { flags |= knownSchedulerFlags[flag] ?? 0 }
            try sys("set scheduler \(s.policy)", field: ".process.scheduler") {
                apus_sched_setattr(
                    policy, flags, s.nice ?? 0, UInt32(clamping: s.priority ?? 0), s.runtime ?? 0, s.deadline ?? 0,
                    s.period ?? 0)
            }
        }
        if let profile = process.apparmorProfile, !profile.isEmpty {
            guard FileIO.readString("/sys/module/apparmor/parameters/enabled")?.trimmed == "Y" else {
                throw ApusError(
                    "apply AppArmor profile \(profile)", detail: "AppArmor is not enabled on this host",
                    field: ".process.apparmorProfile")
            }
            // Linux 5.8+ has the per-LSM directory; older kernels only the shared file.
            let path = proc.exists("self/attr/apparmor/exec") ? "self/attr/apparmor/exec" : "self/attr/exec"
            try proc.write(
                path, "exec \(profile)",
                step: "apply AppArmor profile \(profile) (config.json .process.apparmorProfile)")
        }
        if let label = process.selinuxLabel, !label.isEmpty {
            guard access("/sys/fs/selinux/enforce", F_OK) == 0 else {
                throw ApusError(
                    "apply SELinux label \(label)", detail: "SELinux is not enabled on this host",
                    field: ".process.selinuxLabel")
            }
            try proc.write(
                "self/attr/exec", label, step: "apply SELinux label \(label) (config.json .process.selinuxLabel)")
        }
    }
}
