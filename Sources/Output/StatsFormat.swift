import Formatting

/// The capture's counts at one moment: the `stats` event (`--stats-events`) and the store's
/// `stats` row. A plain value, so that formats need not know the sensor.
public struct StatsFigures: Sendable {
    public var seconds: Int
    public var microseconds: Int
    public var packets: Int
    public var syn: Int
    public var synAck: Int
    public var skipped: Int
    public var malformed: Int
    public var libpcap: (received: UInt64, dropped: UInt64, interfaceDropped: UInt64)?
    public var awaitingRequest: Int
    public var requests: Int
    public var flagged: Int
    public var alertsSuppressed: Int

    public init(
        seconds: Int, microseconds: Int, packets: Int, syn: Int, synAck: Int, skipped: Int, malformed: Int,
        libpcap: (received: UInt64, dropped: UInt64, interfaceDropped: UInt64)?, awaitingRequest: Int, requests: Int, flagged: Int,
        alertsSuppressed: Int
    ) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.packets = packets
        self.syn = syn
        self.synAck = synAck
        self.skipped = skipped
        self.malformed = malformed
        self.libpcap = libpcap
        self.awaitingRequest = awaitingRequest
        self.requests = requests
        self.flagged = flagged
        self.alertsSuppressed = alertsSuppressed
    }
}

extension EventWriter {
    /// A `stats` event, JSON in the chosen schema (ECS and EVE wrap it as they wrap the others).
    public func write(_ stats: StatsFigures, to out: TextBuffer) {
        labels.write(
            type: "stats", kind: "metric", seconds: stats.seconds, microseconds: stats.microseconds, flow: nil, scratch: scratch, to: out
        ) { out in
            out.append("{\"type\":\"stats\",\"ts\":\""); out.appendTimestamp(seconds: stats.seconds, microseconds: stats.microseconds)
            out.append("\",\"sensor\":"); out.append(string: labels.sensorJSON)
            out.append(",\"packets\":"); out.append(stats.packets)
            out.append(",\"syn\":"); out.append(stats.syn)
            out.append(",\"synack\":"); out.append(stats.synAck)
            out.append(",\"skipped\":"); out.append(stats.skipped)
            out.append(",\"malformed\":"); out.append(stats.malformed)
            if let pcap = stats.libpcap {
                out.append(",\"libpcap_received\":"); out.append(pcap.received)
                out.append(",\"libpcap_dropped\":"); out.append(pcap.dropped)
                out.append(",\"libpcap_interface_dropped\":"); out.append(pcap.interfaceDropped)
            }
            out.append(",\"connections_followed\":"); out.append(stats.awaitingRequest)
            out.append(",\"requests\":"); out.append(stats.requests)
            out.append(",\"flagged\":"); out.append(stats.flagged)
            out.append(",\"alerts_suppressed\":"); out.append(stats.alertsSuppressed)
            out.append(ascii: "}")
        }
    }
}
