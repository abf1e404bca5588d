/// Which half of the handshake a fingerprint describes.
public enum Direction: Sendable, Hashable {
    case syn  // client → server: describes the client's stack
    case synAck  // server → client: describes the server's stack
}
