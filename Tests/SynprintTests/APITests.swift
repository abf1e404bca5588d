import Synchronization
import XCTest

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Starts synprint on a capture fed through a FIFO (so it keeps running), with the HTTP API
/// and the p0f socket, and talks to both as clients do.
final class APITests: XCTestCase {
    var process: Process!
    var feed: FileHandle!
    var folder: URL!
    var port = 0
    static let key = "test-key"
    static let linuxClient = "10.163.52.227"  // the fixture's Linux SYN with a Windows User-Agent
    static let linuxClientPort = 38547

    override func setUpWithError() throws {
        folder = try temporaryFolder()
        let fifo = folder.appendingPathComponent("capture.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        process = Process()
        process.executableURL = synprintExecutable
        process.arguments = [
            "-r", fifo.path, "-o", "/dev/null", "--api", "127.0.0.1:0", "--api-key", APITests.key, "--allow-root",
            "--p0f-socket", folder.appendingPathComponent("p0f.sock").path,
            "--alerts", folder.appendingPathComponent("alerts.jsonl").path,
        ]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        feed = try FileHandle(forWritingTo: fifo)
        feed.write(try Data(contentsOf: CommandTests.fixture))
        // The bound port is announced on standard error.
        var text = ""
        try waitFor {
            text += String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
            return text.contains("API listening on")
        }
        port = Int(text.split(separator: "\n").first { $0.contains("API listening on") }!.split(separator: ":").last!)!
        try waitFor { (try? self.request("GET", "/v1/lookup?ip=\(APITests.linuxClient)").status) == 200 }
    }

    override func tearDownWithError() throws {
        try feed?.close()
        process?.waitUntilExit()
        XCTAssertEqual(process?.terminationStatus, 0)
    }

    func request(
        _ method: String, _ path: String, body: String? = nil, key: String? = APITests.key
    ) throws -> (status: Int, json: [String: Any]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body.map { Data($0.utf8) }
        if let key { request.setValue(key, forHTTPHeaderField: "X-API-Key") }
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<(Int, Data)?>(nil)
        URLSession.shared.dataTask(with: request) { data, response, _ in
            if let response = response as? HTTPURLResponse { result.withLock { $0 = (response.statusCode, data ?? Data()) } }
            done.signal()
        }.resume()
        done.wait()
        let (status, data) = try XCTUnwrap(result.withLock { $0 })
        return (status, (try JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    func testLookup() throws {
        let found = try request("GET", "/v1/lookup?ip=\(APITests.linuxClient)")
        XCTAssertEqual(found.status, 200)
        let connections = try XCTUnwrap(found.json["connections"] as? [[String: Any]])
        XCTAssertEqual(connections.count, 1)
        let syn = try XCTUnwrap(connections[0]["syn"] as? [String: Any])
        XCTAssertEqual(syn["src_ip"] as? String, APITests.linuxClient)
        XCTAssertEqual((syn["os"] as? [String: Any])?["class"] as? String, "Linux")
        XCTAssertNotNil(syn["raw_sig"] as? String)
        XCTAssertNotNil((connections[0]["request"] as? [String: Any])?["user_agent"] as? String)
        XCTAssertEqual(try request("GET", "/v1/lookup?ip=\(APITests.linuxClient)&port=\(APITests.linuxClientPort)").status, 200)
        XCTAssertEqual(try request("GET", "/v1/lookup?ip=\(APITests.linuxClient)&port=1").status, 404)
        XCTAssertEqual(try request("GET", "/v1/lookup?ip=192.0.2.99").status, 404)
        let missing = try request("GET", "/v1/lookup")
        XCTAssertEqual(missing.status, 400)
        XCTAssertNotNil(missing.json["error"] as? String)
        XCTAssertEqual(try request("GET", "/v1/lookup?ip=not-an-address").status, 400)
        XCTAssertEqual(try request("GET", "/v1/lookup?ip=\(APITests.linuxClient)&port=99999").status, 400)
        XCTAssertEqual(try request("GET", "/v1/lookup?ip=\(APITests.linuxClient)&port=%2B\(APITests.linuxClientPort)").status, 400)
    }

    func testCheckJudgesAndAlerts() throws {
        let body =
            "{\"ip\": \"\(APITests.linuxClient)\", \"port\": \(APITests.linuxClientPort), "
            + "\"user_agent\": \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0\", \"headers\": {\"Via\": \"1.1 cdn\"}}"
        let checked = try request("POST", "/v1/check", body: body)
        XCTAssertEqual(checked.status, 200)
        let verdict = try XCTUnwrap(checked.json["verdict"] as? [String: Any])
        XCTAssertEqual(verdict["flagged"] as? Bool, true)
        XCTAssertEqual(Set(verdict["reasons"] as? [String] ?? []), ["os_mismatch", "proxy_headers"])
        XCTAssertEqual(checked.json["alerted"] as? Bool, true)
        // The alert line says it came from the API.
        let alerts = folder.appendingPathComponent("alerts.jsonl")
        try waitFor { jsonLines((try? String(contentsOf: alerts, encoding: .utf8)) ?? "").contains { $0["source"] as? String == "api" } }
        // A Linux User-Agent on the Linux stack is fine.
        let fine = try request(
            "POST", "/v1/check",
            body: "{\"ip\": \"\(APITests.linuxClient)\", \"user_agent\": \"Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0\"}")
        XCTAssertEqual((fine.json["verdict"] as? [String: Any])?["flagged"] as? Bool, false)
        // Bad input: a clear 4xx, never a crash.
        XCTAssertEqual(try request("POST", "/v1/check", body: "{not json").status, 400)
        XCTAssertEqual(try request("POST", "/v1/check", body: "{\"user_agent\": \"x\"}").status, 400)
        XCTAssertEqual(try request("POST", "/v1/check", body: "{\"ip\": \"10.1.1.1\"}").status, 400)
        XCTAssertEqual(
            try request("POST", "/v1/check", body: "{\"ip\": \"10.1.1.1\", \"port\": \"eighty\", \"user_agent\": \"x\"}").status, 400)
        XCTAssertEqual(try request("POST", "/v1/check", body: "{\"ip\": \"192.0.2.99\", \"user_agent\": \"x\"}").status, 404)
        XCTAssertEqual(try request("POST", "/v1/check", body: "[1, 2]").status, 400)
        XCTAssertEqual(try request("GET", "/v1/health").status, 200)
    }

    func testAPIKeyIsRequired() throws {
        XCTAssertEqual(try request("GET", "/v1/lookup?ip=\(APITests.linuxClient)", key: nil).status, 401)
        XCTAssertEqual(try request("GET", "/v1/lookup?ip=\(APITests.linuxClient)", key: "wrong").status, 401)
        // The key's prefixes, the key with more after it, and another of its length are all wrong.
        for wrong in ["", "test-ke", APITests.key + "y", "test-kez"] {
            XCTAssertEqual(try request("GET", "/v1/lookup?ip=\(APITests.linuxClient)", key: wrong).status, 401, wrong)
        }
        XCTAssertEqual(try request("GET", "/v1/lookup?ip=\(APITests.linuxClient)").status, 200)
        // The Authorization scheme in any case.
        for scheme in ["Bearer", "bearer", "BEARER"] {
            var bearer = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/lookup?ip=\(APITests.linuxClient)")!)
            bearer.setValue("\(scheme) \(APITests.key)", forHTTPHeaderField: "Authorization")
            let status = Mutex<Int?>(nil)
            let done = DispatchSemaphore(value: 0)
            URLSession.shared.dataTask(with: bearer) { _, response, _ in
                status.withLock { $0 = (response as? HTTPURLResponse)?.statusCode }
                done.signal()
            }.resume()
            done.wait()
            XCTAssertEqual(status.withLock { $0 }, 200, scheme)
        }
    }

    /// A client of the p0f socket.
    func p0fClient() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = folder.appendingPathComponent("p0f.sock").path
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(connected, 0)
        return fd
    }

    func p0fQuery(_ fd: Int32, magic: UInt32 = 0x5030_4601, type: UInt8 = 4, address: [UInt8]) -> [UInt8] {
        var bytes = withUnsafeBytes(of: magic) { Array($0) } + [type] + address
        bytes += [UInt8](repeating: 0, count: 21 - bytes.count)
        XCTAssertEqual(write(fd, bytes, bytes.count), 21)
        var reply = [UInt8](repeating: 0, count: 232)
        var got = 0
        while got < 232 {
            let n = reply.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, 232 - got) }
            guard n > 0 else { break }
            got += n
        }
        XCTAssertEqual(got, 232)
        return reply
    }

    /// A p0f client's query over the unix socket: 21 bytes in, 232 out, host byte order.
    func testP0fSocketProtocol() throws {
        let fd = try p0fClient()
        defer { close(fd) }
        func query(magic: UInt32 = 0x5030_4601, type: UInt8 = 4, address: [UInt8]) -> [UInt8] {
            p0fQuery(fd, magic: magic, type: type, address: address)
        }
        func u32(_ r: [UInt8], _ offset: Int) -> UInt32 { r.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) } }
        func text(_ r: [UInt8], _ offset: Int) -> String { String(decoding: r[offset..<offset + 32].prefix { $0 != 0 }, as: UTF8.self) }
        let known = query(address: [10, 163, 52, 227])
        XCTAssertEqual(u32(known, 0), 0x5030_4602)
        XCTAssertEqual(u32(known, 4), 0x10)
        XCTAssertEqual(u32(known, 16), 1)  // total connections
        XCTAssertEqual(known[38], 2)  // bad_sw: the User-Agent's OS mismatches
        XCTAssertEqual(text(known, 40), "Linux")
        XCTAssertEqual(text(known, 104), "Windows")  // the OS the User-Agent claims
        XCTAssertEqual(text(known, 168), "Ethernet or modem")
        XCTAssertEqual(u32(query(type: 6, address: [UInt8](repeating: 0, count: 10) + [255, 255, 10, 163, 52, 227]), 4), 0x10)
        XCTAssertEqual(u32(query(address: [192, 0, 2, 99]), 4), 0x20)
        XCTAssertEqual(u32(query(magic: 0xDEAD_BEEF, address: [10, 163, 52, 227]), 4), 0x00)
        XCTAssertEqual(u32(query(type: 5, address: [10, 163, 52, 227]), 4), 0x00)
    }

    /// A second run given the socket this one listens on refuses it instead of replacing it.
    func testALiveP0fSocketIsNotTakenOver() throws {
        let socket = folder.appendingPathComponent("p0f.sock").path
        let second = try runSynprint(["-r", HardeningTests.sample, "-o", "/dev/null", "--p0f-socket", socket, "--allow-root"])
        XCTAssertEqual(second.status, 1, second.stderr)
        XCTAssertTrue(second.stderr.contains("is in use"), second.stderr)
        let fd = try p0fClient()
        defer { close(fd) }
        XCTAssertEqual(
            p0fQuery(fd, address: [10, 163, 52, 227]).withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }, 0x10)
    }

    /// Clients that send half a query and stall do not lock others out; many clients at once
    /// wait their turn instead of being reset; the socket has p0f's mode.
    func testP0fSocketServesEveryoneAndIsOpenToLocalUsers() throws {
        var status = stat()
        XCTAssertEqual(stat(folder.appendingPathComponent("p0f.sock").path, &status), 0)
        XCTAssertEqual(status.st_mode & 0o777, 0o666)
        let stalled = try (0..<40).map { _ in try p0fClient() }
        for fd in stalled { XCTAssertEqual(write(fd, [1, 2, 3], 3), 3) }
        let clients = try (0..<100).map { _ in try p0fClient() }
        for fd in clients {
            let reply = p0fQuery(fd, address: [10, 163, 52, 227])
            XCTAssertEqual(reply.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }, 0x10)
        }
        for fd in stalled + clients { close(fd) }
    }

    /// A client that writes queries and never reads the replies is no longer read from: the
    /// socket stops taking its bytes and the sensor's memory stays flat. One that sends a byte at
    /// a time completes no query within 10 s and is closed. Others are served meanwhile.
    func testP0fSocketStopsReadingDeafClientsAndClosesDribblers() throws {
        let query = withUnsafeBytes(of: UInt32(0x5030_4601)) { Array($0) } + [4, 10, 163, 52, 227] + [UInt8](repeating: 0, count: 12)
        let burst = Array([[UInt8]](repeating: query, count: 20_000).joined())
        func residentKiB() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
            return Int(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ")[1] ?? "") ?? 0
        }
        let deaf = try p0fClient()
        defer { close(deaf) }
        XCTAssertEqual(fcntl(deaf, F_SETFL, fcntl(deaf, F_GETFL) | O_NONBLOCK), 0)
        let before = residentKiB()
        var accepted = 0
        let until = Date().addingTimeInterval(3)
        while Date() < until, accepted < 16 << 20 {
            let n = burst.withUnsafeBytes { send(deaf, $0.baseAddress!, burst.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { accepted += n } else { usleep(10_000) }
        }
        XCTAssertLessThan(accepted, 4 << 20, "the sensor went on reading queries whose replies were not read")
        XCTAssertLessThan(residentKiB() - before, 32 << 10, "KiB the sensor grew by")
        let other = try p0fClient()
        XCTAssertEqual(
            p0fQuery(other, address: [10, 163, 52, 227]).withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }, 0x10)
        close(other)
        let dribbler = try p0fClient()
        defer { close(dribbler) }
        let started = Date()
        var closedAfter: TimeInterval?
        for byte in query.prefix(20) {
            guard send(dribbler, [byte], 1, Int32(MSG_NOSIGNAL)) == 1 else { break }
            var ready = pollfd(fd: dribbler, events: Int16(POLLIN), revents: 0)
            var end: UInt8 = 0
            if poll(&ready, 1, 700) > 0, read(dribbler, &end, 1) <= 0 {
                closedAfter = Date().timeIntervalSince(started)
                break
            }
        }
        XCTAssertLessThan(try XCTUnwrap(closedAfter, "the dribbling client was never closed"), 12.5)
    }

    /// Every answer is JSON, unknown paths and wrong methods included; types are strict; a
    /// check may wait for its connection's SYN.
    func testErrorsAreJSONAndTypesStrict() throws {
        let unknown = try request("GET", "/v2/nothing")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertNotNil(unknown.json["error"] as? String)
        let wrongMethod = try request("DELETE", "/v1/lookup?ip=\(APITests.linuxClient)")
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertNotNil(wrongMethod.json["error"] as? String)
        XCTAssertEqual(try request("GET", "/v1/check").status, 405)
        let boolPort = try request(
            "POST", "/v1/check", body: "{\"ip\": \"\(APITests.linuxClient)\", \"port\": true, \"user_agent\": \"x\"}")
        XCTAssertEqual(boolPort.status, 400)
        XCTAssertEqual(try request("POST", "/v1/check", body: "{\"ip\": \"\(APITests.linuxClient)\", \"user_agent\": 7}").status, 400)
        XCTAssertEqual(
            try request(
                "POST", "/v1/check", body: "{\"ip\": \"\(APITests.linuxClient)\", \"user_agent\": \"x\", \"headers\": {\"Via\": 1}}"
            ).status, 400)
        let started = Date()
        let waited = try request("POST", "/v1/check", body: "{\"ip\": \"192.0.2.99\", \"user_agent\": \"x\", \"wait_ms\": 300}")
        XCTAssertEqual(waited.status, 404)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.3)
    }
}
