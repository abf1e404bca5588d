import Formatting

/// The event output (`-o`, given once or more, or standard output), buffered: events are
/// formatted once, straight into `buffer`, and the same bytes written to every file in 64 KiB
/// blocks of whole lines, and whenever the output thread has nothing queued (so a live
/// capture's reader sees each event at once). Each file counts its own write errors.
public final class EventSink {
    public let files: [OutputFile]
    private let pending = TextBuffer(capacity: 1 << 17)

    public init(files: [OutputFile]) {
        precondition(!files.isEmpty, "an event sink writes to at least one file")
        self.files = files
    }

    public convenience init(file: OutputFile) {
        self.init(files: [file])
    }

    deinit { flush() }

    /// Events are formatted straight into this buffer; call `commit()` after each one.
    public var buffer: TextBuffer { pending }

    public func commit() {
        if pending.count >= 1 << 16 { flush() }
    }

    public func flush() {
        guard !pending.isEmpty else { return }
        pending.withBytes { bytes in
            for file in files { file.write(bytes) }
        }
        pending.removeAll()
    }
}
