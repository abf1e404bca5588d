import Decode
import Match
import Tables

/// How far a connection got before it ended, from the client's first packets as the server
/// received them (Cloudflare's stages): no handshake ACK, handshake without data, right after
/// the first data packet, after more data; `normal` for a clean close or a connection that
/// lived past `ConnectionFollower.stagePackets` client packets.
public enum ConnectionStage: String, Sendable, CaseIterable {
    case postSYN = "post_syn"
    case postACK = "post_ack"
    case postPSH = "post_psh"
    case later
    case normal
}

/// What ended the record.
public enum ConnectionEnding: String, Sendable, CaseIterable {
    case fin
    case reset
    case timeout
    case evicted
    case captureEnd = "capture_end"
}

/// The named tags of a connection's end: how the client's resets came (with their
/// acknowledgment numbers), a FIN of the client's before them (Cloudflare's tags describe the
/// client's packets), a FIN of the server's before them (under its own name), a reset that
/// cannot have come from the client's host (its TTL differs from the client's by more than
/// `ConnectionFollower.ttlTolerance`), and ZMap's SYN.
public struct ConnectionTags: OptionSet, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let timeout = ConnectionTags(rawValue: 1 << 0)
    public static let fin = ConnectionTags(rawValue: 1 << 1)
    public static let singleRST = ConnectionTags(rawValue: 1 << 2)
    public static let multipleRSTs = ConnectionTags(rawValue: 1 << 3)
    public static let ackNumberSame = ConnectionTags(rawValue: 1 << 4)
    public static let ackNumberSameZero = ConnectionTags(rawValue: 1 << 5)
    public static let ackNumberDifferent = ConnectionTags(rawValue: 1 << 6)
    public static let ackNumberDifferentZero = ConnectionTags(rawValue: 1 << 7)
    public static let singleRSTACK = ConnectionTags(rawValue: 1 << 8)
    public static let multipleRSTACKs = ConnectionTags(rawValue: 1 << 9)
    public static let rstAndRSTACKs = ConnectionTags(rawValue: 1 << 10)
    public static let zmap = ConnectionTags(rawValue: 1 << 11)
    public static let rstTTLMismatch = ConnectionTags(rawValue: 1 << 12)
    public static let serverFIN = ConnectionTags(rawValue: 1 << 13)

    /// Every tag with its name in events, in the order written.
    public static let named: [(ConnectionTags, String)] = [
        (.timeout, "timeout"), (.fin, "fin"), (.singleRST, "single_rst"), (.multipleRSTs, "multiple_rsts"),
        (.ackNumberSame, "acknumsame"), (.ackNumberSameZero, "acknumsame0"), (.ackNumberDifferent, "acknumdiff"),
        (.ackNumberDifferentZero, "acknumdiff0"), (.singleRSTACK, "single_rstack"), (.multipleRSTACKs, "multiple_rstacks"),
        (.rstAndRSTACKs, "rst_and_rstacks"), (.zmap, "zmap"), (.rstTTLMismatch, "rst_ttl_mismatch"), (.serverFIN, "server_fin"),
    ]
}

/// TCP Fast Open (RFC 7413) as the handshake shows it.
public enum FastOpenState: String, Sendable, CaseIterable {
    case none
    case cookieRequested = "cookie_requested"
    case cookieGranted = "cookie_granted"
    case dataSent = "data_sent"
    case dataAccepted = "data_accepted"
    case dataRefused = "data_refused"
}

/// ECN (RFC 3168; AccECN, RFC 9768, when the SYN sets AE, CWR and ECE) as negotiated and used.
public enum ECNState: String, Sendable, CaseIterable {
    case notRequested = "not_requested"
    case refused
    case negotiated
    case negotiatedAndUsed = "negotiated_and_used"
    case ceSeen = "ce_seen"
}

/// Counts per direction. Fixed-size: a record holds no references.
public struct DirectionCounts: Sendable {
    public var packets: UInt32 = 0
    public var payloadBytes: UInt64 = 0
    public var fin = false
    public var rst = false
    /// Data packets by their IP ECN codepoint: not-ECT, ECT(1), ECT(0), CE.
    public var ecnMarks: (notECT: UInt32, ect1: UInt32, ect0: UInt32, ce: UInt32) = (0, 0, 0, 0)

    mutating func count(_ segment: TCPSegment) {
        packets &+= 1
        payloadBytes &+= UInt64(segment.payloadLength)
        if segment.flags.contains(.fin) { fin = true }
        if segment.flags.contains(.rst) { rst = true }
        guard segment.payloadLength > 0 else { return }
        switch segment.ip.tos & 3 {
        case 0: ecnMarks.notECT &+= 1
        case 1: ecnMarks.ect1 &+= 1
        case 2: ecnMarks.ect0 &+= 1
        default: ecnMarks.ce &+= 1
        }
    }
}

/// One connection from its client SYN to its end: what the handshake negotiated, how far the
/// client got and how it ended. Written as a `conn` event when it closes.
public struct FollowedConnection: Sendable {
    public var key: FlowKey
    /// The client SYN's fingerprint summary, so stages break down by OS and path.
    public var osClass: OSClass
    public var family: OSFamily
    public var path: NetworkPath?
    public var clientTTL: UInt8
    public var clientIPID: UInt16  // of the client's last packet before a reset
    public var synFlags: TCPFlags
    public var synAckFlags: TCPFlags?
    /// Microseconds since the epoch.
    public var start: Int64
    public var last: Int64
    public var synAckAt: Int64?
    public var handshakeRTT: Int64?  // SYN+ACK → the client's ACK of it
    public var connected = false
    public var client = DirectionCounts()
    public var server = DirectionCounts()
    /// Client packets after the SYN, and data packets among them, counted up to the first reset
    /// (at most 255: the stage needs the first ten).
    public var clientPacketsBeforeEnd: UInt8 = 0
    public var dataPacketsBeforeEnd: UInt8 = 0
    public var clientSequence: UInt32
    public var serverSequence: UInt32 = 0
    // Resets from the client's side, for the tags.
    public var resets: UInt8 = 0
    public var resetACKs: UInt8 = 0
    public var firstResetAck: UInt32 = 0
    public var resetAcksDiffer = false
    public var resetAckZero = false
    public var resetTTL: UInt8?
    public var resetIPID: UInt16?
    public var resetGap: Int64?  // microseconds from the previous client packet to the first reset
    public var resetAt: Int64?  // the first reset either way
    /// The client's, and the server's, FIN came before the first reset.
    public var clientFINBeforeReset = false
    public var serverFINBeforeReset = false
    public var finishedAt: Int64?  // both sides sent FIN
    public var zmap: Bool
    // Fast Open.
    public var synCookie: Int?  // nil: no TFO option; 0: a cookie request
    public var synPayload: Int
    public var synAckCookie: Int?
    public var synDataAcknowledged: Bool?

    public var ending: ConnectionEnding = .timeout

    public init(_ syn: SynObservation) {
        let s = syn.fingerprint.segment
        key = FlowKey(s)
        osClass = syn.classification?.osClass ?? .unknown
        family = syn.classification?.family ?? .unknown
        path = syn.path
        clientTTL = s.ip.ttl
        clientIPID = s.ip.ipID
        synFlags = s.flags
        start = Int64(syn.seconds) &* 1_000_000 &+ Int64(syn.microseconds)
        last = start
        clientSequence = s.sequence
        zmap = s.ip.version == 4 && s.ip.ipID == 54321 && s.window == 65535
        synCookie = syn.fingerprint.options.fastOpenCookieLength
        synPayload = s.payloadLength
        client.count(s)
    }

    /// `ConnectionFollower.stagePackets`: Cloudflare's view of the first ten client packets.
    public var stage: ConnectionStage {
        if ending == .fin || Int(clientPacketsBeforeEnd) + 1 > ConnectionFollower.stagePackets { return .normal }
        if !connected { return .postSYN }
        switch dataPacketsBeforeEnd {
        case 0: return .postACK
        case 1: return .postPSH
        default: return .later
        }
    }

    /// At the first reset: which sides had sent a FIN.
    mutating func markFINs() {
        clientFINBeforeReset = client.fin
        serverFINBeforeReset = server.fin
    }

    public var tags: ConnectionTags {
        var tags: ConnectionTags = []
        if ending == .timeout { tags.insert(.timeout) }
        if clientFINBeforeReset { tags.insert(.fin) }
        if serverFINBeforeReset { tags.insert(.serverFIN) }
        switch (resets, resetACKs) {
        case (0, 0): break
        case (1, 0): tags.insert(.singleRST)
        case (_, 0):
            tags.insert(.multipleRSTs)
            tags.insert(
                resetAcksDiffer
                    ? (resetAckZero ? .ackNumberDifferentZero : .ackNumberDifferent) : (resetAckZero ? .ackNumberSameZero : .ackNumberSame))
        case (0, 1): tags.insert(.singleRSTACK)
        case (0, _): tags.insert(.multipleRSTACKs)
        default: tags.insert(.rstAndRSTACKs)
        }
        if zmap { tags.insert(.zmap) }
        if let resetTTL, abs(Int(resetTTL) - Int(clientTTL)) > ConnectionFollower.ttlTolerance { tags.insert(.rstTTLMismatch) }
        return tags
    }

    public var fastOpen: FastOpenState {
        if synPayload > 0 {
            switch synDataAcknowledged {
            case true?: return .dataAccepted
            case false?: return .dataRefused
            case nil: return .dataSent
            }
        }
        if synAckCookie != nil { return .cookieGranted }
        return synCookie == 0 ? .cookieRequested : .none
    }

    /// AccECN: AE, CWR and ECE all set in the SYN.
    public var accurateECN: Bool { synFlags.isSuperset(of: [.ae, .cwr, .ece]) }

    public var ecn: ECNState {
        guard synFlags.isSuperset(of: [.ece, .cwr]) else { return .notRequested }
        // Classic ECN: the SYN+ACK sets ECE without CWR; AccECN answers with any of AE, CWR, ECE.
        guard let answer = synAckFlags,
            accurateECN ? !answer.intersection([.ae, .cwr, .ece]).isEmpty : answer.contains(.ece) && !answer.contains(.cwr)
        else { return .refused }
        if client.ecnMarks.ce + server.ecnMarks.ce > 0 { return .ceSeen }
        let marked = client.ecnMarks.ect0 + client.ecnMarks.ect1 + server.ecnMarks.ect0 + server.ecnMarks.ect1
        return marked > 0 ? .negotiatedAndUsed : .negotiated
    }

    /// After negotiation, the client's data arrived without ECT marks: a middlebox cleared them.
    public var ecnBleached: Bool {
        ecn != .notRequested && ecn != .refused && client.ecnMarks.notECT > 0
            && client.ecnMarks.ect0 + client.ecnMarks.ect1 + client.ecnMarks.ce == 0
    }
}
