import Decode
import Foundation
import Match
import NIOCore
import NIOPosix
import Synchronization
import SynprintKit
import Verdict

#if canImport(Glibc)
import Glibc
#endif

/// p0f's unix-socket query protocol, answered from synprint's host table, so clients written
/// for p0f (Haraka, p0f-client libraries) work unchanged. A query is 21 bytes: magic
/// 0x50304601 (host byte order), address type 4 or 6, 16 address bytes. The reply is 232 bytes:
/// magic 0x50304602, status, p0f's host fields, then six 32-byte NUL-terminated strings.
///
/// Served through SwiftNIO on one event loop: clients beyond `maximumClients` wait in the listen
/// backlog instead of being reset, a client that completes no query for `readTimeout` seconds
/// is closed (however slowly it sends bytes), a client that does not read its replies is no
/// longer read from until it does (its replies wait within the channel's write bound), and when
/// descriptors run out the accept loop backs off and goes on serving.
public final class P0fSocketServer: Sendable {
    static let queryMagic: UInt32 = 0x5030_4601
    static let replyMagic: UInt32 = 0x5030_4602
    static let queryLength = 21
    static let replyLength = 232
    enum Status: UInt32 {
        case badQuery = 0x00
        case ok = 0x10
        case noMatch = 0x20
    }
    /// Clients served at once; more wait in the backlog.
    static let maximumClients = 256
    static let backlog: Int32 = 512
    static let readTimeout: Int64 = 10

    let path: String
    let mode: mode_t
    let judge: VerdictJudge
    let database: Database?
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel = Mutex<Channel?>(nil)

    /// `mode` sets the socket's permissions (p0f uses 0666: any local user may ask).
    public init(path: String, mode: UInt32 = 0o666, judge: VerdictJudge, database: Database?) throws {
        self.path = path
        self.mode = mode_t(mode)
        self.judge = judge
        self.database = database
        var status = stat()
        if lstat(path, &status) == 0 {
            // Replace a stale socket left by an earlier run, never another kind of file.
            guard status.st_mode & S_IFMT == S_IFSOCK else {
                throw APIError("\(path) exists and is not a socket; remove it or choose another --p0f-socket path")
            }
            // A socket some process still accepts on is not stale: replacing it would cut that
            // process's clients off.
            guard !P0fSocketServer.accepts(path) else {
                throw APIError("\(path) is in use: another process listens on it; stop it or choose another --p0f-socket path")
            }
            unlink(path)
        }
    }

    /// Whether a process accepts connections on the unix socket at `path`.
    static func accepts(_ path: String) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { close(probe) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
    }

    public func start() throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: P0fSocketServer.backlog)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ClientLimit(server: self),
                        ByteToMessageHandler(QueryDecoder()),
                        QueryHandler(server: self),
                    ])
                }
            }
        let folder = (path as NSString).deletingLastPathComponent
        guard folder.isEmpty || access(folder, F_OK) == 0 else {
            throw APIError(
                "cannot listen on \(path): the folder \(folder) does not exist (the service unit makes /run/synprint; create it, or choose another --p0f-socket path)"
            )
        }
        do {
            let bound = try bootstrap.bind(unixDomainSocketPath: path).wait()
            channel.withLock { $0 = bound }
        } catch let error as IOError {
            throw APIError("cannot listen on \(path): \(String(cString: strerror(error.errnoCode)))")
        } catch {
            throw APIError("cannot listen on \(path): \(error)")
        }
        guard chmod(path, mode) == 0 else { throw APIError("cannot set the mode of \(path): \(String(cString: strerror(errno)))") }
    }

    /// Stops accepting, closes the clients and removes the socket file.
    public func stop() {
        let bound = channel.withLock { channel in
            defer { channel = nil }
            return channel
        }
        try? bound?.close().wait()
        try? group.syncShutdownGracefully()
        // After -u, the folder may not let the new user remove the socket: say so.
        if bound != nil, unlink(path) != 0, errno != ENOENT {
            printError("synprint: could not remove \(path): \(String(cString: strerror(errno)))")
        }
    }

    let clients = Atomic<Int>(0)

    func answer(_ query: [UInt8]) -> [UInt8] {
        var reply = ReplyWriter()
        let magic = query.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        reply.u32(P0fSocketServer.replyMagic, at: 0)
        guard magic == P0fSocketServer.queryMagic, let address = P0fSocketServer.address(query) else {
            reply.u32(Status.badQuery.rawValue, at: 4)
            return reply.bytes
        }
        guard let host = judge.hosts.host(address), let latest = host.latest else {
            reply.u32(Status.noMatch.rawValue, at: 4)
            return reply.bytes
        }
        reply.u32(Status.ok.rawValue, at: 4)
        reply.u32(UInt32(clamping: host.firstSeen), at: 8)
        reply.u32(UInt32(clamping: host.lastSeen), at: 12)
        reply.u32(UInt32(clamping: host.connections), at: 16)
        // 20, 24: uptime from timestamps is not estimated; zero as p0f sends when unknown.
        reply.u32(UInt32(clamping: host.lastSharing ?? 0), at: 28)
        reply.u32(UInt32(clamping: host.lastChange ?? 0), at: 32)
        reply.u16(UInt16(bitPattern: Int16(clamping: latest.syn.path?.hops ?? -1)), at: 36)
        if let request = host.recent.first(where: { $0.request != nil }) {
            let verdict = judge.verdict(request.syn, request.request!, at: host.lastSeen)
            reply.bytes[38] = verdict.reasons.contains(.osMismatch) ? 2 : 0
            reply.string(verdict.claimed.map { $0.osClass?.name ?? $0.family.name } ?? "", at: 104)
        }
        if let c = latest.syn.classification, c.osClass != .unknown, let best = c.bestEntryIndex, let database {
            switch c.kind {
            case .exact: reply.bytes[39] = 0
            case .fuzzy: reply.bytes[39] = 1
            case .generic, .none: reply.bytes[39] = 2
            }
            reply.string(database.entries[best].name, at: 40)
            reply.string(database.entries[best].flavor, at: 72)
        }
        reply.string(latest.syn.path?.linkName(in: database) ?? "", at: 168)
        return reply.bytes
    }

    static func address(_ query: [UInt8]) -> IPAddress? {
        func u64(_ offset: Int) -> UInt64 { query[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        switch query[4] {
        case 4: return IPAddress(v4: query[5..<9].reduce(0) { $0 << 8 | UInt32($1) })
        case 6: return IPAddress(v6High: u64(5), v6Low: u64(13)).unmapped  // as the lookup API: ::ffff:a.b.c.d is the IPv4 host
        default: return nil
        }
    }
}

/// Cuts the byte stream into 21-byte queries.
struct QueryDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let query = buffer.readBytes(length: P0fSocketServer.queryLength) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(query))
        return .continue
    }
}

/// Answers each query; closes a client that completed no query within the read timeout, and
/// stops reading from one whose replies are not being read.
final class QueryHandler: ChannelInboundHandler {
    typealias InboundIn = [UInt8]
    typealias OutboundOut = ByteBuffer
    let server: P0fSocketServer
    private var deadline: Scheduled<Void>?

    init(server: P0fSocketServer) { self.server = server }

    func handlerAdded(context: ChannelHandlerContext) { renewDeadline(context) }

    func handlerRemoved(context: ChannelHandlerContext) { deadline?.cancel() }

    /// The read timeout counts from the last whole query, not from the last byte: a client
    /// that dribbles a byte at a time cannot hold its place.
    private func renewDeadline(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: .seconds(P0fSocketServer.readTimeout)) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        renewDeadline(context)
        let reply = server.answer(Self.unwrapInboundIn(data))
        context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(bytes: reply)), promise: nil)
        if !context.channel.isWritable { context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// At `maximumClients`, stops accepting (further clients wait in the listen backlog) until one
/// leaves. The listener and its clients share the server's single event loop.
final class ClientLimit: ChannelInboundHandler {
    typealias InboundIn = Any
    let server: P0fSocketServer

    init(server: P0fSocketServer) { self.server = server }

    func handlerAdded(context: ChannelHandlerContext) {
        if server.clients.add(1, ordering: .relaxed).newValue >= P0fSocketServer.maximumClients {
            context.channel.parent?.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if server.clients.subtract(1, ordering: .relaxed).newValue < P0fSocketServer.maximumClients {
            context.channel.parent?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        }
    }
}

/// The reply's fixed layout; integers in host byte order, as p0f writes them.
struct ReplyWriter {
    var bytes = [UInt8](repeating: 0, count: P0fSocketServer.replyLength)

    mutating func u32(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value) { bytes.replaceSubrange(offset..<offset + 4, with: $0) }
    }

    mutating func u16(_ value: UInt16, at offset: Int) {
        withUnsafeBytes(of: value) { bytes.replaceSubrange(offset..<offset + 2, with: $0) }
    }

    /// At most 31 bytes and a NUL.
    mutating func string(_ text: String, at offset: Int) {
        let utf8 = Array(text.utf8.prefix(31))
        bytes.replaceSubrange(offset..<offset + utf8.count, with: utf8)
    }
}
