import Decode
import Features
import Formatting
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Match
import NIOCore
import NIOHTTPTypes
import Output
import Synchronization
import Tables
import Verdict

/// The HTTP lookup API for web applications that see what the capture cannot (HTTPS headers):
///   GET  /v1/lookup?ip=…[&port=…]   the host's latest connections (the one from `port` if given)
///   POST /v1/check {ip, port?, user_agent, headers?, wait_ms?}   fingerprint, OS guess, path and verdict
///   GET  /v1/auth                   the same check for a reverse proxy's forward-auth subrequest: the
///                                   client from request headers, the verdict in response headers
///   GET  /v1/health                 liveness and table sizes
/// Every answer is JSON, errors included (`{"error": "..."}` with 400, 401, 404, 405 or 413).
/// It runs on its own threads beside the capture and reads the verdict stage's locked host table.
/// Idle connections are closed after `idleTimeout` seconds, a request must arrive whole within
/// `requestTimeout` seconds of its head, and at most `maxConnections` are served at once (the
/// rest are closed at once), so held-open sockets cannot exhaust descriptors.
public final class APIServer: Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var key: String?
        public var idleTimeout = 30
        /// Seconds a request may take from its head to its last byte.
        public var requestTimeout = 10
        public var maxConnections = 512
        public static let maxBody = 64 * 1024
        public var auth = Auth()

        /// The forward-auth check (`GET /v1/auth`): which headers the proxy puts the client in,
        /// how long to wait for its SYN, and when to refuse.
        public struct Auth: Sendable {
            /// The client's address; a list (X-Forwarded-For) gives its last element, the one the
            /// nearest proxy added.
            public var addressHeader = "X-Real-IP"
            public var portHeader = "X-Real-Port"
            public var userAgentHeader = "User-Agent"
            /// Milliseconds to wait for a connection's SYN the capture has not handed on yet.
            public var waitMilliseconds = 5
            /// A flagged request scoring at least this is refused with 403; nil: never refused.
            public var blockScore: Float?

            public init() {}

            /// A valid HTTP field name (a token).
            public static func isHeaderName(_ name: String) -> Bool { HTTPField.Name(name) != nil }
        }
        /// The longest a check may wait for its connection's SYN (`wait_ms`).
        public static let maxWaitMilliseconds = 2000

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

        /// Bound to a loopback address (reachable from this host only).
        public var isLoopback: Bool {
            guard let address = IPAddress(host) else { return host == "localhost" }
            return address.isV6 ? (address.high == 0 && address.low == 1) : address.v4 >> 24 == 127
        }
    }

    let judge: VerdictJudge
    let database: Database?
    let labels: EventLabels
    let metrics: MetricsExporter?
    /// `/v1/connections/stats`: the connection aggregates of the last N minutes, as JSON
    /// (with `--connections`).
    let connectionStats: (@Sendable (Int) -> String)?
    let settings: Settings
    let onAlert: @Sendable (String, JudgedRequest) -> Void
    let onCheck: @Sendable (JudgedRequest) -> Void
    private let server = ServerTask()
    private let connections = ConnectionCount()
    /// Connections checked recently, by client address and port: the host table keeps a few
    /// connections per address, and a kept-alive connection's later requests (a proxy asks for
    /// each) must still find its SYN. Bounded; what it pushes out is counted (`/v1/health`).
    private let checked = Mutex(BoundedTable<ClientPort, ConnectionRecord>(capacity: APIServer.checkedCapacity))
    private let checkedEvicted = Atomic<Int>(0)
    static let checkedCapacity = 16_384

    struct ClientPort: Hashable {
        var address: IPAddress
        var port: UInt16
    }

    /// `onCheck` receives every checked connection with the request the application saw and the
    /// verdict on it; `onAlert` each flagged one again, with its complete alert line.
    public init(
        settings: Settings, judge: VerdictJudge, database: Database?, labels: EventLabels, metrics: MetricsExporter? = nil,
        connectionStats: (@Sendable (Int) -> String)? = nil, onAlert: @escaping @Sendable (String, JudgedRequest) -> Void,
        onCheck: @escaping @Sendable (JudgedRequest) -> Void = { _ in }
    ) {
        self.settings = settings
        self.judge = judge
        self.database = database
        self.labels = labels
        self.metrics = metrics
        self.connectionStats = connectionStats
        self.onAlert = onAlert
        self.onCheck = onCheck
    }

    /// Starts listening and returns the bound port once the server accepts connections.
    public func start() throws -> Int {
        let connections = self.connections, limit = settings.maxConnections, requestTimeout = settings.requestTimeout
        return try server.start(failing: "cannot serve the API on \(settings.host):\(settings.port)") { onRunning in
            Application(
                router: router(),
                server: .http1(
                    configuration: .init(
                        additionalChannelHandlers: [
                            ConnectionLimit(count: connections, limit: limit),
                            RequestDeadline(limit: .seconds(Int64(requestTimeout))),
                        ], idleTimeout: .seconds(Int64(settings.idleTimeout)))),
                configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "synprint", backlog: 256),
                onServerRunning: onRunning, logger: ServerTask.logger("synprint.api"))
        }
    }

    public func stop() {
        server.stop()
    }

    static let routes: [String: HTTPRequest.Method] = [
        "/v1/lookup": .get, "/v1/check": .post, "/v1/auth": .get, "/v1/health": .get, "/metrics": .get, "/v1/connections/stats": .get,
    ]

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrors())
        // Requests by route and status, with latency histograms, into the same registry.
        if metrics != nil { router.add(middleware: MetricsMiddleware()) }
        router.add(middleware: KeyCheck(key: settings.key))
        // Behind the key like the lookups: the counts describe the traffic (the separate
        // --metrics listener has no key and binds the loopback by default).
        if let metrics { router.get("/metrics") { _, _ in MetricsExporter.response(metrics.render()) } }
        if let connectionStats {
            router.get("/v1/connections/stats") { request, _ in
                let text = request.uri.queryParameters["minutes"].map(String.init) ?? "10"
                guard let minutes = Int(text), (1...60).contains(minutes) else {
                    return APIServer.error(.badRequest, "minutes must be 1 to 60")
                }
                return APIServer.json(.ok, connectionStats(minutes))
            }
        }
        router.get("/v1/lookup") { request, _ in self.lookup(request) }
        router.post("/v1/check") { request, _ in
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: Settings.maxBody)
            } catch {
                return APIServer.error(.contentTooLarge, "the body is larger than \(Settings.maxBody / 1024) KiB")
            }
            return await self.check(body)
        }
        router.get("/v1/auth") { request, _ in await self.authorize(request) }
        router.get("/v1/health") { _, _ in
            let (kept, evicted) = (self.checked.withLock { $0.count }, self.checkedEvicted.load(ordering: .relaxed))
            return APIServer.json(
                .ok,
                "{\"status\":\"ok\",\"hosts\":\(self.judge.hosts.count),\"checked_connections\":\(kept),\"checked_evicted\":\(evicted)}")
        }
        // The other methods on known paths: 405 with the one that works.
        for (path, allowed) in APIServer.routes
        where (path != "/metrics" || metrics != nil) && (path != "/v1/connections/stats" || connectionStats != nil) {
            for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch, .head, .options] where method != allowed {
                router.on(RouterPath(path), method: method) { _, _ in
                    var response = APIServer.error(.methodNotAllowed, "\(path) takes \(allowed.rawValue)")
                    response.headers[.allow] = allowed.rawValue
                    return response
                }
            }
        }
        return router
    }

    func lookup(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        guard let ipText = query["ip"].map(String.init) else { return APIServer.error(.badRequest, "the ip parameter is missing") }
        guard let address = IPAddress(ipText)?.unmapped else { return APIServer.error(.badRequest, "ip is not an IPv4 or IPv6 address") }
        var port: UInt16?
        if let portText = query["port"] {
            guard portText.allSatisfy({ $0 >= "0" && $0 <= "9" }), let value = UInt16(portText) else {
                return APIServer.error(.badRequest, "port must be 0 to 65535")
            }
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
        out.append(",\"tunnel_flow\":")
        if let flow = host.tunnelFlow {
            out.append("{\"rules\":[")
            for (i, name) in flow.rules.names.enumerated() {
                if i > 0 { out.append(ascii: ",") }
                out.append(ascii: "\""); out.append(string: name); out.append(ascii: "\"")
            }
            out.append("],\"seen\":\""); out.appendTimestamp(seconds: flow.seen, microseconds: 0); out.append(ascii: "\"")
            out.append(ascii: "}")
        } else {
            out.append("null")
        }
        out.append(",\"connections\":[")
        for (i, connection) in connections.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            RequestJSON.writeConnection(connection, database: database, to: out)
        }
        out.append("]}")
        return APIServer.json(.ok, out.string)
    }

    /// A check's body, read with strict types: a wrong type is a 400, never a guess.
    struct CheckRequest {
        var address: IPAddress
        var ipText: String
        var port: UInt16?
        var head: HTTPRequestHead
        var waitMilliseconds: Int
    }

    static func parseCheck(_ body: ByteBuffer) -> Result<CheckRequest, APIError> {
        let object: JSONObject
        do {
            object = try Array(body.readableBytesView).withUnsafeBytes { try JSONObject.Parser().parse($0) }
        } catch {
            return .failure(
                APIError("the body must be a JSON object: {\"ip\": ..., \"port\": ..., \"user_agent\": ..., \"headers\": {...}}"))
        }
        guard let ipText = object["ip"]?.string else { return .failure(APIError("ip (a string) is missing")) }
        guard let address = IPAddress(ipText)?.unmapped else { return .failure(APIError("ip is not an IPv4 or IPv6 address")) }
        var request = CheckRequest(address: address, ipText: ipText, port: nil, head: HTTPRequestHead(method: ""), waitMilliseconds: 0)
        if let value = object["port"] {
            guard let number = value.integer, let port = UInt16(exactly: number) else {
                return .failure(APIError("port must be a number from 0 to 65535"))
            }
            request.port = port
        }
        if let value = object["wait_ms"] {
            guard let number = value.integer, number >= 0 else { return .failure(APIError("wait_ms must be a number of milliseconds")) }
            request.waitMilliseconds = min(number, Settings.maxWaitMilliseconds)
        }
        if let value = object["headers"] {
            guard value.isObject else { return .failure(APIError("headers must be an object of strings")) }
            for (name, header) in value.members.sorted(by: { $0.name < $1.name }) {
                guard let text = header.string else { return .failure(APIError("headers must be an object of strings")) }
                request.head.take(header: name, value: text)
            }
        }
        if let value = object["user_agent"] {
            guard let text = value.string else { return .failure(APIError("user_agent must be a string")) }
            request.head.userAgent = text
        }
        guard request.head.userAgent != nil else { return .failure(APIError("user_agent is missing")) }
        return .success(request)
    }

    func check(_ body: ByteBuffer) async -> Response {
        let request: CheckRequest
        switch APIServer.parseCheck(body) {
        case .success(let parsed): request = parsed
        case .failure(let error): return APIServer.error(.badRequest, error.description)
        }
        guard
            let (connection, verdict) = await judged(
                request.address, port: request.port, head: request.head, waiting: request.waitMilliseconds)
        else {
            return APIServer.error(
                .notFound, request.port.map { "no SYN kept from \(request.ipText) port \($0)" } ?? "no SYN seen from \(request.ipText)")
        }
        let out = TextBuffer(capacity: 4096)
        out.append("{\"ip\":\""); out.append(ip: request.address)
        out.append("\",\"port\":"); out.append(connection.syn.fingerprint.segment.sourcePort)
        out.append(",\"connection\":"); RequestJSON.writeConnection(connection, database: database, to: out)
        out.append(",\"verdict\":"); RequestJSON.writeVerdict(verdict, to: out)
        out.append(",\"alerted\":"); out.append(bool: verdict.flagged)
        out.append(ascii: "}")
        return APIServer.json(.ok, out.string)
    }

    /// The verdict on a request from `address`: `port`'s connection, waiting up to `waiting` ms
    /// for a SYN the capture has not handed on yet (a web application or a proxy may ask first);
    /// else the address's latest connection. The check is recorded (`--learn`) and, when
    /// flagged, alerted.
    func judged(_ address: IPAddress, port: UInt16?, head: HTTPRequestHead, waiting: Int) async -> (ConnectionRecord, Verdict)? {
        let key = port.map { ClientPort(address: address, port: $0) }
        var found = judge.check(address: address, port: port, request: head, at: Int(Date().timeIntervalSince1970))
        if found == nil, let key, let connection = checked.withLock({ $0[key] }) {
            found = (connection, judge.verdict(connection.syn, head, tls: connection.tls, at: Int(Date().timeIntervalSince1970)))
        }
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(waiting))
        // Wait for the connection's SYN, then for its first data (a ClientHello or a plain
        // request): the capture hands each on within milliseconds, and a check may come sooner.
        while found.map({ $0.connection.tls == nil && $0.connection.request == nil }) ?? true, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(1))
            found = judge.check(address: address, port: port, request: head, at: Int(Date().timeIntervalSince1970)) ?? found
        }
        // A connection the host table no longer keeps (it keeps a few per address): the
        // address's latest one, remembered for this port from now on.
        if found == nil, port != nil {
            found = judge.check(address: address, port: nil, request: head, at: Int(Date().timeIntervalSince1970))
        }
        guard let (connection, verdict) = found else { return nil }
        if let key {
            checked.withLock { _ = $0.place(connection, for: key) { _, _ in checkedEvicted.add(1, ordering: .relaxed) } }
        }
        let now = Date().timeIntervalSince1970
        let judged = JudgedRequest(
            observation: HTTPObservation(
                seconds: Int(now), microseconds: Int(now.truncatingRemainder(dividingBy: 1) * 1e6), syn: connection.syn, request: head),
            verdict: verdict)
        onCheck(judged)
        if verdict.flagged {
            let line = TextBuffer(capacity: 4096)
            RequestJSON.write(judged, type: "alert", source: "api", database: database, labels: labels, to: line)
            onAlert(line.string, judged)
        }
        return (connection, verdict)
    }

    /// `GET /v1/auth`: a reverse proxy's forward-auth subrequest (nginx `auth_request`, Traefik
    /// and Caddy forward-auth, Envoy `ext_authz`). 200 with the verdict in `X-Synprint-*`
    /// headers (`unknown` when no SYN was seen: the proxy lets it through); 403 only for a
    /// flagged request at or above the operator's blocking score.
    func authorize(_ request: Request) async -> Response {
        let auth = settings.auth
        let fields = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        let asked: ForwardAuthRequest
        switch ForwardAuthRequest.read(
            fields, addressHeader: auth.addressHeader, portHeader: auth.portHeader, userAgentHeader: auth.userAgentHeader)
        {
        case .success(let read): asked = read
        case .failure(.address):
            return APIServer.error(.badRequest, "the \(auth.addressHeader) header must hold the client's IPv4 or IPv6 address")
        case .failure(.port):
            return APIServer.error(.badRequest, "the \(auth.portHeader) header must hold a port from 0 to 65535")
        }
        var response = Response(status: .ok)
        guard let (connection, verdict) = await judged(asked.address, port: asked.port, head: asked.head, waiting: auth.waitMilliseconds)
        else {
            response.headers[APIServer.verdictHeader] = "unknown"
            return response
        }
        let stack = connection.syn.classification
        response.headers[APIServer.verdictHeader] = verdict.flagged ? "flagged" : "ok"
        response.headers[HTTPField.Name("X-Synprint-Reasons")!] = verdict.reasonNames.joined(separator: ",")
        response.headers[HTTPField.Name("X-Synprint-Score")!] = String(format: "%.2f", verdict.score)
        response.headers[HTTPField.Name("X-Synprint-OS")!] = (stack?.osClass ?? .unknown).name
        response.headers[HTTPField.Name("X-Synprint-Family")!] = (stack?.family ?? .unknown).name
        response.headers[HTTPField.Name("X-Synprint-TLS")!] = connection.tls?.family.rawValue ?? "unknown"
        if verdict.flagged, let block = auth.blockScore, verdict.score >= block { response.status = .forbidden }
        return response
    }

    static let verdictHeader = HTTPField.Name("X-Synprint-Verdict")!

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let out = TextBuffer(capacity: 128)
        out.append("{\"error\":"); out.appendJSONString(message); out.append(ascii: "}")
        return json(status, out.string)
    }
}

/// Every error as JSON: the router's own 404 for an unknown path, and any other HTTP error.
struct JSONErrors: RouterMiddleware {
    func handle(
        _ request: Request, context: BasicRequestContext,
        next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPResponseError {
            let status = error.status
            return APIServer.error(status, status == .notFound ? "no such path: \(request.uri.path)" : status.reasonPhrase)
        }
    }
}

/// With a key, every request must carry it in `X-API-Key` or `Authorization: Bearer`.
struct KeyCheck: RouterMiddleware {
    let key: String?

    func handle(
        _ request: Request, context: BasicRequestContext,
        next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let key else { return try await next(request, context) }
        let given =
            request.headers[HTTPField.Name("X-API-Key")!] ?? request.headers[HTTPField.Name("X-Synprint-Key")!]
            // The scheme's case does not matter (RFC 9110).
            ?? request.headers[.authorization].flatMap { $0.lowercased().hasPrefix("bearer ") ? String($0.dropFirst(7)) : nil }
        guard let given, KeyCheck.same(given, key) else {
            return APIServer.error(.unauthorized, "a valid API key is required (X-API-Key header)")
        }
        return try await next(request, context)
    }

    /// Byte for byte, in a time that does not depend on where the two first differ, so that
    /// answers' timing tells nothing of the key (String's `==` also takes canonically equal
    /// Unicode as equal).
    static func same(_ given: String, _ key: String) -> Bool {
        let a = Array(given.utf8), b = Array(key.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<b.count { difference |= (i < a.count ? a[i] : 0) ^ b[i] }
        return difference == 0
    }
}

/// Connections served at once, across the server's event loops.
final class ConnectionCount: Sendable {
    let open = Atomic<Int>(0)
}

/// Closes a connection whose request has not arrived whole within `limit` of its head: the
/// idle timeout starts again with every part read, so a body sent a byte at a time would hold a
/// connection, and with enough of them the whole server, for good.
final class RequestDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    let limit: TimeAmount
    private var deadline: Scheduled<Void>?

    init(limit: TimeAmount) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            let channel = context.channel
            deadline = context.eventLoop.scheduleTask(in: limit) { channel.close(promise: nil) }
        case .body:
            break
        case .end:
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }
}

/// Closes a connection beyond the limit as soon as it is accepted.
final class ConnectionLimit: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = Any
    let count: ConnectionCount
    let limit: Int

    init(count: ConnectionCount, limit: Int) {
        self.count = count
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if count.open.add(1, ordering: .relaxed).newValue > limit { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        count.open.subtract(1, ordering: .relaxed)
    }
}

public struct APIError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
