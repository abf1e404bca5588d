import Decode

/// The client a reverse proxy's forward-auth subrequest (`GET /v1/auth`) asks about, read from
/// the headers the proxy sets: its address (the last element of a list, the one the nearest
/// proxy added, in the header's last line when it came more than once; an IPv4-mapped IPv6
/// address as its IPv4 address), its port when given, and the request headers a verdict uses. Apart from the
/// HTTP server, so that any header bytes can be fuzzed (Fuzz/AuthHeaders).
public struct ForwardAuthRequest: Sendable {
    public var address: IPAddress
    public var port: UInt16?
    public var head: HTTPRequestHead

    /// Which header is unusable.
    public enum Problem: Error, Equatable {
        case address, port
    }

    /// `fields`: the subrequest's headers in order, names in any case. The address header is no
    /// sign of a proxy in front of the client: the proxy set it.
    public static func read(
        _ fields: [(name: String, value: String)], addressHeader: String, portHeader: String, userAgentHeader: String
    ) -> Result<ForwardAuthRequest, Problem> {
        func value(_ name: String) -> String? { fields.first { $0.name.lowercased() == name.lowercased() }?.value }
        func trimmed(_ text: Substring) -> String {
            String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        }
        guard let listed = fields.last(where: { $0.name.lowercased() == addressHeader.lowercased() })?.value,
            let last = listed.split(separator: ",", omittingEmptySubsequences: false).last,
            let address = IPAddress(trimmed(last))?.unmapped
        else { return .failure(.address) }
        var port: UInt16?
        if let text = value(portHeader) {
            guard let number = UInt16(trimmed(Substring(text))) else { return .failure(.port) }
            port = number
        }
        var head = HTTPRequestHead(method: "")
        let own = addressHeader.lowercased()
        for field in fields where field.name.lowercased() != own { head.take(header: field.name, value: field.value) }
        head.userAgent = value(userAgentHeader)
        return .success(ForwardAuthRequest(address: address, port: port, head: head))
    }
}
