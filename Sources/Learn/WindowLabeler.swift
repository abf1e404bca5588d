import Decode
import Match
import Tables
import Verdict

/// `--label-window`: a User-Agent labels every SYN from the same address within the window,
/// not only the SYN of its own connection. Noisier (NAT, shared hosts), but labels HTTPS SYNs
/// from hosts that also speak plain HTTP. Bounded like the other per-host tables.
public final class WindowLabeler {
    public struct Labelled {
        public var syn: SynObservation
        public var label: ClaimedOS?
        public var userAgent: String?
    }

    struct Host {
        var label: ClaimedOS?
        var userAgent: String?
        var claimedAt: Int?
        var pending: [SynObservation] = []
    }

    static let pendingLimit = 16
    let window: Int
    private var hosts: BoundedTable<IPAddress, Host>

    public init(window: Int, capacity: Int = 65536) {
        self.window = window
        hosts = BoundedTable(capacity: capacity)
    }

    /// A client SYN: labelled now if its address made a claim within the window, else kept
    /// until one comes.
    public func syn(_ syn: SynObservation) -> Labelled? {
        let address = syn.fingerprint.ip.source
        guard let slot = hosts.slot(of: address) else {
            hosts.insert(Host(pending: [syn]), for: address)
            return nil
        }
        return hosts.update(slot: slot) { host in
            if let at = host.claimedAt, abs(syn.seconds - at) <= window {
                return Labelled(syn: syn, label: host.label, userAgent: host.userAgent)
            }
            if host.pending.count == WindowLabeler.pendingLimit { host.pending.removeFirst() }
            host.pending.append(syn)
            return nil
        }
    }

    /// A request's claim: labels the address's waiting SYNs within the window.
    public func claim(_ address: IPAddress, label: ClaimedOS?, userAgent: String?, at seconds: Int) -> [Labelled] {
        let slot =
            hosts.slot(of: address)
            ?? {
                hosts.insert(Host(), for: address)
                return hosts.slot(of: address)!
            }()
        return hosts.update(slot: slot) { host in
            host.label = label
            host.userAgent = userAgent
            host.claimedAt = seconds
            let ready = host.pending.filter { abs($0.seconds - seconds) <= window }
            host.pending.removeAll()
            return ready.map { Labelled(syn: $0, label: label, userAgent: userAgent) }
        }
    }
}
