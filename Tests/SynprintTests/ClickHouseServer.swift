import Fleet
import Foundation
import XCTest

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// A real ClickHouse server (Debian's `clickhouse-server`, installed by tools/setup.sh) on
/// loopback for one test: its own free ports, its data in a temporary folder, stopped and
/// started again at will. A missing server binary fails the test; it is never skipped.
final class ClickHouseServer {
    let folder: URL
    let httpPort: Int
    let tcpPort: Int
    private var pid: pid_t?

    static var binary: String? {
        ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server", "/usr/bin/clickhouse"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// `shards`: the TCP ports of the servers of each shard of the `fleet` cluster, this one's
    /// included. `replication`: the ZooKeeper that replicates the shards' tables, and this
    /// server's shard and replica names (the macros the replicated schema names its paths by).
    /// `tls`: also serve HTTPS on this port with this certificate and key (PEM files).
    init(
        folder: URL, httpPort: Int, tcpPort: Int, shards: [[Int]],
        replication: (zookeeper: Int, shard: String, replica: String, interserver: Int)? = nil,
        tls: (port: Int, certificate: URL, key: URL)? = nil
    ) throws {
        self.folder = folder
        self.httpPort = httpPort
        self.tcpPort = tcpPort
        let template = repositoryRoot.appendingPathComponent("Tests/SynprintTests/Fixtures/clickhouse")
        let shardXML = shards.map { replicas in
            // Replicated tables copy a shard's rows themselves: the Distributed table writes one replica.
            "            <shard>" + (replication == nil ? "" : "<internal_replication>true</internal_replication>")
                + replicas.map { "<replica><host>127.0.0.1</host><port>\($0)</port></replica>" }.joined() + "</shard>"
        }.joined(separator: "\n")
        var config = try String(contentsOf: template.appendingPathComponent("config.xml"), encoding: .utf8)
        let tlsXML = tls.map {
            """
                <https_port>\($0.port)</https_port>
                <openSSL><server><certificateFile>\($0.certificate.path)</certificateFile><privateKeyFile>\($0.key.path)</privateKeyFile>
                    <verificationMode>none</verificationMode></server></openSSL>
            """
        }
        let replicationXML = replication.map {
            """
                <zookeeper><node><host>127.0.0.1</host><port>\($0.zookeeper)</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>
                <macros><shard>\($0.shard)</shard><replica>\($0.replica)</replica></macros>
                <interserver_http_host>127.0.0.1</interserver_http_host><interserver_http_port>\($0.interserver)</interserver_http_port>
            """
        }
        let values = [
            ("@FOLDER@", folder.path), ("@HTTP@", String(httpPort)), ("@TCP@", String(tcpPort)), ("@SHARDS@", shardXML),
            ("@TLS@", tlsXML ?? ""), ("@REPLICATION@", replicationXML ?? ""),
        ]
        for (key, value) in values {
            config = config.replacingOccurrences(of: key, with: value)
        }
        try config.write(to: folder.appendingPathComponent("config.xml"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(at: template.appendingPathComponent("users.xml"), to: folder.appendingPathComponent("users.xml"))
    }

    /// One started server.
    static func started() throws -> ClickHouseServer {
        let ports = try freePorts(2)
        let server = try ClickHouseServer(folder: try temporaryFolder(), httpPort: ports[0], tcpPort: ports[1], shards: [[ports[1]]])
        try server.start()
        return server
    }

    /// Two started servers that form the two-shard cluster `fleet`.
    static func cluster() throws -> [ClickHouseServer] {
        let ports = try freePorts(4)
        let shards = [[ports[1]], [ports[3]]]
        let servers = try [0, 2].map {
            try ClickHouseServer(folder: try temporaryFolder(), httpPort: ports[$0], tcpPort: ports[$0 + 1], shards: shards)
        }
        for server in servers { try server.start() }
        return servers
    }

    /// Two started servers that are the two replicas of the one shard of the cluster `fleet`,
    /// replicating through `zookeeper`.
    static func replicas(zookeeper: ZooKeeperServer) throws -> [ClickHouseServer] {
        let ports = try freePorts(6)
        let shards = [[ports[1], ports[4]]]
        let servers = try [0, 3].map {
            try ClickHouseServer(
                folder: try temporaryFolder(), httpPort: ports[$0], tcpPort: ports[$0 + 1], shards: shards,
                replication: (zookeeper.port, "01", "replica-\($0 / 3 + 1)", ports[$0 + 2]))
        }
        for server in servers { try server.start() }
        return servers
    }

    var url: String { "http://127.0.0.1:\(httpPort)/synprint" }

    func start() throws {
        guard let binary = ClickHouseServer.binary else {
            throw Failed(description: "clickhouse-server is not installed (tools/setup.sh installs Debian's clickhouse-server)")
        }
        pid = try spawnQuietly([binary] + (binary.hasSuffix("/clickhouse") ? ["server"] : []) + ["--config-file=\(folder.path)/config.xml"])
        do {
            try waitFor(seconds: 30) { (try? query("SELECT 1")) == "1\n" }
        } catch {
            let log = (try? String(contentsOf: folder.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
            throw Failed(description: "ClickHouse did not start on port \(httpPort): \(log.suffix(500))")
        }
    }

    func stop() {
        guard let pid else { return }
        stopProcess(pid)
        self.pid = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: folder)
    }

    /// One statement through ClickHouse's HTTP interface, as the default user.
    @discardableResult
    func query(_ sql: String) throws -> String {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(httpPort)/")!)
        request.httpMethod = "POST"
        request.httpBody = Data(sql.utf8)
        request.timeoutInterval = 10
        let result = LockedBox<(Data?, Int)>((nil, 0))
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, _ in
            result.value = (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
            done.signal()
        }.resume()
        done.wait()
        let (data, status) = result.value
        let text = String(decoding: data ?? Data(), as: UTF8.self)
        guard status == 200 else { throw Failed(description: "ClickHouse: \(status) \(text)") }
        return text
    }

    /// Rows of a query as tab-separated fields.
    func rows(_ sql: String) throws -> [[String]] {
        try query(sql + " FORMAT TabSeparated").split(separator: "\n").map {
            $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        }
    }

    func count(_ sql: String) throws -> Int {
        Int(try query(sql).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}

/// A ZooKeeper server (Debian's `zookeeper`, installed by tools/setup.sh) on loopback for one
/// test, standalone, with its data in a temporary folder: what replicated ClickHouse tables need.
final class ZooKeeperServer {
    static let jar = "/usr/share/java/zookeeper.jar"
    let port: Int
    private let folder: URL
    private var pid: pid_t?

    init() throws {
        guard FileManager.default.fileExists(atPath: ZooKeeperServer.jar) else {
            throw Failed(description: "ZooKeeper is not installed (tools/setup.sh installs Debian's zookeeper)")
        }
        port = try freePorts(1)[0]
        folder = try temporaryFolder()
        let config = """
            tickTime=500
            dataDir=\(folder.path)/data
            clientPort=\(port)
            clientPortAddress=127.0.0.1
            admin.enableServer=false

            """
        try config.write(to: folder.appendingPathComponent("zoo.cfg"), atomically: true, encoding: .utf8)
        pid = try spawnQuietly([
            "/usr/bin/java", "-cp", ZooKeeperServer.jar, "org.apache.zookeeper.server.ZooKeeperServerMain",
            folder.appendingPathComponent("zoo.cfg").path,
        ])
        // A Java start: seconds, more on a busy machine. Serving is when it answers `srvr` (a
        // four-letter command it allows by default) with its mode, not when the port opens.
        do {
            try waitFor(seconds: 60) { ZooKeeperServer.serves(port) }
        } catch {
            throw Failed(description: "ZooKeeper did not start on port \(port)")
        }
    }

    deinit {
        if let pid { stopProcess(pid) }
        try? FileManager.default.removeItem(at: folder)
    }

    static func serves(_ port: Int) -> Bool {
        guard let socket = try? connected(port) else { return false }
        defer { close(socket) }
        // A server still starting may take the connection and not answer: wait for it 2 s at most.
        var limit = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let command = Array("srvr".utf8)
        guard send(socket, command, command.count, 0) == command.count else { return false }
        var answer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            answer += chunk[0..<count]
        }
        return String(decoding: answer, as: UTF8.self).contains("Mode:")
    }
}

/// Started with posix_spawn rather than Foundation's Process, whose monitor waits on the
/// longest-lived child and so misses the ends of the synprint processes a test runs.
func spawnQuietly(_ arguments: [String]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var child: pid_t = 0
    let status = posix_spawn(&child, arguments[0], &actions, nil, &argv, environ)
    guard status == 0 else { throw Failed(description: "cannot start \(arguments[0]): \(String(cString: strerror(status)))") }
    return child
}

/// SIGTERM, then SIGKILL if it is still there after 15 s.
func stopProcess(_ pid: pid_t) {
    kill(pid, SIGTERM)
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(15)
    while waitpid(pid, &status, WNOHANG) == 0 {
        if Date() >= deadline {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            break
        }
        usleep(20_000)
    }
}

/// A CA made for one test in `folder` (`ca.pem`), and for each (name, subjectAltName) a key
/// and a certificate it signs (`NAME.key`, `NAME.pem`), by the openssl command.
func makeCertificates(in folder: URL, _ names: [(name: String, alternative: String)]) throws {
    func file(_ name: String) -> String { folder.appendingPathComponent(name).path }
    func openssl(_ arguments: [String]) throws {
        let (status, output) = try runCommand(["openssl"] + arguments)
        guard status == 0 else { throw Failed(description: "openssl \(arguments.first ?? ""): \(output)") }
    }
    try openssl([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", file("ca.key"), "-out", file("ca.pem"), "-days", "2", "-subj",
        "/CN=synprint test CA",
    ])
    for (name, alternative) in names {
        try openssl([
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", file("\(name).key"), "-out", file("\(name).csr"), "-subj", "/CN=\(name)",
        ])
        try "subjectAltName=\(alternative)\n".write(toFile: file("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl([
            "x509", "-req", "-in", file("\(name).csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-CAcreateserial", "-out",
            file("\(name).pem"), "-days", "2", "-extfile", file("\(name).ext"),
        ])
    }
}

/// Free TCP ports on loopback (bound once to find them, then released).
func freePorts(_ n: Int) throws -> [Int] {
    var sockets: [Int32] = []
    defer { for s in sockets { close(s) } }
    return try (0..<n).map { _ in
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        sockets.append(s)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, length) == 0 && getsockname(s, $0, &length) == 0 }
        }
        guard bound else { throw Failed(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct Failed: Error, CustomStringConvertible {
    let description: String
}

/// A value shared with a callback on another thread.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
