// Models of the OCI runtime-spec config.json (runtime-spec v1.3, config.md and config-linux.md).
// Property names are the JSON keys so the synthesized Codable conformance needs no CodingKeys.
// Everything the spec marks OPTIONAL is Optional: real-world configs (podman, containerd,
// hand-written ones) leave out whatever they do not need. Enumerated strings stay `String`
// so that an unknown value is reported by `validate()` with its JSON path instead of a
// generic decoding failure; only `Namespace.Kind` is a Swift enum.

public struct Spec: Codable, Sendable, Equatable {
    public var ociVersion: String
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount]?
    public var hooks: Hooks?
    public var annotations: [String: String]?
    public var linux: Linux?

    public init(
        ociVersion: String, process: Process? = nil, root: Root? = nil, hostname: String? = nil,
        domainname: String? = nil, mounts: [Mount]? = nil, hooks: Hooks? = nil,
        annotations: [String: String]? = nil, linux: Linux? = nil
    ) {
        self.ociVersion = ociVersion
        self.process = process
        self.root = root
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = mounts
        self.hooks = hooks
        self.annotations = annotations
        self.linux = linux
    }
}

// MARK: - Process

extension Spec {
    public struct Process: Codable, Sendable, Equatable {
        public var terminal: Bool?
        public var consoleSize: ConsoleSize?
        public var user: User
        public var args: [String]?
        /// Windows only in the spec; kept so a config carrying it round-trips.
        public var commandLine: String?
        public var env: [String]?
        public var cwd: String
        public var capabilities: Capabilities?
        public var rlimits: [Rlimit]?
        public var noNewPrivileges: Bool?
        public var apparmorProfile: String?
        public var oomScoreAdj: Int?
        public var scheduler: Scheduler?
        public var selinuxLabel: String?
        public var ioPriority: IOPriority?
        public var execCPUAffinity: ExecCPUAffinity?

        public init(
            terminal: Bool? = nil, consoleSize: ConsoleSize? = nil, user: User = User(uid: 0, gid: 0),
            args: [String]? = nil, commandLine: String? = nil, env: [String]? = nil, cwd: String = "/",
            capabilities: Capabilities? = nil, rlimits: [Rlimit]? = nil, noNewPrivileges: Bool? = nil,
            apparmorProfile: String? = nil, oomScoreAdj: Int? = nil, selinuxLabel: String? = nil,
            ioPriority: IOPriority? = nil, scheduler: Scheduler? = nil,
            execCPUAffinity: ExecCPUAffinity? = nil
        ) {
            self.terminal = terminal
            self.consoleSize = consoleSize
            self.user = user
            self.args = args
            self.commandLine = commandLine
            self.env = env
            self.cwd = cwd
            self.capabilities = capabilities
            self.rlimits = rlimits
            self.noNewPrivileges = noNewPrivileges
            self.apparmorProfile = apparmorProfile
            self.oomScoreAdj = oomScoreAdj
            self.selinuxLabel = selinuxLabel
            self.ioPriority = ioPriority
            self.scheduler = scheduler
            self.execCPUAffinity = execCPUAffinity
        }

        public struct ConsoleSize: Codable, Sendable, Equatable {
            public var height: UInt
            public var width: UInt

            public init(height: UInt, width: UInt) {
                self.height = height
                self.width = width
            }
        }

        public struct Capabilities: Codable, Sendable, Equatable {
            public var bounding: [String]?
            public var effective: [String]?
            public var inheritable: [String]?
            public var permitted: [String]?
            public var ambient: [String]?

            public init(
                bounding: [String]? = nil, effective: [String]? = nil, inheritable: [String]? = nil,
                permitted: [String]? = nil, ambient: [String]? = nil
            ) {
                self.bounding = bounding
                self.effective = effective
                self.inheritable = inheritable
                self.permitted = permitted
                self.ambient = ambient
            }
        }

        public struct Rlimit: Codable, Sendable, Equatable {
            public var type: String
            public var hard: UInt64
            public var soft: UInt64

            public init(type: String, hard: UInt64, soft: UInt64) {
                self.type = type
                self.hard = hard
                self.soft = soft
            }
        }

        public struct IOPriority: Codable, Sendable, Equatable {
            /// IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE.
            public var `class`: String
            public var priority: Int

            public init(class: String, priority: Int) {
                self.class = `class`
                self.priority = priority
            }
        }

        public struct Scheduler: Codable, Sendable, Equatable {
            /// SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_ISO, SCHED_IDLE, SCHED_DEADLINE.
            public var policy: String
            public var nice: Int32?
            public var priority: Int32?
            /// SCHED_FLAG_* names.
            public var flags: [String]?
            public var runtime: UInt64?
            public var deadline: UInt64?
            public var period: UInt64?

            public init(
                policy: String, nice: Int32? = nil, priority: Int32? = nil, flags: [String]? = nil,
                runtime: UInt64? = nil, deadline: UInt64? = nil, period: UInt64? = nil
            ) {
                self.policy = policy
                self.nice = nice
                self.priority = priority
                self.flags = flags
                self.runtime = runtime
                self.deadline = deadline
                self.period = period
            }
        }

        public struct ExecCPUAffinity: Codable, Sendable, Equatable {
            public var initial: String?
            public var final: String?

            public init(initial: String? = nil, final: String? = nil) {
                self.initial = initial
                self.final = final
            }
        }
    }

    public struct User: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var umask: UInt32?
        public var additionalGids: [UInt32]?
        /// Windows only in the spec.
        public var username: String?

        public init(
            uid: UInt32, gid: UInt32, umask: UInt32? = nil, additionalGids: [UInt32]? = nil,
            username: String? = nil
        ) {
            self.uid = uid
            self.gid = gid
            self.umask = umask
            self.additionalGids = additionalGids
            self.username = username
        }
    }
}

// MARK: - Root, mounts, hooks

extension Spec {
    public struct Root: Codable, Sendable, Equatable {
        public var path: String
        public var readonly: Bool?

        public init(path: String, readonly: Bool? = nil) {
            self.path = path
            self.readonly = readonly
        }
    }

    public struct Mount: Codable, Sendable, Equatable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?
        public var uidMappings: [Linux.IDMapping]?
        public var gidMappings: [Linux.IDMapping]?

        public init(
            destination: String, type: String? = nil, source: String? = nil, options: [String]? = nil,
            uidMappings: [Linux.IDMapping]? = nil, gidMappings: [Linux.IDMapping]? = nil
        ) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
        }
    }

    public struct Hooks: Codable, Sendable, Equatable {
        /// Deprecated in the spec (v1.0.2) but still run by runc; kept.
        public var prestart: [Hook]?
        public var createRuntime: [Hook]?
        public var createContainer: [Hook]?
        public var startContainer: [Hook]?
        public var poststart: [Hook]?
        public var poststop: [Hook]?

        public init(
            prestart: [Hook]? = nil, createRuntime: [Hook]? = nil, createContainer: [Hook]? = nil,
            startContainer: [Hook]? = nil, poststart: [Hook]? = nil, poststop: [Hook]? = nil
        ) {
            self.prestart = prestart
            self.createRuntime = createRuntime
            self.createContainer = createContainer
            self.startContainer = startContainer
            self.poststart = poststart
            self.poststop = poststop
        }

        /// Whether any hook runs before the process starts (prestart, createRuntime,
        /// createContainer, startContainer): container init then asks the runtime for them
        /// (`runHooks`) before it is ready. No array of the optional lists: its metadata would
        /// be made at run time, in init and on every `run`.
        public var runBeforeStart: Bool {
            func some(_ list: [Hook]?) -> Bool { !(list ?? []).isEmpty }
            return some(prestart) || some(createRuntime) || some(createContainer) || some(startContainer)
        }
    }

    public struct Hook: Codable, Sendable, Equatable {
        public var path: String
        public var args: [String]?
        public var env: [String]?
        /// Seconds; the spec requires it to be greater than zero when present.
        public var timeout: Int?

        public init(path: String, args: [String]? = nil, env: [String]? = nil, timeout: Int? = nil) {
            self.path = path
            self.args = args
            self.env = env
            self.timeout = timeout
        }
    }
}

// MARK: - Linux

extension Spec {
    public struct Linux: Codable, Sendable, Equatable {
        // Declared in the order of runtime-spec's Go struct so that encoding matches runc's output.
        public var uidMappings: [IDMapping]?
        public var gidMappings: [IDMapping]?
        public var sysctl: [String: String]?
        public var resources: Resources?
        public var cgroupsPath: String?
        public var namespaces: [Namespace]?
        public var devices: [Device]?
        public var seccomp: Seccomp?
        public var rootfsPropagation: String?
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?
        public var mountLabel: String?
        public var intelRdt: IntelRdt?
        public var personality: Personality?
        /// Keys are "monotonic" and "boottime".
        public var timeOffsets: [String: TimeOffset]?
        /// runtime-spec v1.3.
        public var memoryPolicy: MemoryPolicy?
        /// runtime-spec v1.3: host interface name → settings in the container.
        public var netDevices: [String: NetDevice]?

        public init(
            uidMappings: [IDMapping]? = nil, gidMappings: [IDMapping]? = nil,
            timeOffsets: [String: TimeOffset]? = nil, sysctl: [String: String]? = nil,
            resources: Resources? = nil, cgroupsPath: String? = nil, namespaces: [Namespace]? = nil,
            devices: [Device]? = nil, seccomp: Seccomp? = nil, rootfsPropagation: String? = nil,
            maskedPaths: [String]? = nil, readonlyPaths: [String]? = nil, mountLabel: String? = nil,
            intelRdt: IntelRdt? = nil, personality: Personality? = nil,
            memoryPolicy: MemoryPolicy? = nil, netDevices: [String: NetDevice]? = nil
        ) {
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
            self.timeOffsets = timeOffsets
            self.sysctl = sysctl
            self.resources = resources
            self.cgroupsPath = cgroupsPath
            self.namespaces = namespaces
            self.devices = devices
            self.seccomp = seccomp
            self.rootfsPropagation = rootfsPropagation
            self.maskedPaths = maskedPaths
            self.readonlyPaths = readonlyPaths
            self.mountLabel = mountLabel
            self.intelRdt = intelRdt
            self.personality = personality
            self.memoryPolicy = memoryPolicy
            self.netDevices = netDevices
        }

        public struct IDMapping: Codable, Sendable, Equatable {
            public var containerID: UInt32
            public var hostID: UInt32
            public var size: UInt32

            public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
                self.containerID = containerID
                self.hostID = hostID
                self.size = size
            }
        }

        public struct TimeOffset: Codable, Sendable, Equatable {
            public var secs: Int64?
            public var nanosecs: UInt32?

            public init(secs: Int64? = nil, nanosecs: UInt32? = nil) {
                self.secs = secs
                self.nanosecs = nanosecs
            }
        }

        public struct Namespace: Codable, Sendable, Equatable {
            public enum Kind: String, Codable, Sendable, Equatable, CaseIterable {
                case pid, network, mount, ipc, uts, user, cgroup, time

                public init(from decoder: any Decoder) throws {
                    let raw = try decoder.singleValueContainer().decode(String.self)
                    guard let kind = Kind(rawValue: raw) else {
                        let known = Kind.allCases.map(\.rawValue).joined(separator: ", ")
                        throw DecodingError.dataCorrupted(
                            .init(
                                codingPath: decoder.codingPath,
                                debugDescription: "unknown namespace type \"\(raw)\" (expected one of \(known))"))
                    }
                    self = kind
                }
            }

            public var type: Kind
            public var path: String?

            public init(type: Kind, path: String? = nil) {
                self.type = type
                self.path = path
            }
        }

        public struct Device: Codable, Sendable, Equatable {
            public var path: String
            /// "c", "b", "u" or "p".
            public var type: String
            public var major: Int64?
            public var minor: Int64?
            public var fileMode: UInt32?
            public var uid: UInt32?
            public var gid: UInt32?

            public init(
                type: String, path: String, major: Int64? = nil, minor: Int64? = nil,
                fileMode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil
            ) {
                self.type = type
                self.path = path
                self.major = major
                self.minor = minor
                self.fileMode = fileMode
                self.uid = uid
                self.gid = gid
            }
        }

        public struct IntelRdt: Codable, Sendable, Equatable {
            public var closID: String?
            /// Lines of the resctrl `schemata` file. runtime-spec v1.2 has a single string with
            /// embedded newlines, v1.3 an array of lines; both decode (a string is split on "\n").
            public var schemata: [String]?
            public var l3CacheSchema: String?
            public var memBwSchema: String?
            /// Deprecated by runtime-spec v1.3 in favour of enableMonitoring.
            public var enableCMT: Bool?
            /// Deprecated by runtime-spec v1.3 in favour of enableMonitoring.
            public var enableMBM: Bool?
            public var enableMonitoring: Bool?

            private enum CodingKeys: String, CodingKey {
                case closID, schemata, l3CacheSchema, memBwSchema, enableCMT, enableMBM, enableMonitoring
            }

            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                closID = try c.decodeIfPresent(String.self, forKey: .closID)
                if let single = try? c.decodeIfPresent(String.self, forKey: .schemata) {
                    schemata = single.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
                } else {
                    schemata = try c.decodeIfPresent([String].self, forKey: .schemata)
                }
                l3CacheSchema = try c.decodeIfPresent(String.self, forKey: .l3CacheSchema)
                memBwSchema = try c.decodeIfPresent(String.self, forKey: .memBwSchema)
                enableCMT = try c.decodeIfPresent(Bool.self, forKey: .enableCMT)
                enableMBM = try c.decodeIfPresent(Bool.self, forKey: .enableMBM)
                enableMonitoring = try c.decodeIfPresent(Bool.self, forKey: .enableMonitoring)
            }

            public init(
                closID: String? = nil, l3CacheSchema: String? = nil, memBwSchema: String? = nil,
                schemata: [String]? = nil, enableMonitoring: Bool? = nil, enableCMT: Bool? = nil,
                enableMBM: Bool? = nil
            ) {
                self.closID = closID
                self.l3CacheSchema = l3CacheSchema
                self.memBwSchema = memBwSchema
                self.schemata = schemata
                self.enableMonitoring = enableMonitoring
                self.enableCMT = enableCMT
                self.enableMBM = enableMBM
            }
        }

        public struct Personality: Codable, Sendable, Equatable {
            /// "LINUX" or "LINUX32".
            public var domain: String
            public var flags: [String]?

            public init(domain: String, flags: [String]? = nil) {
                self.domain = domain
                self.flags = flags
            }
        }

        public struct MemoryPolicy: Codable, Sendable, Equatable {
            /// MPOL_DEFAULT, MPOL_BIND, MPOL_INTERLEAVE, MPOL_WEIGHTED_INTERLEAVE, MPOL_PREFERRED,
            /// MPOL_PREFERRED_MANY, MPOL_LOCAL.
            public var mode: String
            public var nodes: String?
            /// MPOL_F_NUMA_BALANCING, MPOL_F_RELATIVE_NODES, MPOL_F_STATIC_NODES.
            public var flags: [String]?

            public init(mode: String, nodes: String? = nil, flags: [String]? = nil) {
                self.mode = mode
                self.nodes = nodes
                self.flags = flags
            }
        }

        public struct NetDevice: Codable, Sendable, Equatable {
            public var name: String?

            public init(name: String? = nil) {
                self.name = name
            }
        }
    }
}

// MARK: - Resources

extension Spec.Linux {
    public struct Resources: Codable, Sendable, Equatable {
        public var devices: [DeviceCgroup]?
        public var memory: Memory?
        public var cpu: CPU?
        public var pids: Pids?
        public var blockIO: BlockIO?
        public var hugepageLimits: [HugepageLimit]?
        public var network: Network?
        public var rdma: [String: Rdma]?
        public var unified: [String: String]?

        public init(
            devices: [DeviceCgroup]? = nil, memory: Memory? = nil, cpu: CPU? = nil, pids: Pids? = nil,
            blockIO: BlockIO? = nil, hugepageLimits: [HugepageLimit]? = nil, network: Network? = nil,
            rdma: [String: Rdma]? = nil, unified: [String: String]? = nil
        ) {
            self.devices = devices
            self.memory = memory
            self.cpu = cpu
            self.pids = pids
            self.blockIO = blockIO
            self.hugepageLimits = hugepageLimits
            self.network = network
            self.rdma = rdma
            self.unified = unified
        }

        public typealias WeightDevice = BlockIO.WeightDevice
        public typealias ThrottleDevice = BlockIO.ThrottleDevice
        public typealias InterfacePriority = Network.InterfacePriority

        public struct DeviceCgroup: Codable, Sendable, Equatable {
            public var allow: Bool
            /// "a", "c" or "b"; absent means "a".
            public var type: String?
            public var major: Int64?
            public var minor: Int64?
            /// Combination of "r", "w", "m"; absent means "rwm".
            public var access: String?

            public init(
                allow: Bool, type: String? = nil, major: Int64? = nil, minor: Int64? = nil,
                access: String? = nil
            ) {
                self.allow = allow
                self.type = type
                self.major = major
                self.minor = minor
                self.access = access
            }
        }

        public struct Memory: Codable, Sendable, Equatable {
            public var limit: Int64?
            public var reservation: Int64?
            public var swap: Int64?
            /// Deprecated: kernel memory limits are gone since Linux 5.4 and never existed on
            /// cgroup v2; runc ignores the field with a warning.
            public var kernel: Int64?
            public var kernelTCP: Int64?
            public var swappiness: UInt64?
            public var disableOOMKiller: Bool?
            public var useHierarchy: Bool?
            public var checkBeforeUpdate: Bool?

            public init(
                limit: Int64? = nil, reservation: Int64? = nil, swap: Int64? = nil, kernel: Int64? = nil,
                kernelTCP: Int64? = nil, swappiness: UInt64? = nil, disableOOMKiller: Bool? = nil,
                useHierarchy: Bool? = nil, checkBeforeUpdate: Bool? = nil
            ) {
                self.limit = limit
                self.reservation = reservation
                self.swap = swap
                self.kernel = kernel
                self.kernelTCP = kernelTCP
                self.swappiness = swappiness
                self.disableOOMKiller = disableOOMKiller
                self.useHierarchy = useHierarchy
                self.checkBeforeUpdate = checkBeforeUpdate
            }
        }

        public struct CPU: Codable, Sendable, Equatable {
            public var shares: UInt64?
            public var quota: Int64?
            public var burst: UInt64?
            public var period: UInt64?
            public var realtimeRuntime: Int64?
            public var realtimePeriod: UInt64?
            public var cpus: String?
            public var mems: String?
            public var idle: Int64?

            public init(
                shares: UInt64? = nil, quota: Int64? = nil, burst: UInt64? = nil, period: UInt64? = nil,
                realtimeRuntime: Int64? = nil, realtimePeriod: UInt64? = nil, cpus: String? = nil,
                mems: String? = nil, idle: Int64? = nil
            ) {
                self.shares = shares
                self.quota = quota
                self.burst = burst
                self.period = period
                self.realtimeRuntime = realtimeRuntime
                self.realtimePeriod = realtimePeriod
                self.cpus = cpus
                self.mems = mems
                self.idle = idle
            }
        }

        public struct Pids: Codable, Sendable, Equatable {
            /// runc writes "max" for values <= 0 (cgroup v2) and -1 means unlimited on v1.
            public var limit: Int64

            public init(limit: Int64) {
                self.limit = limit
            }
        }

        public struct BlockIO: Codable, Sendable, Equatable {
            public var weight: UInt16?
            public var leafWeight: UInt16?
            public var weightDevice: [WeightDevice]?
            public var throttleReadBpsDevice: [ThrottleDevice]?
            public var throttleWriteBpsDevice: [ThrottleDevice]?
            public var throttleReadIOPSDevice: [ThrottleDevice]?
            public var throttleWriteIOPSDevice: [ThrottleDevice]?

            public init(
                weight: UInt16? = nil, leafWeight: UInt16? = nil, weightDevice: [WeightDevice]? = nil,
                throttleReadBpsDevice: [ThrottleDevice]? = nil,
                throttleWriteBpsDevice: [ThrottleDevice]? = nil,
                throttleReadIOPSDevice: [ThrottleDevice]? = nil,
                throttleWriteIOPSDevice: [ThrottleDevice]? = nil
            ) {
                self.weight = weight
                self.leafWeight = leafWeight
                self.weightDevice = weightDevice
                self.throttleReadBpsDevice = throttleReadBpsDevice
                self.throttleWriteBpsDevice = throttleWriteBpsDevice
                self.throttleReadIOPSDevice = throttleReadIOPSDevice
                self.throttleWriteIOPSDevice = throttleWriteIOPSDevice
            }

            public struct WeightDevice: Codable, Sendable, Equatable {
                public var major: Int64
                public var minor: Int64
                public var weight: UInt16?
                public var leafWeight: UInt16?

                public init(major: Int64, minor: Int64, weight: UInt16? = nil, leafWeight: UInt16? = nil) {
                    self.major = major
                    self.minor = minor
                    self.weight = weight
                    self.leafWeight = leafWeight
                }
            }

            public struct ThrottleDevice: Codable, Sendable, Equatable {
                public var major: Int64
                public var minor: Int64
                public var rate: UInt64

                public init(major: Int64, minor: Int64, rate: UInt64) {
                    self.major = major
                    self.minor = minor
                    self.rate = rate
                }
            }
        }

        public struct HugepageLimit: Codable, Sendable, Equatable {
            /// e.g. "2MB", "1GB".
            public var pageSize: String
            public var limit: UInt64

            public init(pageSize: String, limit: UInt64) {
                self.pageSize = pageSize
                self.limit = limit
            }
        }

        public struct Network: Codable, Sendable, Equatable {
            public var classID: UInt32?
            public var priorities: [InterfacePriority]?

            public init(classID: UInt32? = nil, priorities: [InterfacePriority]? = nil) {
                self.classID = classID
                self.priorities = priorities
            }

            public struct InterfacePriority: Codable, Sendable, Equatable {
                public var name: String
                public var priority: UInt32

                public init(name: String, priority: UInt32) {
                    self.name = name
                    self.priority = priority
                }
            }
        }

        public struct Rdma: Codable, Sendable, Equatable {
            public var hcaHandles: UInt32?
            public var hcaObjects: UInt32?

            public init(hcaHandles: UInt32? = nil, hcaObjects: UInt32? = nil) {
                self.hcaHandles = hcaHandles
                self.hcaObjects = hcaObjects
            }
        }
    }
}

// MARK: - Seccomp

extension Spec.Linux {
    public struct Seccomp: Codable, Sendable, Equatable {
        public var defaultAction: String
        public var defaultErrnoRet: UInt32?
        public var architectures: [String]?
        public var flags: [String]?
        public var listenerPath: String?
        public var listenerMetadata: String?
        public var syscalls: [Syscall]?

        public init(
            defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil,
            flags: [String]? = nil, listenerPath: String? = nil, listenerMetadata: String? = nil,
            syscalls: [Syscall]? = nil
        ) {
            self.defaultAction = defaultAction
            self.defaultErrnoRet = defaultErrnoRet
            self.architectures = architectures
            self.flags = flags
            self.listenerPath = listenerPath
            self.listenerMetadata = listenerMetadata
            self.syscalls = syscalls
        }

        public struct Syscall: Codable, Sendable, Equatable {
            public var names: [String]
            public var action: String
            public var errnoRet: UInt32?
            public var args: [Arg]?

            public init(names: [String], action: String, errnoRet: UInt32? = nil, args: [Arg]? = nil) {
                self.names = names
                self.action = action
                self.errnoRet = errnoRet
                self.args = args
            }
        }

        public struct Arg: Codable, Sendable, Equatable {
            public var index: UInt
            public var value: UInt64
            public var valueTwo: UInt64?
            public var op: String

            public init(index: UInt, value: UInt64, valueTwo: UInt64? = nil, op: String) {
                self.index = index
                self.value = value
                self.valueTwo = valueTwo
                self.op = op
            }
        }
    }
}
