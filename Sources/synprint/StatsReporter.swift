import Capture
import SynprintKit

/// `--stats-interval`: a line on standard error every so often with what was read and, for a
/// live capture, what the kernel dropped since the last line, so drops show while it runs.
struct StatsReporter {
    let interval: Double
    private var last = monotonicSeconds()
    private var lastPackets = 0
    private var lastDropped: UInt32 = 0

    init(interval: Int) {
        self.interval = Double(max(interval, 0))
    }

    mutating func started(_ source: PacketSource) {
        last = monotonicSeconds()
    }

    mutating func tick(_ sensor: Sensor, _ source: PacketSource) {
        guard interval > 0 else { return }
        let now = monotonicSeconds()
        guard now - last >= interval else { return }
        let c = sensor.counters
        var line =
            "synprint: stats: \(c.packets) packets (\(Int(Double(c.packets - lastPackets) / (now - last))) per second), \(c.syn) SYN, \(c.synAck) SYN+ACK"
        if let live = source.statistics() {
            let dropped = live.dropped &+ live.interfaceDropped
            line += "; libpcap received \(live.received), dropped \(live.dropped), interface dropped \(live.interfaceDropped)"
            if dropped != lastDropped { line += " (\(dropped &- lastDropped) dropped since the last line: raise --buffer-size)" }
            lastDropped = dropped
        }
        printError(line)
        last = now
        lastPackets = c.packets
    }
}
