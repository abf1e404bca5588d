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
