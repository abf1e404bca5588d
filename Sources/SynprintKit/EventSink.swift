import Formatting

/// The event output (`-o` or standard output), buffered: events are formatted straight into
/// `buffer`, written in 64 KiB blocks of whole lines, and whenever the output thread has
/// nothing queued (so a live capture's reader sees each event at once).
public final class EventSink {
    public let file: OutputFile
    private let pending = TextBuffer(capacity: 1 << 17)

    public init(file: OutputFile) {
        self.file = file
    }

    deinit { flush() }

    /// Events are formatted straight into this buffer; call `commit()` after each one.
    public var buffer: TextBuffer { pending }

    public func commit() {
        if pending.count >= 1 << 16 { flush() }
    }

    public func flush() {
        guard !pending.isEmpty else { return }
        pending.withBytes { file.write($0) }
        pending.removeAll()
    }
}
