import Foundation
import Testing

/// Docker's default bridge as a normal install has it (docker0, iptables NAT and filter
/// chains, ip-masq, ip-forward, docker-proxy), without touching the host's firewall: a
/// second dockerd of the test's own runs in a network namespace made by `unshare --net`,
/// and an "outside" namespace (a listener's, also `unshare --net`) is linked to it by a
/// veth pair created inside those namespaces. Everything lives and dies with the two
/// processes; the host's iptables, nftables ruleset, forwarding sysctls and links are
/// compared before and after.
extension DockerTests {
    /// The addresses of the link between dockerd's namespace and the outside one
    /// (198.18.0.0/15 is reserved for benchmarking: never routed anywhere).
    static let uplink = "198.18.0.1"
    static let outside = "198.18.0.2"
    static let outsidePort = 9000

    @Test(
        "the default bridge (iptables, ip-masq, ip-forward) in dockerd's own netns: address, ping, -p 127.0.0.1, masquerade, a BuildKit RUN step; as under runc 1.5.1"
    )
    func defaultBridge() throws {
        let main = try docker
        for tool in [DockerDaemon.unshare, DockerDaemon.nsenter, "/usr/sbin/ip", "/usr/sbin/iptables-save"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            try Test.cancel("\(tool) is missing (util-linux, iproute2, iptables)")
        }
        if PodmanLab.which("docker-proxy") == nil { try Test.cancel("docker-proxy is missing (docker.io)") }
        if !main.hasRunc { try Test.cancel("runc 1.5.1 is not at ../shared/tools/runc (or APUS_RUNC)") }
        let before = HostFirewall.snapshot()
        defer {
            let after = HostFirewall.snapshot()
            #expect(after == before, "the host's firewall or forwarding changed:\n\(HostFirewall.diff(before, after))")
        }

        // The outside: an HTTP server that answers with the address the request came from.
        let listener = try BackgroundCommand(
            DockerDaemon.unshare,
            [
                "--net", "--", "/usr/bin/python3", "-c",
                """
                import http.server
                class Peer(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        body = (self.client_address[0] + "\\n").encode()
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                    def log_message(self, *args):
                        pass
                server = http.server.HTTPServer(("0.0.0.0", \(Self.outsidePort)), Peer)
                print("ready", flush=True)
                server.serve_forever()
                """,
            ], environment: main.environment, log: main.dir + "/outside.log")
        defer { listener.stop() }

        let docker = DockerDaemon(name: main.namespace + "-bridge", network: .defaultBridge)
        defer { for problem in docker.shutdown() { Issue.record(Comment(rawValue: problem)) } }
        try docker.startUp()
        try? waitFor(20) { listener.output.contains("ready") || !listener.isRunning }
        #expect(listener.output.contains("ready"), "\(listener.output)")
        try link(docker, to: listener.pid)

        // What dockerd set up in its namespace: docker0 (the default bridge network's
        // gateway, which `network inspect` leaves empty), forwarding on, the masquerade rule.
        let bridge = try docker.cli([
            "network", "inspect", "bridge", "--format",
            "{{(index .IPAM.Config 0).Subnet}} {{index .Options \"com.docker.network.bridge.name\"}}",
        ])
        #expect(bridge.stdout.hasSuffix(" docker0\n"), "\(bridge.all)")
        let subnet = try #require(bridge.stdout.split(separator: " ").first.map(String.init), "\(bridge.all)")
        let docker0 = try docker.inNetns("/usr/sbin/ip", ["-4", "-o", "addr", "show", "docker0"])
        let gateway = try #require(
            docker0.stdout.split(separator: " ").drop { $0 != "inet" }.dropFirst().first?.split(separator: "/").first
                .map(String.init), "\(docker0.all)")
        #expect(Self.contains(subnet, gateway), "\(gateway) not in \(subnet)")
        #expect(try docker.inNetns("/bin/cat", ["/proc/sys/net/ipv4/ip_forward"]).stdout == "1\n")
        let nat = try docker.inNetns("/usr/sbin/iptables-save", ["-t", "nat"])
        #expect(nat.stdout.contains("-A POSTROUTING -s \(subnet) ! -o docker0 -j MASQUERADE\n"), "\(nat.all)")

        var seen: [String: [String]] = [:]
        for runtime in ["apus", "runc15"] {
            seen[runtime] = try bridgeRound(docker, runtime: runtime, subnet: subnet, gateway: gateway)
        }
        let mine = seen["apus"] ?? []
        #expect(
            mine == [
                "CLIENT/\(subnet.split(separator: "/").last ?? "")", "default via \(gateway) dev eth0", "pong",
                Self.uplink, "served by the container",
            ], "\(mine)")
        #expect(mine == seen["runc15"], "apus: \(mine)\nrunc: \(seen["runc15"] ?? [])")

        // BuildKit's RUN steps on the default bridge (its default network: a namespace
        // libnetwork makes, which the step's config.json names by path), under the `runc`
        // in dockerd's PATH: apus, then runc 1.5.1.
        var built: [String: [String]] = [:]
        defer { try? docker.pointRunc(at: docker.apus) }
        for (name, binary) in [("apus", docker.apus), ("runc", Env.runc ?? "")] {
            try docker.pointRunc(at: binary)
            built[name] = try bridgeBuild(docker, runtime: name, subnet: subnet)
        }
        let steps = built["apus"] ?? []
        #expect(
            steps == [
                "CLIENT/\(subnet.split(separator: "/").last ?? "")", "default via \(gateway) dev eth0", Self.uplink,
            ],
            "\(steps)")
        #expect(steps == built["runc"], "apus: \(steps)\nrunc: \(built["runc"] ?? [])")
    }

    /// `DOCKER_BUILDKIT=1 docker build` (default network) of a RUN step that writes its
    /// address (as CLIENT), its default route and what the outside saw to /net; returns
    /// that file's lines, read from the image.
    func bridgeBuild(_ docker: DockerDaemon, runtime: String, subnet: String) throws -> [String] {
        let tag = docker.newName("bridge-build-\(runtime)")
        let context = docker.dir + "/" + tag
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try """
        FROM \(Self.image)
        RUN { ip -4 -o addr show eth0 | awk '{print $4}'; ip route | grep default; wget -q -O - http://\(Self.outside):\(Self.outsidePort)/; } > /net

        """.write(toFile: context + "/Dockerfile", atomically: true, encoding: .utf8)
        var environment = docker.environment
        environment["DOCKER_BUILDKIT"] = "1"
        let build = try sh(
            DockerDaemon.dockerCLI,
            ["-H", "unix://" + docker.socket, "build", "--progress", "plain", "--no-cache", "-t", tag, context],
            environment: environment, timeout: 120)
        #expect(build.status == 0, "\(runtime): \(build.all.suffix(3000))")
        defer { _ = try? docker.cli(["rmi", "--force", tag]) }
        let net = try docker.cli(["run", "--rm", "--net", "none", tag, "cat", "/net"])
        #expect(net.status == 0, "\(runtime): \(net.all)")
        var lines = net.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if let own = lines.first, let ip = own.split(separator: "/").first {
            #expect(Self.contains(subnet, String(ip)), "\(runtime): \(own)")
            lines[0] = "CLIENT/" + own.split(separator: "/").dropFirst().joined()
        }
        return lines
    }

    /// One round under `runtime`: a server with `-p 127.0.0.1:PORT:8080` and a client on
    /// the default bridge; the client prints its address (as CLIENT), its default route,
    /// pings the server by IP, and fetches a page from outside, whose server answers with the
    /// address it saw (the uplink's, when masqueraded). The server's page is fetched from
    /// dockerd's namespace through the published port.
    func bridgeRound(_ docker: DockerDaemon, runtime: String, subnet: String, gateway: String) throws -> [String] {
        let server = docker.newName("bridge-\(runtime)")
        let port = 18_080
        let id = try docker.start(
            server,
            [
                "--runtime", runtime, "-p", "127.0.0.1:\(port):8080", Self.image, "sh", "-c",
                "echo served by the container >/tmp/index.html; exec httpd -f -p 8080 -h /tmp",
            ])
        defer { docker.remove(server) }
        let address = try docker.inspect(server, "{{.NetworkSettings.IPAddress}}")
        #expect(Self.contains(subnet, address), "\(runtime): \(address) not in \(subnet)")
        let dnat = try docker.inNetns("/usr/sbin/iptables-save", ["-t", "nat"])
        #expect(
            dnat.stdout.contains("--dport \(port) -j DNAT --to-destination \(address):8080"), "\(runtime): \(dnat.all)")

        let client = try docker.cli([
            "run", "--rm", "--runtime", runtime, Self.image, "sh", "-c",
            "ip -4 -o addr show eth0 | awk '{print $4}'; ip route | grep default;"
                + " ping -c 1 -W 5 \(address) >/dev/null && echo pong; wget -q -O - http://\(Self.outside):\(Self.outsidePort)/",
        ])
        #expect(client.status == 0, "\(runtime): \(client.all)")
        var lines = client.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if let own = lines.first, let ip = own.split(separator: "/").first {
            #expect(Self.contains(subnet, String(ip)) && String(ip) != address, "\(runtime): \(own)")
            lines[0] = "CLIENT/" + own.split(separator: "/").dropFirst().joined()
        }
        // docker-proxy listens on 127.0.0.1:PORT in dockerd's namespace (not the host's).
        var page = Output(status: -1, stdout: "", stderr: "")
        try? waitFor(20) {
            page = try docker.inNetns(
                "/usr/bin/python3",
                [
                    "-c",
                    "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=2).read().decode(), end='')",
                    "http://127.0.0.1:\(port)/index.html",
                ])
            return page.status == 0
        }
        #expect(page.status == 0, "\(runtime): \(page.all)")
        lines.append(page.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try docker.cli(["rm", "--force", server]).status == 0)
        docker.expectNoTraces(of: id)
        return lines
    }

    /// Links dockerd's namespace to the outside one (process `outside`'s): a veth pair made
    /// inside them (no device ever exists in the host's namespace), the uplink as dockerd's
    /// default route. The outside has no route to the bridge's subnet: a container reaches
    /// it only when masqueraded.
    func link(_ docker: DockerDaemon, to outside: pid_t) throws {
        let inside = try docker.inNetns(
            "/bin/sh",
            [
                "-ec",
                """
                ip link set lo up
                ip link add uplink type veth peer name wan netns \(outside)
                ip addr add \(Self.uplink)/24 dev uplink
                ip link set uplink up
                ip route add default via \(Self.outside)
                """,
            ])
        try #require(inside.status == 0, "\(inside.all)")
        let far = try sh(
            DockerDaemon.nsenter,
            [
                "--net=/proc/\(outside)/ns/net", "--", "/bin/sh", "-ec",
                "ip link set lo up; ip addr add \(Self.outside)/24 dev wan; ip link set wan up",
            ])
        try #require(far.status == 0, "\(far.all)")
    }

    /// Whether IPv4 `address` is in `cidr` (a.b.c.d/n).
    static func contains(_ cidr: String, _ address: String) -> Bool {
        func value(_ text: Substring) -> UInt32? {
            let octets = text.split(separator: ".").compactMap { UInt32($0) }
            guard octets.count == 4, octets.allSatisfy({ $0 < 256 }) else { return nil }
            return octets.reduce(0) { $0 << 8 | $1 }
        }
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let bits = UInt32(parts[1]), bits <= 32, let network = value(parts[0]),
            let host = value(Substring(address))
        else { return false }
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        return network & mask == host & mask
    }
}

/// What of the host's networking a dockerd with the default bridge would change: the
/// iptables (nft and legacy) and ip6tables rules, the nftables ruleset, the forwarding and
/// bridge-netfilter sysctls.
struct HostFirewall: Equatable {
    var sections: [String: String]

    static func snapshot() -> HostFirewall {
        var sections: [String: String] = [:]
        for tool in ["iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save"] {
            let path = "/usr/sbin/" + tool
            guard FileManager.default.isExecutableFile(atPath: path) else { continue }
            // The "# Generated … on DATE" comments differ each time.
            let out = (try? sh(path, []))?.all ?? "failed"
            sections[tool] = out.split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        }
        if FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") {
            sections["nft list ruleset"] = (try? sh("/usr/sbin/nft", ["list", "ruleset"]))?.all ?? "failed"
        }
        for sysctl in [
            "net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv4/conf/all/route_localnet",
            "net/ipv6/conf/all/forwarding", "net/bridge/bridge-nf-call-iptables",
            "net/bridge/bridge-nf-call-ip6tables",
        ] {
            sections[sysctl] = DockerDaemon.read("/proc/sys/" + sysctl)
        }
        return HostFirewall(sections: sections)
    }

    static func diff(_ before: HostFirewall, _ after: HostFirewall) -> String {
        Set(before.sections.keys).union(after.sections.keys).sorted().compactMap { key in
            before.sections[key] == after.sections[key]
                ? nil : "\(key):\n  before: \(before.sections[key] ?? "-")\n  after: \(after.sections[key] ?? "-")"
        }.joined(separator: "\n")
    }
}
