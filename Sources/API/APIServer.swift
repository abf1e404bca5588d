import Decode
import Features
import Formatting
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Match
import Output
import Synchronization
import Verdict

/// The HTTP lookup API for web applications that see what the capture cannot (HTTPS headers):
///   GET  /v1/lookup?ip=…[&port=…]   the host's latest connections (the one from `port` if given)
///   POST /v1/check {ip, port?, user_agent, headers?}   fingerprint, OS guess, link and verdict
///   GET  /v1/health                 liveness and table sizes
/// Every answer is JSON; bad input is a 4xx with `{"error": "..."}`. It runs on its own threads
/// beside the capture loop and reads the verdict stage's locked host table.
public final class APIServer: Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var key: String?

        public init(host: String, port: Int, key: String?) {
            self.host = host
            self.port = port
            self.key = key
        }

        /// `HOST:PORT`, `PORT`, or `[IPv6]:PORT`.
        public init?(address: String, key: String?) {
            var host = "127.0.0.1"
            var portText = Substring(address)
            if let colon = address.lastIndex(of: ":") {
                host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                portText = address[address.index(after: colon)...]
            }
            guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
            self.init(host: host, port: port, key: key)
        }
    }

    let judge: VerdictJudge
    let database: Database?
    let settings: Settings
    let onAlert: @Sendable (String) -> Void
    let onCheck: @Sendable (SynObservation, HTTPRequestHead, Verdict) -> Void
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// `onAlert` receives each flagged check as a complete alert line; `onCheck` every checked
    /// connection with the request the application saw (for `--learn`).
    public init(
        settings: Settings, judge: VerdictJudge, database: Database?,
        onAlert: @escaping @Sendable (String) -> Void,
        onCheck: @escaping @Sendable (SynObservation, HTTPRequestHead, Verdict) -> Void = { _, _, _ in }
    ) {
        self.settings = settings
        self.judge = judge
        self.database = database
        self.onAlert = onAlert
        self.onCheck = onCheck
    }

    /// Starts listening and returns the bound port once the server accepts connections.
    public func start() throws -> Int {
        let ready = DispatchSemaphore(value: 0)
        let outcome = StartOutcome()
        var logger = Logger(label: "synprint.api") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "synprint"),
            onServerRunning: { channel in
                outcome.result.withLock { $0 = .success(channel.localAddress?.port ?? 0) }
                ready.signal()
            },
            logger: logger)
        task.withLock {
            $0 = Task.detached {
                do {
                    try await app.run()
                } catch {
                    outcome.result.withLock { if $0 == nil { $0 = .failure(error) } }
                    ready.signal()
                }
            }
        }
        ready.wait()
        switch outcome.result.withLock({ $0 })! {
        case .success(let port): return port
        case .failure(let error): throw APIError("cannot serve the API on \(settings.host):\(settings.port): \(error)")
        }
    }

    public func stop() {
        task.withLock { $0?.cancel() }
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: KeyCheck(key: settings.key))
        router.get("/v1/lookup") { request, _ in self.lookup(request) }
        router.post("/v1/check") { request, _ in
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: 64 * 1024)
            } catch {
                return APIServer.error(.contentTooLarge, "the body is larger than 64 KiB")
            }
            return self.check(Data(body.readableBytesView))
        }
        router.get("/v1/health") { _, _ in
            APIServer.json(.ok, "{\"status\":\"ok\",\"hosts\":\(self.judge.hosts.count)}")
        }
        return router
    }

    func lookup(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        guard let ipText = query["ip"].map(String.init) else { return APIServer.error(.badRequest, "the ip parameter is missing") }
        guard let address = IPAddress(ipText) else { return APIServer.error(.badRequest, "ip is not an IPv4 or IPv6 address") }
        var port: UInt16?
        if let portText = query["port"] {
            guard let value = UInt16(portText) else { return APIServer.error(.badRequest, "port must be 0 to 65535") }
            port = value
        }
        guard let host = judge.hosts.host(address) else {
            return APIServer.error(.notFound, "no SYN seen from \(ipText)")
        }
        let connections = port.map { port in host.recent.filter { $0.syn.fingerprint.segment.sourcePort == port } } ?? host.recent
        guard !connections.isEmpty else { return APIServer.error(.notFound, "no SYN kept from \(ipText) port \(port!)") }
        let out = TextBuffer(capacity: 4096)
        out.append("{\"ip\":\""); out.append(ip: address)
        out.append("\",\"first_seen\":\""); out.appendTimestamp(seconds: host.firstSeen, microseconds: 0)
        out.append("\",\"last_seen\":\""); out.appendTimestamp(seconds: host.lastSeen, microseconds: 0)
        out.append("\",\"connections_seen\":"); out.append(host.connections)
        out.append(",\"ip_sharing\":"); out.append(bool: judge.hosts.sharing(address, at: host.lastSeen))
        out.append(",\"connections\":[")
        for (i, connection) in connections.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            RequestJSON.writeConnection(connection, database: database, to: out)
        }
        out.append("]}")
        return APIServer.json(.ok, out.string)
    }

    func check(_ body: Data) -> Response {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            return APIServer.error(
                .badRequest, "the body must be a JSON object: {\"ip\": ..., \"port\": ..., \"user_agent\": ..., \"headers\": {...}}")
        }
        guard let ipText = object["ip"] as? String else { return APIServer.error(.badRequest, "ip (a string) is missing") }
        guard let address = IPAddress(ipText) else { return APIServer.error(.badRequest, "ip is not an IPv4 or IPv6 address") }
        var port: UInt16?
        if let value = object["port"] {
            guard let number = value as? Int, let fitted = UInt16(exactly: number) else {
                return APIServer.error(.badRequest, "port must be a number from 0 to 65535")
            }
            port = fitted
        }
        var headers: [(String, String)] = []
        if let value = object["headers"] {
            guard let dictionary = value as? [String: Any], let strings = dictionary as? [String: String] else {
                return APIServer.error(.badRequest, "headers must be an object of strings")
            }
            headers = strings.sorted { $0.key < $1.key }
        }
        let userAgent: String?
        switch object["user_agent"] {
        case nil: userAgent = nil
        case let text as String: userAgent = text
        default: return APIServer.error(.badRequest, "user_agent must be a string")
        }
        guard userAgent != nil || headers.contains(where: { $0.0.lowercased() == "user-agent" }) else {
            return APIServer.error(.badRequest, "user_agent is missing")
        }
        let now = Int(Date().timeIntervalSince1970)
        var request = HTTPRequestHead(method: "")
        for (name, value) in headers { request.take(header: name, value: value) }
        if let userAgent { request.userAgent = userAgent }
        guard let (connection, verdict) = judge.check(address: address, port: port, request: request, at: now) else {
            return APIServer.error(.notFound, port.map { "no SYN kept from \(ipText) port \($0)" } ?? "no SYN seen from \(ipText)")
        }
        onCheck(connection.syn, request, verdict)
        if verdict.flagged {
            let line = TextBuffer(capacity: 4096)
            let observation = HTTPObservation(seconds: now, microseconds: 0, syn: connection.syn, request: request)
            RequestJSON.write(
                JudgedRequest(observation: observation, verdict: verdict), type: "alert", source: "api",
                database: database, to: line)
            onAlert(line.string)
        }
        let out = TextBuffer(capacity: 4096)
        out.append("{\"ip\":\""); out.append(ip: address)
        out.append("\",\"port\":"); out.append(connection.syn.fingerprint.segment.sourcePort)
        out.append(",\"connection\":"); RequestJSON.writeConnection(connection, database: database, to: out)
        out.append(",\"verdict\":"); RequestJSON.writeVerdict(verdict, to: out)
        out.append(",\"alerted\":"); out.append(bool: verdict.flagged)
        out.append(ascii: "}")
        return APIServer.json(.ok, out.string)
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let out = TextBuffer(capacity: 128)
        out.append("{\"error\":"); out.appendJSONString(message); out.append(ascii: "}")
        return json(status, out.string)
    }
}

/// With `--api-key`, every request must carry it in `X-API-Key` or `Authorization: Bearer`.
struct KeyCheck: RouterMiddleware {
    let key: String?

    func handle(
        _ request: Request, context: BasicRequestContext,
        next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let key else { return try await next(request, context) }
        let given =
            request.headers[HTTPField.Name("X-API-Key")!]
            ?? request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard given == key else { return APIServer.error(.unauthorized, "a valid API key is required (X-API-Key header)") }
        return try await next(request, context)
    }
}

/// How starting the server ended, shared between the starting thread and the server's task.
final class StartOutcome: Sendable {
    let result = Mutex<Result<Int, Error>?>(nil)
}

public struct APIError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
