import Decode
import FlowStats
import Match
import Verdict

/// Learns TLS stacks from labelled traffic (`db build --tls`): the ClientHellos of a client
/// address are labelled by the TLS library its plain-HTTP User-Agents claim (`ClaimedTLS`),
/// when they all claim one; a checked connection's hello (the fleet store's `http` rows from
/// `/v1/check` and `/v1/auth`) by the User-Agent of its own check. Hellos of the same structure
/// (suites in their order, extensions and groups as sets, GREASE, ALPN) are counted together; a structure
/// becomes a stack when it was seen at least `minCount` times and at least `agreement` of its
/// labelled hellos name one family.
public final class TLSLearner {
    /// Distinct structures kept per address: enough for every program of one host.
    static let structuresPerAddress = 32
    public static let agreement: Float = 0.8

    private var hellos: [IPAddress: [TLSOffer: Int]] = [:]
    private var claims: [IPAddress: Set<TLSFamily>] = [:]
    /// Hellos of checked connections, already labelled: per structure and family, how many.
    private var checked: [TLSOffer: [TLSFamily: Int]] = [:]
    private var checks = 0

    public init() {}

    /// A ClientHello read whole from `address` (one that cannot make a stack is not kept).
    public func observe(_ hello: ClientHello, from address: IPAddress) {
        guard hello.complete else { return }
        let structure = TLSOffer(hello)
        guard structure.makesStack else { return }
        var seen = hellos[address, default: [:]]
        if seen[structure] != nil || seen.count < TLSLearner.structuresPerAddress { seen[structure, default: 0] += 1 }
        hellos[address] = seen
    }

    /// A plain-HTTP request's User-Agent from `address`.
    public func observe(userAgent: String?, from address: IPAddress) {
        if let family = ClaimedTLS.family(userAgent: userAgent) { claims[address, default: []].insert(family) }
    }

    /// A checked connection's hello, labelled by the library its check's User-Agent claims
    /// (one that claims none is not counted).
    public func observe(checked offer: TLSOffer, userAgent: String) {
        guard let family = ClaimedTLS.family(userAgent: userAgent) else { return }
        observe(checked: offer, as: family)
    }

    /// A checked connection's hello, labelled already (`synprint --learn-tls` recorded it).
    public func observe(checked offer: TLSOffer, as family: TLSFamily) {
        guard offer.makesStack else { return }
        checked[offer, default: [:]][family, default: 0] += 1
        checks += 1
    }

    /// Hellos labelled: by their addresses' User-Agents (and how many such addresses), and by
    /// the checks of their own connections.
    public var labelled: (hellos: Int, addresses: Int, checks: Int) {
        var count = 0, addresses = 0
        for (address, seen) in hellos where claims[address]?.count == 1 {
            count += seen.values.reduce(0, +)
            addresses += 1
        }
        return (count, addresses, checks)
    }

    /// The learned stacks with the hellos behind each, most seen first.
    public func stacks(minCount: Int) -> [(stack: TLSStack, hellos: Int, addresses: Int)] {
        var votes: [TLSOffer: [TLSFamily: (hellos: Int, addresses: Int)]] = [:]
        for (address, seen) in hellos {
            guard let families = claims[address], families.count == 1, let family = families.first else { continue }
            for (structure, count) in seen {
                let previous = votes[structure, default: [:]][family] ?? (0, 0)
                votes[structure, default: [:]][family] = (previous.hellos + count, previous.addresses + 1)
            }
        }
        // A check is a source of its own: its connection's hello and User-Agent.
        for (structure, families) in checked {
            for (family, count) in families {
                let previous = votes[structure, default: [:]][family] ?? (0, 0)
                votes[structure, default: [:]][family] = (previous.hellos + count, previous.addresses + count)
            }
        }
        var learned: [(id: String, family: TLSFamily, structure: TLSOffer, hellos: Int, addresses: Int)] = []
        for (structure, families) in votes {
            let total = families.values.reduce(0) { $0 + $1.hellos }
            guard let (family, tally) = families.max(by: { $0.value.hellos < $1.value.hellos }), total >= minCount,
                Float(tally.hellos) >= TLSLearner.agreement * Float(total)
            else { continue }
            let id = "learned-\(family.rawValue.lowercased().filter { $0.isLetter })-\(TLSLearner.digest(structure))"
            learned.append((id, family, structure, tally.hellos, tally.addresses))
        }
        learned.sort { ($0.hellos, $0.id) > ($1.hellos, $1.id) }
        // Two structures whose digests collide still get ids of their own: a table with an id
        // twice would not load.
        var seen: [String: Int] = [:]
        return learned.map { entry in
            seen[entry.id, default: 0] += 1
            let id = seen[entry.id]! > 1 ? "\(entry.id)-\(seen[entry.id]!)" : entry.id
            let s = entry.structure
            let stack = TLSStack(
                id: id, family: entry.family, name: "\(entry.family.rawValue) (learned)", grease: s.grease, ciphers: s.preference,
                extensions: s.extensions, groups: s.groups, alpn: s.alpn)
            return (stack, entry.hellos, entry.addresses)
        }
    }

    /// A short, stable name for a structure (FNV-1a over its values), for the stack's id.
    static func digest(_ s: TLSOffer) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            hash ^= value
            hash = hash &* 0x100_0000_01b3
        }
        for list in [s.preference, s.extensions, s.groups] {
            for value in list { mix(UInt64(value)) }
            mix(0xFFFF_FFFF)
        }
        mix(s.grease ? 1 : 0)
        // Each name after its length: ["h2", "http/1.1"] is not ["h2http/1.1"].
        for name in s.alpn {
            mix(UInt64(name.utf8.count) | 1 << 32)
            for byte in name.utf8 { mix(UInt64(byte)) }
        }
        let text = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
