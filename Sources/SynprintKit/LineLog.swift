import Formatting

/// An append-only file of JSON lines (the alert log, the --learn observations): each line is
/// written at once, whole. SIGHUP reopens the path, so logrotate's rename-and-signal works. The
/// output thread and the API threads both write; `OutputFile` locks.
public final class LineLog: Sendable {
    public let file: OutputFile

    /// `-` is standard output.
    public init(path: String, header: String? = nil) throws {
        file = path == "-" ? OutputFile() : try OutputFile(path: path, mode: .append, header: header)
    }

    public func write(_ line: TextBuffer) {
        line.withBytes { file.write($0) }
    }

    public func write(_ line: String) {
        file.write(line)
    }
}
