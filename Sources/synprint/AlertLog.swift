import Capture
import Features
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The alert file: one JSON line per flagged connection, appended and written at once (never
/// buffered, never truncated). SIGHUP reopens the path, so logrotate's rename-and-signal works.
/// The capture loop and the API threads both write, so lines go out under a lock.
final class AlertLog: Sendable {
    private let path: String?          // nil: standard output
    private let descriptor: Mutex<Int32>

    init(path: String) throws {
        if path == "-" {
            self.path = nil
            descriptor = Mutex(STDOUT_FILENO)
        } else {
            self.path = path
            descriptor = Mutex(try AlertLog.open(path))
        }
        ReopenSignal.install()
    }

    deinit {
        descriptor.withLock { if path != nil { close($0) } }
    }

    static func open(_ path: String) throws -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SinkError("cannot append to the alert file \(path): \(String(cString: strerror(errno)))") }
        return fd
    }

    /// Writes one complete line.
    func write(_ line: TextBuffer) {
        line.withBytes { write($0) }
    }

    func write(_ line: String) {
        var line = line
        line.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    private func write(_ bytes: UnsafeRawBufferPointer) {
        descriptor.withLock { fd in
            if ReopenSignal.take(), let path {
                do {
                    let reopened = try AlertLog.open(path)
                    close(fd)
                    fd = reopened
                } catch {
                    printError("\(error); alerts go on to the file already open")
                }
            }
            writeAll(fd, bytes)
        }
    }
}
