import Decode
import Formatting
import Tables
import Verdict

/// The field names of JSON events: synprint's own, Elastic Common Schema, or Suricata's EVE.
/// ECS and EVE wrap the native object in `synprint` and add their own names for what they share
/// (docs/OUTPUT.md has the mapping).
public enum EventSchema: String, Sendable, CaseIterable {
    case native
    case ecs
    case eve
}

/// What every event carries beyond its own fields: the sensor's name and the schema.
public struct EventLabels: Sendable {
    public let sensor: String
    public let schema: EventSchema
    /// The sensor's name as a quoted JSON string, escaped once.
    let sensorJSON: String

    public init(sensor: String, schema: EventSchema = .native) {
        self.sensor = sensor
        self.schema = schema
        let buffer = TextBuffer(capacity: sensor.utf8.count + 8)
        buffer.appendJSONString(sensor)
        sensorJSON = buffer.string
    }

    /// `"community_id":"1:…","sensor":"…"`, for the native object.
    func appendCommon(_ segment: TCPSegment, to out: TextBuffer) { appendCommon(FlowKey(segment), to: out) }

    /// The same for a flow, from its first packet's sender to its receiver.
    func appendCommon(_ flow: FlowKey, to out: TextBuffer) {
        out.append(",\"community_id\":\"")
        CommunityID.append(
            source: flow.client, sourcePort: flow.clientPort, destination: flow.server, destinationPort: flow.serverPort, to: out)
        out.append("\",\"sensor\":"); out.append(string: sensorJSON)
    }

    /// An event of `type` in the chosen schema, around its native object (written by `native`
    /// into `scratch`, without its line break); without a `flow` (the stats event), no network fields.
    func write(
        type: StaticString, kind: StaticString, seconds: Int, microseconds: Int, flow: FlowKey?, userAgent: String? = nil,
        method: String? = nil, scratch: TextBuffer, to out: TextBuffer, native: (TextBuffer) -> Void
    ) {
        guard schema != .native else {
            native(out)
            out.append(ascii: "\n")
            return
        }
        scratch.removeAll()
        native(scratch)
        switch schema {
        case .native:
            break
        case .eve:
            out.append("{\"timestamp\":\""); out.appendTimestamp(seconds: seconds, microseconds: microseconds)
            out.append("\",\"event_type\":\""); out.append(type)
            if let flow {
                out.append("\",\"src_ip\":\""); out.append(ip: flow.client)
                out.append("\",\"src_port\":"); out.append(flow.clientPort)
                out.append(",\"dest_ip\":\""); out.append(ip: flow.server)
                out.append("\",\"dest_port\":"); out.append(flow.serverPort)
                out.append(",\"proto\":\"TCP\",\"community_id\":\"")
                CommunityID.append(
                    source: flow.client, sourcePort: flow.clientPort, destination: flow.server, destinationPort: flow.serverPort, to: out)
            }
            out.append("\",\"host\":"); out.append(string: sensorJSON)
        case .ecs:
            out.append("{\"@timestamp\":\""); out.appendTimestamp(seconds: seconds, microseconds: microseconds)
            out.append("\",\"event\":{\"kind\":\""); out.append(kind)
            if flow != nil { out.append("\",\"category\":[\"network\"],\"type\":[\"connection\"]") } else { out.append(ascii: "\"") }
            out.append(",\"module\":\"synprint\",\"dataset\":\"synprint.")
            out.append(type)
            out.append("\"},\"observer\":{\"name\":"); out.append(string: sensorJSON);
            out.append(",\"type\":\"sensor\",\"vendor\":\"synprint\"}")
            if let flow {
                out.append(",\"source\":{\"ip\":\""); out.append(ip: flow.client)
                out.append("\",\"port\":"); out.append(flow.clientPort)
                out.append("},\"destination\":{\"ip\":\""); out.append(ip: flow.server)
                out.append("\",\"port\":"); out.append(flow.serverPort)
                out.append("},\"network\":{\"transport\":\"tcp\",\"type\":\""); out.append(!flow.client.isV6 ? "ipv4" : "ipv6")
                out.append("\",\"community_id\":\"")
                CommunityID.append(
                    source: flow.client, sourcePort: flow.clientPort, destination: flow.server, destinationPort: flow.serverPort, to: out)
                out.append("\"}")
            }
            if let userAgent { out.append(",\"user_agent\":{\"original\":"); out.appendJSONString(userAgent); out.append(ascii: "}") }
            if let method, !method.isEmpty {
                out.append(",\"http\":{\"request\":{\"method\":"); out.appendJSONString(method); out.append("}}")
            }
        }
        out.append(",\"synprint\":")
        out.append(scratch)
        out.append("}\n")
    }
}
