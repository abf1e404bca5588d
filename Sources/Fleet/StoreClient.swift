import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Output

/// Where the fleet store is: ClickHouse's HTTP interface, `http://HOST:8123/DATABASE` or
/// `https://…` (database `synprint` when the path is empty), and who the sensor is there.
public struct StoreAddress: Sendable, Equatable {
    public var base: String  // scheme://host:port
    public var database: String
    public var user: String?
    public var password: String?
    /// A PEM file of certificates to trust for https://, beside the system's.
    public var authority: String?

    public static let defaultDatabase = "synprint"

    public init(base: String, database: String, user: String? = nil, password: String? = nil, authority: String? = nil) {
        self.base = base
        self.database = database
        self.user = user
        self.password = password
        self.authority = authority
    }

    /// Nil, with the reason, when `text` is not such a URL. Credentials in the URL are refused:
    /// they would show in `ps` and in the configuration file.
    public static func parse(_ text: String) -> Result<StoreAddress, StoreError> {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else { return .failure(.address("\(text): not an http:// or https:// URL of a ClickHouse server")) }
        if url.query != nil || url.fragment != nil {
            return .failure(.address("\(text): the URL names a server and a database only, without ? or # parts"))
        }
        if url.user != nil || url.password != nil {
            return .failure(.address("\(text): give the user and password in --clickhouse-credentials or the environment, not in the URL"))
        }
        let path = url.path.split(separator: "/")
        guard path.count <= 1 else { return .failure(.address("\(text): the path names one database, found \(url.path)")) }
        let database = path.first.map(String.init) ?? defaultDatabase
        guard !database.isEmpty, database.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) || $0 == "_" }) else {
            return .failure(.address("\(text): \(database) is not a database name (ASCII letters, digits and _)"))
        }
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let port = url.port ?? (scheme == "https" ? 8443 : 8123)
        return .success(StoreAddress(base: "\(scheme)://\(hostPart):\(port)", database: database))
    }

    /// The URL without credentials, for messages.
    public var description: String { "\(base)/\(database)" }
}

/// What went wrong talking to the store, sorted by what the sink does about it.
public enum StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    case address(String)
    /// No answer: refused, timed out, reset. Retried.
    case unreachable(String)
    /// ClickHouse answered with an exception: its code (when it gave one) and text.
    case server(status: Int, code: Int?, message: String)
    /// The server lacks what was asked of it (e.g. table TTLs on an old release).
    case unsupported(String)
    /// An answer that is not ClickHouse's (a proxy's page, another service on the port).
    case unexpected(String)

    public var description: String {
        switch self {
        case .address(let text): text
        case .unreachable(let text): text
        case .unsupported(let text), .unexpected(let text): text
        case .server(let status, let code, let message): "ClickHouse answered \(status)\(code.map { ", code \($0)" } ?? ""): \(message)"
        }
    }

    /// ClickHouse's error codes for data it could not parse or store: the batch itself is
    /// wrong, so sending it again cannot help.
    static let malformedCodes: Set<Int> = [6, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 130]

    /// The batch is at fault (it goes to the spool's reject folder instead of being retried).
    public var isMalformed: Bool {
        if case .server(_, let code?, _) = self { return StoreError.malformedCodes.contains(code) }
        return false
    }

    /// Wrong user or password (192 unknown user, 193 wrong password, 516 authentication failed).
    public var isAuthentication: Bool {
        if case .server(let status, let code, _) = self { return status == 401 || status == 403 || [192, 193, 516].contains(code ?? 0) }
        return false
    }

    public var isMissingDatabase: Bool {
        if case .server(_, 81?, _) = self { return true }
        return false
    }

    public var isMissingTable: Bool {
        if case .server(_, 60?, _) = self { return true }
        return false
    }
}

/// ClickHouse's HTTP interface through AsyncHTTPClient: statements and `INSERT … FORMAT
/// RowBinary` with gzip bodies. Its calls block the calling thread (the sink's own, or the
/// command line's), never an event loop.
public final class StoreClient: Sendable {
    public let address: StoreAddress
    public let compressing: Bool
    private let http: HTTPClient
    private let timeout: TimeAmount

    /// `compressing`: gzip request bodies; by default, unless the server is on the loopback.
    public init(address: StoreAddress, timeout: Double = 10, compressing: Bool? = nil) {
        self.address = address
        let host = address.base.split(separator: "/").dropFirst().first.map(String.init) ?? ""
        self.compressing = compressing ?? !(host.hasPrefix("127.") || host.hasPrefix("[::1]") || host.hasPrefix("localhost"))
        self.timeout = .milliseconds(Int64(timeout * 1000))
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: .milliseconds(Int64(min(timeout, 3) * 1000)), read: .milliseconds(Int64(timeout * 1000))))
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        // A redirect would take the credentials to another host, and an insert redirected as a
        // GET would be answered 200 with nothing stored: the store's own answer or an error.
        configuration.redirectConfiguration = .disallow
        if let authority = address.authority {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(authority)]
            configuration.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Why the certificates in `path` cannot be trusted (nil when they can): for a line at start
    /// rather than a TLS error at the first insert.
    public static func checkAuthority(_ path: String) -> String? {
        do {
            return try NIOSSLCertificate.fromPEMFile(path).isEmpty ? "\(path): no PEM certificate in the file" : nil
        } catch {
            let reason = access(path, R_OK) == 0 ? "not PEM certificates" : String(cString: strerror(errno))
            return "\(path): cannot read the ClickHouse CA certificates: \(reason)"
        }
    }

    /// Closes the client's connections; also done when it goes away.
    public func shutdown() { try? http.syncShutdown() }

    deinit { try? http.syncShutdown() }

    private func headers(gzip: Bool) -> HTTPHeaders {
        var headers = HTTPHeaders()
        if let user = address.user { headers.add(name: "X-ClickHouse-User", value: user) }
        if let password = address.password { headers.add(name: "X-ClickHouse-Key", value: password) }
        if gzip { headers.add(name: "Content-Encoding", value: "gzip") }
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        return headers
    }

    /// The longest answer a statement or insert may bring (its text is a few lines), and a
    /// report's (its tables, at most `StoreReport.mostRows` rows): a longer one is refused as it
    /// arrives, so a server that never ends its answer cannot fill memory before the deadline.
    public static let statementAnswerBytes = 16 << 20
    public static let reportAnswerBytes = 1 << 30

    private func post(query: String?, database: Bool, body: ByteBuffer, gzip: Bool, answerLimit: Int) throws(StoreError) -> String {
        var url = address.base + "/"
        var parameters: [String] = []
        if database { parameters.append("database=\(address.database)") }
        if let query { parameters.append("query=" + (query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")) }
        if !parameters.isEmpty { url += "?" + parameters.joined(separator: "&") }
        let response: HTTPClient.Response
        do {
            let request = try HTTPClient.Request(url: url, method: .POST, headers: headers(gzip: gzip), body: .byteBuffer(body))
            let answer = ResponseAccumulator(request: request, maxBodySize: answerLimit)
            response = try http.execute(request: request, delegate: answer, deadline: .now() + timeout).wait()
        } catch is ResponseAccumulator.ResponseTooBigError {
            throw .unexpected("\(address.base): an answer longer than \(answerLimit >> 20) MiB, which is no answer of ClickHouse's to this")
        } catch {
            throw .unreachable("\(address.base): \(StoreClient.describe(error))")
        }
        let text = response.body.map { String(buffer: $0) } ?? ""
        if (300..<400).contains(response.status.code) {
            let target = response.headers.first(name: "Location").map { " to \($0.prefix(200))" } ?? ""
            throw .unexpected(
                "\(address.base): answered \(response.status.code), a redirect\(target): give the store's own address (redirects are not followed)"
            )
        }
        guard response.status.code == 200 else {
            throw .server(status: Int(response.status.code), code: StoreClient.code(in: text), message: StoreClient.message(in: text))
        }
        return text
    }

    /// JSONEachRow rows of an earlier release's spool with `"weight":1` added: they were never
    /// sampled, and ClickHouse before 19.12 fills an omitted column with 0, not its default.
    static func weighted(_ rows: ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(rows.readableBytes + rows.readableBytes / 8)
        let field = Array("{\"weight\":1,".utf8)
        for line in rows.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            if line.first == UInt8(ascii: "{") {
                out.writeBytes(field)
                out.writeBytes(line.dropFirst())
            } else {
                out.writeBytes(line)
            }
            out.writeInteger(UInt8(ascii: "\n"))
        }
        return out
    }

    /// Runs one statement and returns ClickHouse's answer as text. `inDatabase` runs it in the
    /// store's database (a missing one is then an error).
    @discardableResult
    public func execute(_ sql: String, inDatabase: Bool = false, answerLimit: Int = statementAnswerBytes) throws(StoreError) -> String {
        try post(query: nil, database: inDatabase, body: ByteBuffer(string: sql), gzip: false, answerLimit: answerLimit)
    }

    /// Inserts rows into `table`; gzip-compressed (at zlib's fastest level) unless the server is
    /// on the loopback, where bytes are free and the compression would only take CPU from the
    /// capture. RowBinary rows name their columns, so that a table with columns added later
    /// (by a newer `clickhouse init`) still takes them.
    public func insert(table: String, rows: ByteBuffer, format: StoreFormat = .rowBinary) throws(StoreError) {
        var rows = rows
        if format == .jsonEachRow, let known = StoreTable(rawValue: table),
            StoreSchema.columns(known).contains(where: { $0 == StoreSchema.weight })
        {
            rows = StoreClient.weighted(rows)
        }
        let query =
            switch (format, StoreTable(rawValue: table)) {
            case (.rowBinary, let known?):
                "INSERT INTO \(StoreSchema.quoted(table)) (\(StoreSchema.columns(known).map { StoreSchema.quoted($0.name) }.joined(separator: ", "))) FORMAT RowBinary"
            default: "INSERT INTO \(StoreSchema.quoted(table)) FORMAT \(format == .rowBinary ? "RowBinary" : "JSONEachRow")"
            }
        guard compressing else {
            _ = try post(query: query, database: true, body: rows, gzip: false, answerLimit: StoreClient.statementAnswerBytes)
            return
        }
        var plain = rows
        let body: ByteBuffer
        do {
            body = try plain.compress(with: .gzip(configuration: .init(compressionLevel: 1)))
        } catch {
            throw .unreachable("gzip failed: \(error)")
        }
        _ = try post(query: query, database: true, body: body, gzip: true, answerLimit: StoreClient.statementAnswerBytes)
    }

    /// `Code: 81, e.displayText() = DB::Exception: …` (older) or `Code: 81. DB::Exception: …`.
    static func code(in text: String) -> Int? {
        guard let range = text.range(of: "Code: ") else { return nil }
        return Int(text[range.upperBound...].prefix(while: \.isNumber))
    }

    static func message(in text: String) -> String {
        var line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        if let range = line.range(of: "DB::Exception: ") { line = String(line[range.upperBound...]) }
        if let range = line.range(of: ", e.what() = DB::Exception") { line = String(line[..<range.lowerBound]) }
        return String(line.prefix(300))
    }

    /// AsyncHTTPClient's and NIO's errors, in a few words.
    static func describe(_ error: Error) -> String {
        let text = String(describing: error)
        if text.contains("connectTimeout") { return "no answer within the connect timeout" }
        if text.contains("readTimeout") || text.contains("deadlineExceeded") { return "no answer in time" }
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            return "connection refused"
        }
        if text.contains("remoteConnectionClosed") { return "the server closed the connection" }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "its TLS certificate is not trusted (give the CA that signed it with --clickhouse-ca)"
        }
        if text.contains("failedToValidateHostname") { return "its TLS certificate names another host" }
        if text.contains("handshakeFailed") || text.contains("NIOSSL") { return "the TLS handshake failed (is it an https port?)" }
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}
