import Decode
import FlowStats
import Formatting
import Learn
import Match
import Synchronization
import Tables
import Verdict

/// `--learn-tls FILE`: the ClientHellos of the connections web applications check (`/v1/check`,
/// `/v1/auth`), each labelled by the TLS library its check's User-Agent claims (`ClaimedTLS`),
/// one line per check in the format of database/tls.jsonl, for `synprint db build --tls OUT
/// --learned-tls FILE`. Hellos wait for their check in a bounded table: the oldest are pushed
/// out first, counted, so a busy sensor's memory stays within `capacity` hellos.
public final class HelloLog: EventHandler {
    public let log: LineLog
    public static let capacity = 16_384

    private let waiting = Mutex(BoundedTable<FlowKey, TLSOffer>(capacity: HelloLog.capacity))
    private let tally = Mutex<(recorded: Int, unclaimed: Int, missing: Int, evicted: Int)>((0, 0, 0, 0))

    public init(path: String) throws {
        log = try LineLog(path: path, header: "{\"synprint_tls\": \(TLSStacks.schemaVersion)}")
    }

    public func handle(syn: SynObservation) {}
    public func handle(request: JudgedRequest) {}
    public func idle() {}

    public func handle(tls: TLSObservation) { observe(tls) }

    /// A connection's ClientHello, read whole (a hello without suites, extensions or groups
    /// makes no stack and is not kept).
    public func observe(_ tls: TLSObservation) {
        guard tls.hello.complete else { return }
        let offer = TLSOffer(tls.hello)
        guard offer.makesStack else { return }
        var pushed = false
        waiting.withLock { table in _ = table.place(offer, for: tls.syn.key) { _, _ in pushed = true } }
        if pushed { tally.withLock { $0.evicted += 1 } }
    }

    /// A web application's check of a connection: its hello, labelled by the check's
    /// User-Agent. A check whose User-Agent claims no library, or whose connection's hello is
    /// not held (plain HTTP, pushed out, or not read whole), is counted and written nowhere.
    public func record(_ check: JudgedRequest) {
        let syn = check.observation.syn
        guard let family = ClaimedTLS.family(userAgent: check.observation.request.userAgent) else {
            tally.withLock { $0.unclaimed += 1 }
            return
        }
        guard let offer = waiting.withLock({ table in table.slot(of: syn.key).map { table[slot: $0] } }) else {
            tally.withLock { $0.missing += 1 }
            return
        }
        let id = TextBuffer(capacity: 64)
        id.append("obs-"); id.append(check.observation.seconds); id.append(ascii: ".")
        id.append(check.observation.microseconds, width: 6); id.append(ascii: "-"); id.append(ip: syn.fingerprint.ip.source)
        id.append(ascii: "-"); id.append(syn.fingerprint.segment.sourcePort)
        let stack = TLSStack(
            id: id.string, family: family, name: "checked connection", grease: offer.grease, ciphers: offer.preference,
            extensions: offer.extensions, groups: offer.groups, alpn: offer.alpn)
        log.write(TLSStacks.line(stack, source: "learn api: " + (check.observation.request.userAgent ?? "")) + "\n")
        tally.withLock { $0.recorded += 1 }
    }

    public var summary: String {
        tally.withLock { t in
            "  learn-tls: \(t.recorded) checked ClientHellos recorded; checks without a library in their User-Agent \(t.unclaimed), "
                + "without a held hello \(t.missing); hellos pushed out unchecked \(t.evicted)"
        }
    }
}
