import Foundation
import Match
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `GET /v1/auth` behind a real nginx (Debian's), with the shipped snippets: a client connects
/// through nginx to an upstream that echoes the headers it got, while synprint captures the
/// loopback interface and answers nginx's `auth_request`.
final class ForwardAuthTests: XCTestCase {
    func testNginxHandsTheVerdictToTheUpstreamAndFailsOpen() throws {
        let (folder, proxyPort, apiPort, upstreamPort, upstream) = try setUpProxyTest()
        defer { upstream.terminate() }
        let nginx = try startNginx(port: proxyPort, api: apiPort, upstream: upstreamPort, folder: folder)
        defer {
            nginx.terminate()
            nginx.waitUntilExit()
        }
        func startSensor(_ options: [String] = []) throws -> Process { try self.startSensor(api: apiPort, proxy: proxyPort, options) }
        var sensor = try startSensor()
        defer { if sensor.isRunning { sensor.terminate() } }
        let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
        let linux = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
        try waitFor { (try? self.request(port: proxyPort, userAgent: linux))?["x-synprint-verdict"] == "ok" }

        // A Linux stack claiming Windows: flagged, os_mismatch.
        let claimed = try request(port: proxyPort, userAgent: windows)
        XCTAssertEqual(claimed["x-synprint-verdict"], "flagged", "\(claimed)")
        XCTAssertEqual(claimed["x-synprint-reasons"], "os_mismatch", "\(claimed)")
        XCTAssertEqual(claimed["x-synprint-family"], "Linux-like", "\(claimed)")
        XCTAssertEqual(claimed["x-synprint-tls"], "unknown", "plain HTTP has no ClientHello: \(claimed)")
        // The same stack with its own User-Agent: ok.
        let honest = try request(port: proxyPort, userAgent: linux)
        XCTAssertEqual(honest["x-synprint-verdict"], "ok", "\(honest)")
        XCTAssertEqual(honest["x-synprint-reasons"] ?? "", "", "\(honest)")  // nginx passes no empty header

        // With a blocking score, the flagged request is refused, the honest one served.
        sensor.terminate()
        sensor.waitUntilExit()
        sensor = try startSensor(["--auth-block-score", "0.5"])
        // The API answers before the capture has begun (slowly on a loaded machine): wait until
        // a check sees its connection's SYN.
        try waitFor { (try? self.request(port: proxyPort, userAgent: linux))?["x-synprint-verdict"] == "ok" }
        XCTAssertThrowsError(try request(port: proxyPort, userAgent: windows)) { error in
            XCTAssertTrue("\(error)".contains("HTTP/1.1 403"), "\(error)")
        }
        XCTAssertEqual(try request(port: proxyPort, userAgent: linux)["x-synprint-verdict"], "ok")

        // synprint stopped: nginx still serves, without a verdict.
        sensor.terminate()
        sensor.waitUntilExit()
        let unchecked = try request(port: proxyPort, userAgent: windows)
        XCTAssertEqual(unchecked["x-synprint-verdict"] ?? "", "", "\(unchecked)")
        XCTAssertEqual(unchecked["user-agent"], windows)
    }

    /// nginx ends TLS in front of the upstream: a real TLS client's ClientHello, captured,
    /// weighs in the check of its request. curl (OpenSSL) under Chrome's name is `tls_mismatch`;
    /// under its own name it is not.
    func testNginxOverTLSWeighsTheClientHello() throws {
        let (folder, proxyPort, apiPort, upstreamPort, upstream) = try setUpProxyTest()
        defer { upstream.terminate() }
        try makeCertificates(in: folder, [("proxy", "IP:127.0.0.1")])
        let nginx = try startNginx(
            port: proxyPort, api: apiPort, upstream: upstreamPort, folder: folder,
            tls: (folder.appendingPathComponent("proxy.pem"), folder.appendingPathComponent("proxy.key")))
        defer {
            nginx.terminate()
            nginx.waitUntilExit()
        }
        // The checks' hellos are recorded too (--learn-tls), each labelled by its check's User-Agent.
        let recorded = folder.appendingPathComponent("hellos.jsonl")
        let sensor = try startSensor(api: apiPort, proxy: proxyPort, ["--learn-tls", recorded.path])
        defer { if sensor.isRunning { sensor.terminate() } }
        func fetch(userAgent: String) throws -> [String: String] {
            let (status, output) = try runCommand([
                "curl", "-s", "--cacert", folder.appendingPathComponent("ca.pem").path, "-A", userAgent, "https://127.0.0.1:\(proxyPort)/",
            ])
            XCTAssertEqual(status, 0, output)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: String], output)
        }
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
        let posing = try fetch(userAgent: chrome)
        XCTAssertEqual(posing["x-synprint-tls"], "curl/OpenSSL", "\(posing)")
        XCTAssertEqual(posing["x-synprint-reasons"], "tls_mismatch", "\(posing)")
        XCTAssertEqual(posing["x-synprint-verdict"], "flagged", "\(posing)")
        let honest = try fetch(userAgent: "curl/7.88.1")
        XCTAssertEqual(honest["x-synprint-tls"], "curl/OpenSSL", "\(honest)")
        XCTAssertEqual(honest["x-synprint-verdict"], "ok", "\(honest)")
        sensor.terminate()
        sensor.waitUntilExit()
        let hellos = try TLSStacks.load(file: recorded.path).stacks
        XCTAssertEqual(hellos.map(\.family), [.chromium, .openSSL], "labels are the checks' claims")
        XCTAssertEqual(hellos[0].ciphers, hellos[1].ciphers, "one client, one hello")
    }

    /// Caddy's `forward_auth`, as docs/API.md gives it: the client in `X-Forwarded-For`, its
    /// port put in `X-Real-Port`, the verdict copied to the upstream's request.
    func testCaddyForwardAuthHandsTheVerdictOn() throws {
        let (folder, proxyPort, apiPort, upstreamPort, upstream) = try setUpProxyTest()
        defer { upstream.terminate() }
        let caddyfile = """
            {
            \tadmin off
            \tauto_https off
            \tstorage file_system \(folder.path)/data
            \tlog {
            \t\toutput discard
            \t}
            }
            http://127.0.0.1:\(proxyPort) {
            \tforward_auth 127.0.0.1:\(apiPort) {
            \t\turi /v1/auth
            \t\theader_up X-Real-Port {remote_port}
            \t\tcopy_headers X-Synprint-Verdict X-Synprint-Reasons X-Synprint-Score X-Synprint-OS X-Synprint-Family X-Synprint-TLS
            \t}
            \treverse_proxy 127.0.0.1:\(upstreamPort)
            }

            """
        let file = folder.appendingPathComponent("Caddyfile")
        try caddyfile.write(to: file, atomically: true, encoding: .utf8)
        let caddy = try startProxy(
            ["caddy", "run", "--config", file.path, "--adapter", "caddyfile"], port: proxyPort,
            environment: ["HOME": folder.path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        defer {
            caddy.terminate()
            caddy.waitUntilExit()
        }
        let sensor = try startSensor(api: apiPort, proxy: proxyPort, ["--auth-address-header", "X-Forwarded-For"])
        defer { if sensor.isRunning { sensor.terminate() } }
        let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
        let claimed = try request(port: proxyPort, userAgent: windows)
        XCTAssertEqual(claimed["x-synprint-verdict"], "flagged", "\(claimed)")
        XCTAssertEqual(claimed["x-synprint-reasons"], "os_mismatch", "\(claimed)")
        XCTAssertEqual(claimed["x-synprint-family"], "Linux-like", "\(claimed)")
        let honest = try request(port: proxyPort, userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0")
        XCTAssertEqual(honest["x-synprint-verdict"], "ok", "\(honest)")
    }

    /// HAProxy (Debian's) with the shipped Lua action: the verdict reaches the upstream as
    /// request headers, a client's own X-Synprint-* headers are dropped, a block score refuses,
    /// and with synprint stopped HAProxy still serves.
    func testHAProxyLuaCheckHandsTheVerdictOnAndFailsOpen() throws {
        let (folder, proxyPort, apiPort, upstreamPort, upstream) = try setUpProxyTest()
        defer { upstream.terminate() }
        let configuration = """
            global
            \tlua-load \(repositoryRoot.appendingPathComponent("deploy/haproxy/synprint.lua").path)
            defaults
            \tmode http
            \ttimeout connect 2s
            \ttimeout client 5s
            \ttimeout server 5s
            frontend web
            \tbind 127.0.0.1:\(proxyPort)
            \thttp-request lua.synprint-check 127.0.0.1:\(apiPort)
            \thttp-request deny deny_status 403 if { var(txn.synprint_blocked) -m bool }
            \tdefault_backend app
            backend app
            \tserver app 127.0.0.1:\(upstreamPort)

            """
        let file = folder.appendingPathComponent("haproxy.cfg")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
        check.arguments = ["-c", "-q", "-f", file.path]
        try check.run()
        check.waitUntilExit()
        XCTAssertEqual(check.terminationStatus, 0, "haproxy -c refuses the configuration")
        let haproxy = try startProxy(["/usr/sbin/haproxy", "-db", "-f", file.path], port: proxyPort)
        defer {
            haproxy.terminate()
            haproxy.waitUntilExit()
        }
        var sensor = try startSensor(api: apiPort, proxy: proxyPort)
        defer { if sensor.isRunning { sensor.terminate() } }
        let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
        let linux = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
        try waitFor { (try? self.request(port: proxyPort, userAgent: linux))?["x-synprint-verdict"] == "ok" }
        // A Linux stack claiming Windows, and saying itself that it is fine: flagged all the same.
        let claimed = try request(port: proxyPort, userAgent: windows, headers: "X-Synprint-Verdict: ok\r\n")
        XCTAssertEqual(claimed["x-synprint-verdict"], "flagged", "\(claimed)")
        XCTAssertEqual(claimed["x-synprint-reasons"], "os_mismatch", "\(claimed)")
        XCTAssertEqual(claimed["x-synprint-family"], "Linux-like", "\(claimed)")
        XCTAssertEqual(claimed["x-synprint-tls"], "unknown", "\(claimed)")
        let honest = try request(port: proxyPort, userAgent: linux)
        XCTAssertEqual(honest["x-synprint-verdict"], "ok", "\(honest)")
        XCTAssertNil(honest["x-synprint-reasons"], "\(honest)")
        // A block score: the flagged request is refused, the honest one served.
        sensor.terminate()
        sensor.waitUntilExit()
        sensor = try startSensor(api: apiPort, proxy: proxyPort, ["--auth-block-score", "0.5"])
        try waitFor { (try? self.request(port: proxyPort, userAgent: linux))?["x-synprint-verdict"] == "ok" }
        // HAProxy's first check may still go to the stopped sensor's connection and fail open
        // (as it should): the flagged request is refused within a few tries.
        var refusal: Error?
        for _ in 0..<5 where refusal == nil {
            do { _ = try request(port: proxyPort, userAgent: windows) } catch { refusal = error }
            if refusal == nil { usleep(100_000) }
        }
        XCTAssertTrue(refusal.map { "\($0)".contains("HTTP/1.1 403") } ?? false, "\(String(describing: refusal))")
        XCTAssertEqual(try request(port: proxyPort, userAgent: linux)["x-synprint-verdict"], "ok")
        // synprint stopped: HAProxy serves without a verdict, and drops the client's own.
        sensor.terminate()
        sensor.waitUntilExit()
        let unchecked = try request(port: proxyPort, userAgent: windows, headers: "X-Synprint-Verdict: ok\r\n")
        XCTAssertNil(unchecked["x-synprint-verdict"], "\(unchecked)")
        XCTAssertEqual(unchecked["user-agent"], windows)
    }

    /// What each test starts from: a folder, the proxy's, API's and upstream's ports, and the
    /// upstream that echoes headers (the caller stops it).
    func setUpProxyTest() throws -> (folder: URL, proxy: Int, api: Int, upstream: Int, echo: Process) {
        guard geteuid() == 0 else { throw XCTSkip("capturing the loopback interface needs the tests to run as root") }
        let folder = try temporaryFolder()
        let ports = try freePorts(3)
        return (folder, ports[0], ports[1], ports[2], try startUpstream(port: ports[2], folder: folder))
    }

    /// A proxy in the foreground (its output discarded), once it listens on `port`.
    func startProxy(_ command: [String], port: Int, environment: [String: String]? = nil) throws -> Process {
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        proxy.arguments = command
        if let environment { proxy.environment = environment }
        proxy.standardError = FileHandle.nullDevice
        proxy.standardOutput = FileHandle.nullDevice
        try proxy.run()
        do {
            try waitForPort(port)
        } catch {
            proxy.terminate()
            throw error
        }
        return proxy
    }

    /// synprint capturing the proxy's port on the loopback interface, its API on `api`.
    func startSensor(api: Int, proxy: Int, _ options: [String] = []) throws -> Process {
        let sensor = Process()
        sensor.executableURL = synprintExecutable
        sensor.arguments =
            ["-i", "lo", "--http", "--api", "127.0.0.1:\(api)", "--allow-root", "--auth-wait-ms", "500", "-o", "/dev/null"] + options
            + ["tcp", "port", "\(proxy)"]
        sensor.standardError = FileHandle.nullDevice
        try sensor.run()
        try waitForPort(api)
        return sensor
    }

    /// One request through the proxy; the headers the upstream got (lower-case names).
    func request(port: Int, userAgent: String, headers: String = "") throws -> [String: String] {
        let socket = try connected(port)
        defer { close(socket) }
        let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: \(userAgent)\r\n\(headers)Connection: close\r\n\r\n"
        guard request.utf8CString.withUnsafeBufferPointer({ send(socket, $0.baseAddress, $0.count - 1, 0) }) == request.utf8.count else {
            throw NotDecoded(description: "could not send the request")
        }
        var answer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            answer += chunk[0..<count]
        }
        let text = String(decoding: answer, as: UTF8.self)
        // HAProxy passes the upstream's HTTP/1.0 status line on; nginx answers in 1.1.
        guard text.hasPrefix("HTTP/1.1 200") || text.hasPrefix("HTTP/1.0 200"),
            let body = text.range(of: "\r\n\r\n").map({ text[$0.upperBound...] })
        else {
            throw NotDecoded(description: "the proxy answered: \(text.prefix(300))")
        }
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String], String(body))
    }

    /// An upstream that answers every GET with the request's headers as a JSON object.
    func startUpstream(port: Int, folder: URL) throws -> Process {
        let script = """
            import http.server, json
            class Echo(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *args):
                    pass
            http.server.HTTPServer(("127.0.0.1", \(port)), Echo).serve_forever()
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        try process.run()
        try waitForPort(port)
        return process
    }

    /// nginx in the foreground with the shipped snippets, the API's port put in; with `tls`
    /// (certificate, key), over HTTPS.
    func startNginx(port: Int, api: Int, upstream: Int, folder: URL, tls: (certificate: URL, key: URL)? = nil) throws -> Process {
        let snippets = repositoryRoot.appendingPathComponent("deploy/nginx")
        let shipped = try String(contentsOf: snippets.appendingPathComponent("synprint-upstream.conf"), encoding: .utf8)
        XCTAssertTrue(shipped.contains("127.0.0.1:8249"))
        let upstreamSnippet = folder.appendingPathComponent("synprint-upstream.conf")
        try shipped.replacingOccurrences(of: "127.0.0.1:8249", with: "127.0.0.1:\(api)")
            .write(to: upstreamSnippet, atomically: true, encoding: .utf8)
        let temp = folder.path
        let configuration = """
            worker_processes 1;
            daemon off;
            pid \(temp)/nginx.pid;
            error_log \(temp)/error.log;
            events { worker_connections 64; }
            http {
                access_log off;
                client_body_temp_path \(temp)/body;
                proxy_temp_path \(temp)/proxy;
                fastcgi_temp_path \(temp)/fastcgi;
                uwsgi_temp_path \(temp)/uwsgi;
                scgi_temp_path \(temp)/scgi;
                include \(upstreamSnippet.path);
                server {
                    listen 127.0.0.1:\(port)\(tls == nil ? "" : " ssl");
                    \(tls.map { "ssl_certificate \($0.certificate.path); ssl_certificate_key \($0.key.path);" } ?? "")
                    include \(snippets.appendingPathComponent("synprint.conf").path);
                    location / {
                        include \(snippets.appendingPathComponent("synprint-check.conf").path);
                        proxy_pass http://127.0.0.1:\(upstream);
                    }
                }
            }
            """
        let file = folder.appendingPathComponent("nginx.conf")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["nginx", "-c", file.path, "-p", temp, "-e", "\(temp)/error.log"]
        try process.run()
        try waitForPort(port)
        return process
    }
}

/// A TCP connection to the loopback port.
func connected(_ port: Int) throws -> Int32 {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let done = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard done else {
        close(socket)
        throw NotDecoded(description: "cannot connect to port \(port)")
    }
    return socket
}

/// Waits (at most 10 s) until something accepts connections on the loopback port.
func waitForPort(_ port: Int) throws {
    try waitFor {
        guard let socket = try? connected(port) else { return false }
        close(socket)
        return true
    }
}
