import Decode
import Match

/// A TCP connection, oriented from the client (the SYN's sender).
public struct FlowKey: Hashable, Sendable {
    public var client: IPAddress
    public var server: IPAddress
    public var clientPort: UInt16
    public var serverPort: UInt16

    public init(client: IPAddress, clientPort: UInt16, server: IPAddress, serverPort: UInt16) {
        self.client = client
        self.server = server
        self.clientPort = clientPort
        self.serverPort = serverPort
    }

    /// The connection with its lower endpoint first: the same key for segments either way.
    public var unordered: FlowKey {
        let clientFirst =
            (client.high, client.low, clientPort, client.isV6 ? 1 : 0) < (server.high, server.low, serverPort, server.isV6 ? 1 : 0)
        return clientFirst ? self : FlowKey(client: server, clientPort: serverPort, server: client, serverPort: clientPort)
    }

    /// Three words instead of eight fields (every client segment is looked up by its key).
    /// For IPv4 the first word holds both addresses whole.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(client.low ^ (server.low << 32 | server.low >> 32))
        hasher.combine(client.high ^ (server.high << 32 | server.high >> 32))
        hasher.combine(UInt64(clientPort) << 16 | UInt64(serverPort) | (client.isV6 ? 1 << 32 : 0) | (server.isV6 ? 1 << 33 : 0))
    }

    /// The tables' hash (see `IPAddress._rawHashValue(seed:)`): both addresses and the ports,
    /// each word mixed after the secret seed.
    @inlinable
    public func _rawHashValue(seed: Int) -> Int {
        let ports = UInt64(clientPort) << 16 | UInt64(serverPort)
        var x = TableHash.mix(UInt64(bitPattern: Int64(seed)) ^ ports)
        if client.isV6 || server.isV6 {
            x = TableHash.mix(x ^ client.high ^ (client.isV6 ? 1 << 32 : 0))
            x = TableHash.mix(x ^ client.low)
            x = TableHash.mix(x ^ server.high ^ (server.isV6 ? 1 << 33 : 0))
            return Int(bitPattern: UInt(TableHash.mix(x ^ server.low)))
        }
        // IPv4: both addresses in one word.
        return Int(bitPattern: UInt(TableHash.mix(x ^ (client.low << 32 | server.low))))
    }

    /// The key of a segment sent by the client (`fromClient` false: by the server).
    public init(_ segment: TCPSegment, fromClient: Bool = true) {
        if fromClient {
            self.init(
                client: segment.ip.source, clientPort: segment.sourcePort,
                server: segment.ip.destination, serverPort: segment.destinationPort)
        } else {
            self.init(
                client: segment.ip.destination, clientPort: segment.destinationPort,
                server: segment.ip.source, serverPort: segment.sourcePort)
        }
    }
}

extension TCPSegment {
    /// Whether the sender is the client by the ports alone, for a connection whose SYN was not
    /// seen: the endpoint with the higher port (the ephemeral one); on equal ports, the lower
    /// address. The workers split by it and the flow statistics count by it.
    @inlinable
    public var fromHigherPort: Bool {
        sourcePort != destinationPort
            ? sourcePort > destinationPort : (ip.source.high, ip.source.low) < (ip.destination.high, ip.destination.low)
    }
}

extension SynObservation {
    /// The connection this client SYN opens.
    public var key: FlowKey { FlowKey(fingerprint.segment) }
}
