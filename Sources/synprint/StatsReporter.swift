import Capture
import SynprintKit

/// `--stats-interval`: a line on standard error every so often with what was read and, for a
/// live capture, what the kernel dropped since the last line, so drops show while it runs;
/// with `--stats-events` the same counts go into the JSON event output too.
struct StatsReporter {
    let interval: Double
    let events: Bool
    private var last = monotonicSeconds()
    private var lastPackets = 0
    private var lastDropped: UInt32 = 0

    init(interval: Int, events: Bool) {
        self.interval = Double(max(interval, 0))
        self.events = events
    }

    mutating func tick(_ sensor: Sensor, _ source: PacketSource) {
        tick(sensor, live: source.statistics())
    }

    /// `live`: libpcap's counts of a live capture (added up over a fanout group's captures).
    mutating func tick(_ sensor: Sensor, live: CaptureStatistics?) {
        guard interval > 0 else { return }
        let now = monotonicSeconds()
        guard now - last >= interval else { return }
        let c = sensor.counters
        var line =
            "synprint: stats: \(c.packets) packets (\(Int(Double(c.packets - lastPackets) / (now - last))) per second), \(c.syn) SYN, \(c.synAck) SYN+ACK"
        if let live {
            let dropped = live.dropped &+ live.interfaceDropped
            line += "; libpcap received \(live.received), dropped \(live.dropped), interface dropped \(live.interfaceDropped)"
            if dropped != lastDropped { line += " (\(dropped &- lastDropped) dropped since the last line: raise --buffer-size)" }
            lastDropped = dropped
        }
        printError(line)
        if events { sensor.sendStatus() }
        last = now
        lastPackets = c.packets
    }
}

extension CaptureStatistics {
    /// libpcap's counters as the sensor's status keeps them.
    var counts: (received: UInt64, dropped: UInt64, interfaceDropped: UInt64) {
        (UInt64(received), UInt64(dropped), UInt64(interfaceDropped))
    }
}
