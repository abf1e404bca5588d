import Decode
import Foundation
import Match
import Synchronization
import Verdict

#if canImport(Glibc)
import Glibc
#endif

/// p0f's unix-socket query protocol, answered from synprint's host table, so clients written
/// for p0f (Haraka, p0f-client libraries) work unchanged. A query is 21 bytes: magic
/// 0x50304601 (host byte order), address type 4 or 6, 16 address bytes. The reply is 232 bytes:
/// magic 0x50304602, status, p0f's host fields, then six 32-byte NUL-terminated strings.
public final class P0fSocketServer: @unchecked Sendable {
    static let queryMagic: UInt32 = 0x5030_4601
    static let replyMagic: UInt32 = 0x5030_4602
    static let queryLength = 21
    static let replyLength = 232
    enum Status: UInt32 {
        case badQuery = 0x00
        case ok = 0x10
        case noMatch = 0x20
    }
    /// Clients served at once; more wait in the listen queue.
    static let maximumClients = 32

    let path: String
    let judge: VerdictJudge
    let database: Database?
    private let listener: Int32
    private let clients = Mutex(0)

    public init(path: String, judge: VerdictJudge, database: Database?) throws {
        self.path = path
        self.judge = judge
        self.database = database
        var status = stat()
        if lstat(path, &status) == 0 {
            // Replace a stale socket left by an earlier run, never another kind of file.
            guard status.st_mode & S_IFMT == S_IFSOCK else {
                throw APIError("\(path) exists and is not a socket; remove it or choose another --p0f-socket path")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw APIError("cannot create a unix socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { close(fd); throw APIError("socket path longer than \(capacity - 1) bytes: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw APIError("cannot listen on \(path): \(message)")
        }
        listener = fd
    }

    /// Stops accepting and removes the socket file.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }

    public func start() {
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                let admitted = clients.withLock { count in
                    guard count < P0fSocketServer.maximumClients else { return false }
                    count += 1
                    return true
                }
                guard admitted else {
                    close(client)
                    continue
                }
                Thread.detachNewThread { [self] in
                    serve(client)
                    close(client)
                    clients.withLock { $0 -= 1 }
                }
            }
        }
    }

    /// Answers queries on one connection until the client closes it.
    func serve(_ client: Int32) {
        var query = [UInt8](repeating: 0, count: P0fSocketServer.queryLength)
        while readExactly(client, &query) {
            var reply = answer(query)
            guard writeExactly(client, &reply) else { return }
        }
    }

    func answer(_ query: [UInt8]) -> [UInt8] {
        var reply = ReplyWriter()
        let magic = query.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        guard magic == P0fSocketServer.queryMagic, let address = P0fSocketServer.address(query) else {
            reply.u32(P0fSocketServer.replyMagic, at: 0)
            reply.u32(Status.badQuery.rawValue, at: 4)
            return reply.bytes
        }
        reply.u32(P0fSocketServer.replyMagic, at: 0)
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
        let fp = latest.syn.fingerprint
        reply.u16(UInt16(bitPattern: Int16(fp.distanceIsPlausible ? fp.distance : -1)), at: 36)
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
        case 6: return IPAddress(v6High: u64(5), v6Low: u64(13))
        default: return nil
        }
    }

    func readExactly(_ fd: Int32, _ buffer: inout [UInt8]) -> Bool {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    func writeExactly(_ fd: Int32, _ buffer: inout [UInt8]) -> Bool {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
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
