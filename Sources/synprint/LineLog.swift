import Capture
import Features
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An append-only file of JSON lines (the alert log, the --learn observations): each line is
/// written at once (never buffered, never truncated). SIGHUP reopens the path, so logrotate's
/// rename-and-signal works. The capture loop and the API threads both write, under a lock.
final class LineLog: Sendable {
    private let path: String?          // nil: standard output
    private let descriptor: Mutex<Int32>

    /// `header` starts every new or empty file (the database header of an observation file).
    let header: String?

    init(path: String, header: String? = nil) throws {
        self.header = header
        if path == "-" {
            self.path = nil
            descriptor = Mutex(STDOUT_FILENO)
        } else {
            self.path = path
            descriptor = Mutex(try LineLog.open(path, header: header))
        }
        ReopenSignal.install()
    }

    deinit {
        descriptor.withLock { if path != nil { close($0) } }
    }

    static func open(_ path: String, header: String?) throws -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SinkError("cannot append to \(path): \(String(cString: strerror(errno)))") }
        if var header, lseek(fd, 0, SEEK_END) == 0 {
            header += "\n"
            header.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
        }
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
                    let reopened = try LineLog.open(path, header: header)
                    close(fd)
                    fd = reopened
                } catch {
                    printError("\(error); lines go on to the file already open")
                }
            }
            writeAll(fd, bytes)
        }
    }
}
