import Connections
import Decode
import Match
import SynprintKit
import Verdict

/// The sensor's counters as metric values, from the snapshots the capture and output threads
/// publish (docs/OPERATIONS.md lists them).
public func sensorMetrics(_ sensor: SensorMonitor, _ log: EventLog, _ limiter: AlertLimiter, _ outputs: [OutputFile]) -> [MetricValue] {
    let status = sensor.captureStatus
    let c = status.counters
    let seen = log.summary.snapshot
    var values: [MetricValue] = [
        MetricValue("synprint_packets", Double(c.packets), .counter, help: "Packets read (that passed the SYN filter)"),
        MetricValue(
            "synprint_fingerprinted", Double(c.syn), .counter, labels: [("packet", "syn")], help: "SYNs and SYN+ACKs fingerprinted"),
        MetricValue(
            "synprint_fingerprinted", Double(c.synAck), .counter, labels: [("packet", "synack")], help: "SYNs and SYN+ACKs fingerprinted"),
        MetricValue("synprint_events_written", Double(seen.events), .counter, help: "Events written to the event output"),
        MetricValue("synprint_alerts", Double(log.alertsWritten), .counter, help: "Alert lines written"),
        MetricValue("synprint_alerts_suppressed", Double(limiter.suppressed), .counter, help: "Alerts held back by the rate limits"),
        MetricValue("synprint_requests_judged", Double(seen.requests), .counter, help: "HTTP requests judged"),
        MetricValue("synprint_requests_flagged", Double(seen.flagged), .counter, help: "HTTP requests flagged"),
        MetricValue("synprint_tunnel_paths", Double(seen.tunnels), .counter, help: "Client SYNs over a tunnel MTU"),
        MetricValue("synprint_clamped_paths", Double(seen.clamped), .counter, help: "Client SYNs whose MSS a middlebox lowered"),
    ]
    for reason in SkipReason.allCases {
        values.append(
            MetricValue(
                "synprint_skipped", Double(c.skipped[reason.rawValue]), .counter, labels: [("reason", reason.name)],
                help: "Packets passed over, by reason"))
    }
    for reason in MalformedReason.allCases {
        values.append(
            MetricValue(
                "synprint_malformed", Double(c.malformed[reason.rawValue]), .counter, labels: [("reason", reason.name)],
                help: "Packets that could not be decoded, by reason"))
    }
    for (index, worker) in status.workers.enumerated() {
        let label = [("worker", "\(index)")]
        values.append(
            MetricValue(
                "synprint_worker_packets", Double(worker.packets), .counter, labels: label, help: "Packets a worker took (--workers)"))
        values.append(
            MetricValue(
                "synprint_worker_table_entries", Double(worker.tableEntries), .gauge, labels: label,
                help: "Entries in a worker's connection and flow tables"))
        values.append(
            MetricValue(
                "synprint_worker_evicted", Double(worker.evicted), .counter, labels: label,
                help: "Entries a worker's full tables pushed out"))
        if let dropped = worker.libpcapDropped {
            values.append(
                MetricValue(
                    "synprint_worker_libpcap_dropped", Double(dropped), .gauge, labels: label,
                    help: "libpcap: packets a worker's own capture dropped (kernel and interface)"))
        }
    }
    if let pcap = status.libpcap {
        values.append(MetricValue("synprint_libpcap_received", Double(pcap.received), .gauge, help: "libpcap: packets received"))
        values.append(
            MetricValue("synprint_libpcap_dropped", Double(pcap.dropped), .gauge, help: "libpcap: packets dropped for want of buffer"))
        values.append(
            MetricValue(
                "synprint_libpcap_interface_dropped", Double(pcap.interfaceDropped), .gauge, help: "libpcap: packets the interface dropped")
        )
    }
    for osClass in OSClass.allCases {
        values.append(
            MetricValue(
                "synprint_os", Double(seen.clientClasses[osClass.rawValue]), .counter,
                labels: [("class", osClass.name), ("packet", "syn")], help: "Fingerprints by OS class"))
        values.append(
            MetricValue(
                "synprint_os", Double(seen.serverClasses[osClass.rawValue]), .counter,
                labels: [("class", osClass.name), ("packet", "synack")], help: "Fingerprints by OS class"))
    }
    for (index, reason) in VerdictReason.allCases.enumerated() {
        values.append(
            MetricValue(
                "synprint_verdict_reasons", Double(seen.reasons[index]), .counter, labels: [("reason", reason.rawValue)],
                help: "Verdict reasons given"))
    }
    let links = sensor.database?.links ?? []
    for (index, n) in seen.links.enumerated() where n > 0 {
        let name = index < links.count ? String(links[index].mtu) : index == links.count ? "unlisted" : "none"
        values.append(MetricValue("synprint_links", Double(n), .counter, labels: [("mtu", name)], help: "Client SYNs by link MTU"))
    }
    if let tracker = status.tracker {
        values.append(
            MetricValue(
                "synprint_connections_followed", Double(status.awaitingRequest), .gauge,
                help: "Connections waiting for their first request"))
        values.append(
            MetricValue(
                "synprint_request_head_bytes", Double(status.bufferedHeadBytes), .gauge, help: "Bytes of unfinished request heads held"))
        values.append(
            MetricValue("synprint_connection_evictions", Double(tracker.evicted), .counter, help: "Connections pushed out while waiting"))
        values.append(
            MetricValue(
                "synprint_connections_over_budget", Double(tracker.overBudget), .counter,
                help: "Connections dropped at the request-head budget"))
        values.append(
            MetricValue("synprint_tls_hellos", Double(tracker.hellos), .counter, help: "TLS ClientHellos read from followed connections"))
    }
    if let connections = status.connections {
        values.append(
            MetricValue("synprint_connections_open", Double(connections.following), .gauge, help: "Connections followed to their end now"))
        values.append(
            MetricValue(
                "synprint_connection_records_evicted", Double(connections.evictedOpening), .counter, labels: [("table", "opening")],
                help: "Connection records pushed out of a full table"))
        values.append(
            MetricValue(
                "synprint_connection_records_evicted", Double(connections.evictedConnected), .counter, labels: [("table", "connected")],
                help: "Connection records pushed out of a full table"))
        for (index, stage) in ConnectionStage.allCases.enumerated() {
            values.append(
                MetricValue(
                    "synprint_connections_ended", Double(seen.stages[index]), .counter, labels: [("stage", stage.rawValue)],
                    help: "Connections ended, by stage"))
        }
        for (index, named) in ConnectionTags.named.enumerated() {
            values.append(
                MetricValue(
                    "synprint_connection_tags", Double(seen.tags[index]), .counter, labels: [("tag", named.1)],
                    help: "Ended connections by tag"))
        }
    }
    if let flow = status.flowStats {
        values.append(
            MetricValue("synprint_flow_clients", Double(flow.clients), .gauge, help: "Clients with an open flow-statistics window"))
        values.append(MetricValue("synprint_flow_windows", Double(flow.windows), .counter, help: "Flow-statistics windows closed"))
        values.append(
            MetricValue(
                "synprint_flow_evicted", Double(flow.clientsEvicted), .counter, labels: [("table", "clients")],
                help: "Clients or connections pushed out of a full flow-statistics table"))
        values.append(
            MetricValue(
                "synprint_flow_evicted", Double(flow.connectionsEvicted), .counter, labels: [("table", "connections")],
                help: "Clients or connections pushed out of a full flow-statistics table"))
        values.append(
            MetricValue(
                "synprint_flow_hellos_unread", Double(flow.hellosUnread), .counter,
                help: "ClientHellos over several segments not read whole (a gap, the snaplen, the budget, an eviction)"))
    }
    if let hosts = sensor.judge?.hosts {
        let evictions = hosts.evictions
        values.append(MetricValue("synprint_hosts", Double(hosts.count), .gauge, help: "Client addresses in the host table"))
        values.append(MetricValue("synprint_host_evictions", Double(evictions.total), .counter, help: "Hosts pushed out of the host table"))
        values.append(
            MetricValue(
                "synprint_host_evictions_with_evidence", Double(evictions.withEvidence), .counter,
                help: "Hosts with a handshake or request pushed out"))
    }
    for file in outputs {
        let state = file.state
        values.append(
            MetricValue(
                "synprint_write_errors", Double(state.failures), .counter, labels: [("output", file.path)], help: "Failed writes per output"
            ))
    }
    return values
}
