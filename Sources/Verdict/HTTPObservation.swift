import FlowStats
import Match

/// The first HTTP request of a tracked connection, with the SYN that opened it.
public struct HTTPObservation: Sendable {
    public var seconds: Int
    public var microseconds: Int
    public var syn: SynObservation
    public var request: HTTPRequestHead

    public init(seconds: Int, microseconds: Int, syn: SynObservation, request: HTTPRequestHead) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.syn = syn
        self.request = request
    }
}

/// The ClientHello a tracked connection began with, the SYN that opened it, and the TLS library
/// it points to (`TLSStacks`; nil without the table).
public struct TLSObservation: Sendable {
    public var seconds: Int
    public var microseconds: Int
    public var syn: SynObservation
    public var hello: ClientHello
    public var client: TLSClient?

    public init(seconds: Int, microseconds: Int, syn: SynObservation, hello: ClientHello, client: TLSClient?) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.syn = syn
        self.hello = hello
        self.client = client
    }
}

extension TLSStacks {
    /// The library of a hello read whole; nil for one cut short (its structure is not all there).
    public func classify(_ hello: ClientHello) -> TLSClient? {
        guard hello.complete else { return nil }
        return classify(
            ciphers: hello.ciphers, extensions: hello.extensions, groups: hello.groups, grease: hello.grease, protocols: hello.protocols)
    }
}
