import Features
#if canImport(Glibc)
import Glibc
#endif

/// Buffered writes to a file descriptor, in 64 KiB blocks and whenever the output thread has
/// nothing queued (so a live capture's reader sees each event at once).
final class OutputSink {
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private var pending = TextBuffer(capacity: 1 << 17)

    /// Standard output.
    init() {
        descriptor = STDOUT_FILENO
        ownsDescriptor = false
    }

    init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SinkError("cannot write \(path): \(String(cString: strerror(errno)))") }
        descriptor = fd
        ownsDescriptor = true
    }

    deinit {
        flush()
        if ownsDescriptor { close(descriptor) }
    }

    /// Events are formatted straight into this buffer; call `commit()` after each one.
    var buffer: TextBuffer { pending }

    func commit() {
        if pending.count >= 1 << 16 { flush() }
    }

    func flush() {
        pending.withBytes { writeAll(descriptor, $0) }
        pending.removeAll()
    }
}

/// Writes every byte, retrying after signals; a failing descriptor drops the rest.
func writeAll(_ descriptor: Int32, _ raw: UnsafeRawBufferPointer) {
    var offset = 0
    while offset < raw.count {
        let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += written
    }
}

struct SinkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
